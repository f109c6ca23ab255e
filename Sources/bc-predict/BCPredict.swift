import ArgumentParser
import BuildInfo
import Foundation
import Images
import Serving

extension TestTimeAugmentation: ExpressibleByArgument {}
extension PredictionTable.Format: ExpressibleByArgument {}

/// `bc-predict --model best.h5 PATHS...`: P(malignant) and a label for every PNG in the given files and folders,
/// as CSV or JSON lines. Unreadable files get their error in their row; the batch goes on.
@main
struct BCPredict: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bc-predict",
        abstract: "Predict PNG patches with a bc-train checkpoint or Keras .h5 model.",
        discussion: """
            Exit status: 0 when every file was predicted, 2 when some could not be (their rows say why), \
            1 when nothing could run (e.g. an unreadable model).
            """,
        version: BuildInfo.describe(tool: "bc-predict"))

    @Option(help: "The model: a bc-train checkpoint or a Keras full-model .h5.") var model: String
    @Argument(help: "PNG files and folders (searched recursively for .png files).") var paths: [String]
    @Option(help: "Write the table here (atomically, when done) instead of standard output.") var output: String?
    @Option(help: "csv or jsonl (default: jsonl for a .jsonl/.json --output, else csv).") var format: PredictionTable.Format?
    @Option(help: "P(malignant) at or above which an image is labelled malignant.") var threshold = 0.5
    @Option(help: "Test-time augmentation: off, flips (4 views) or dihedral (8 views: flips and 90-degree rotations).")
    var tta: TestTimeAugmentation = .off
    @Option(help: "Predict each image from an N x N grid of overlapping crops (each 2/(N+1) of its width and height, resized to the model's input) and average them, instead of resizing the whole image.")
    var crops: Int?
    @Option(help: "Images per inference batch.") var batchSize = 32
    @Option(help: "oneDNN threads.") var threads = 1
    @Option(help: "Input preprocessing when the model file does not say (caffe, torch, none).") var preprocessing: String?
    @Option(help: ArgumentHelp("Write each image's Grad-CAM here: NAME.gradcam.png (the map of the class its row calls, over the image) and NAME.gradcam.npy (the map).",
                               valueName: "folder"))
    var heatmaps: String?
    @Option(help: "How much of a --heatmaps picture is the map's colour (0 to 1).") var heatmapOpacity = 0.4

    func validate() throws {
        guard (0...1).contains(threshold) else { throw ValidationError("--threshold must be between 0 and 1") }
        guard threads >= 1, batchSize >= 1 else { throw ValidationError("--threads and --batch-size must be at least 1") }
        guard (0...1).contains(heatmapOpacity) else { throw ValidationError("--heatmap-opacity must be between 0 and 1") }
        if let crops, CropGrid(side: crops) == nil { throw ValidationError("--crops must be 2 to 16 (crops per side), got \(crops)") }
        if let preprocessing, Preprocessing(rawValue: preprocessing) == nil {
            throw ValidationError("--preprocessing must be caffe, torch or none")
        }
        // Checked before predicting, so that a long run is not lost to a folder that cannot take its table.
        if let output {
            let folder = URL(fileURLWithPath: output).deletingLastPathComponent().path
            guard FileManager.default.isWritableFile(atPath: folder) else {
                throw ValidationError("--output \(output): the folder \(folder) does not exist or is not writable")
            }
        }
    }

    func run() throws {
        let predictor: Predictor
        do {
            predictor = try Predictor(modelPath: model, threads: threads, preprocessing: preprocessing.flatMap(Preprocessing.init(rawValue:)),
                                      testTimeAugmentation: tta, crops: crops.flatMap(CropGrid.init(side:)))
        } catch {
            FileHandle.standardError.write(Data("bc-predict: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        if let warning = predictor.cropScaleWarning { FileHandle.standardError.write(Data("bc-predict: warning: \(warning)\n".utf8)) }
        if let calibration = predictor.calibration {
            FileHandle.standardError.write(Data(String(format: "bc-predict: probabilities rescaled by temperature %.4f from %@\n",
                                                       calibration.temperature, ModelCalibration.path(besideModel: model)).utf8))
        }
        let positive = predictor.positiveClass
        let table = PredictionTable(classNames: predictor.classNames, positiveClass: positive, threshold: threshold,
                                    modelID: predictor.modelID, includesSpread: tta != .off, includesHeatmap: heatmaps != nil)
        let writesJSONFile = output.map { path in [".jsonl", ".json"].contains { path.lowercased().hasSuffix($0) } } ?? false
        let chosenFormat = format ?? (writesJSONFile ? .jsonl : .csv)
        let inputs = FilePrediction.inputs(paths)
        var prediction = FilePrediction(predictor: predictor)
        prediction.batchSize = batchSize
        if let heatmaps {
            prediction.heatmaps = (try heatmapFolder(heatmaps, predictor), table.labelIndex)
        }
        var progress = PredictionProgress(total: inputs.count)
        var rows: [PredictionRow] = []
        if output == nil, chosenFormat == .csv { print(table.csvHeader) }
        try prediction.run(inputs) { batch in
            rows += batch
            if output == nil { for row in batch { print(chosenFormat == .csv ? table.csvLine(row) : table.jsonLine(row)) } }
            progress.advance(by: batch.count)
        }
        if let output {
            try table.document(rows, format: chosenFormat).write(toFile: output, atomically: true, encoding: .utf8)
        }
        let failed = rows.filter { $0.error != nil }.count
        progress.finish(summary: "\(rows.count - failed) of \(rows.count) predicted" + (failed > 0 ? ", \(failed) with an error (see the error column)" : "")
                        + (output.map { " -> \($0)" } ?? ""))
        if failed > 0 { throw ExitCode(2) }
    }

    /// The --heatmaps folder, created if needed, once the model is known to have a layer Grad-CAM can weight.
    private func heatmapFolder(_ path: String, _ predictor: Predictor) throws -> HeatmapFolder {
        guard let layer = predictor.classActivationLayer else {
            FileHandle.standardError.write(Data(("bc-predict: error: --heatmaps: \(model) has no layer with a height and width "
                + "followed by softmax class scores, which Grad-CAM needs\n").utf8))
            throw ExitCode(1)
        }
        let folder = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            FileHandle.standardError.write(Data("bc-predict: error: --heatmaps \(path): cannot create the folder (\(error.localizedDescription))\n".utf8))
            throw ExitCode(1)
        }
        guard FileManager.default.isWritableFile(atPath: folder.path) else {
            FileHandle.standardError.write(Data("bc-predict: error: --heatmaps \(path): the folder is not writable\n".utf8))
            throw ExitCode(1)
        }
        FileHandle.standardError.write(Data("bc-predict: Grad-CAM of layer \(layer) -> \(path)\n".utf8))
        return HeatmapFolder(folder: folder, opacity: heatmapOpacity)
    }
}
