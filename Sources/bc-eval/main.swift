import ArgumentParser
import BuildInfo
import Foundation
import Images
import Serving

/// `bc-eval --model best.h5 --data DATA [--split test] [--calibrate]`: accuracy, precision, recall, specificity, F1,
/// ROC/AUC, confusion matrix, patient-level accuracy, per-magnification results and calibration (Brier, ECE,
/// reliability diagram; before and after temperature scaling), in the terminal and as files.
extension TestTimeAugmentation: ExpressibleByArgument {}

@main
struct BCEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bc-eval",
        abstract: "Evaluate a bc-train checkpoint or Keras .h5 model on a labelled dataset.",
        version: BuildInfo.describe(tool: "bc-eval"))

    @Option(help: "The model: a bc-train checkpoint or a Keras full-model .h5.") var model: String
    @Option(help: "The dataset folder (class folders, split folders or the BreakHis tree).") var data: String
    @Option(help: "Evaluate only this part of the training run's split (split.json beside the model), e.g. test.")
    var split: String?
    @Option(help: "P(malignant) at or above which an image is called malignant.") var threshold = 0.5
    @Option(help: "Folder for metrics.json, predictions.csv and report.html (default: beside the model).") var output: String?
    @Option(help: "oneDNN threads.") var threads = 1
    @Option(help: "Input preprocessing when the model file does not say (caffe, torch, none).") var preprocessing: String?
    @Option(help: "Test-time augmentation: off, flips (4 views) or dihedral (8 views: flips and 90-degree rotations).")
    var tta: TestTimeAugmentation = .off
    @Option(help: "Predict each image from an N x N grid of overlapping crops (each 2/(N+1) of its width and height, resized to the model's input) and average them, instead of resizing the whole image.")
    var crops: Int?
    @Flag(help: "Fit temperature scaling on the run's validation part and keep it beside the model (best.calibration.json), where bc-predict, bc-serve and later evaluations apply it (a tuned --threshold then applies to the rescaled probabilities).")
    var calibrate = false

    func validate() throws {
        guard (0...1).contains(threshold) else { throw ValidationError("--threshold must be between 0 and 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        if let crops, CropGrid(side: crops) == nil { throw ValidationError("--crops must be 2 to 16 (crops per side), got \(crops)") }
        if let preprocessing, Preprocessing(rawValue: preprocessing) == nil {
            throw ValidationError("--preprocessing must be caffe, torch or none")
        }
    }

    func run() throws {
        let folder = output.map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: model).deletingLastPathComponent().appendingPathComponent("evaluation" + (split.map { "-\($0)" } ?? ""))
        var evaluation = EvaluationRun(modelPath: model, dataPath: data, split: split, outputDirectory: folder)
        (evaluation.threshold, evaluation.threads) = (threshold, threads)
        evaluation.preprocessing = preprocessing.flatMap(Preprocessing.init(rawValue:))
        evaluation.testTimeAugmentation = tta
        evaluation.crops = crops.flatMap(CropGrid.init(side:))
        evaluation.calibrate = calibrate
        do {
            let report = try evaluation.run()
            if let warning = evaluation.cropScaleWarning { FileHandle.standardError.write(Data("bc-eval: warning: \(warning)\n".utf8)) }
            if let fitted = evaluation.fittedCalibration {
                print(String(format: "temperature %.4f fitted on the %@: validation NLL %.4f -> %.4f; wrote %@\n", fitted.temperature,
                             fitted.fittedOn, fitted.negativeLogLikelihoodBefore, fitted.negativeLogLikelihoodAfter,
                             ModelCalibration.path(besideModel: model)))
                if fitted.reachedBound {
                    print(String(format: "warning: the temperature stopped at the end of its range (%.2f): the validation images are "
                                 + "separated perfectly or not at all, so this confidence will hardly hold elsewhere; fit on a "
                                 + "larger validation part\n", fitted.temperature))
                }
            }
            print(report.terminalTable)
            print("\nwrote \(folder.path)/metrics.json, predictions.csv and report.html")
        } catch {
            FileHandle.standardError.write(Data("bc-eval: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
