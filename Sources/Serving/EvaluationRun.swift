import Datasets
import Evaluation
import Foundation
import Images

/// `bc-eval`: a model on a labelled dataset (or one part of the split its training run used), reported the way
/// the literature does, written as metrics.json, predictions.csv and a self-contained report.html.
public struct EvaluationRun {
    public var modelPath: String
    public var dataPath: String
    /// A part of the training run's split (`split.json` beside the model) or a pre-split dataset's folder;
    /// nil for every image.
    public var split: String?
    public var threshold = 0.5
    public var outputDirectory: URL
    public var threads = 1
    public var preprocessing: Preprocessing?
    public var testTimeAugmentation = TestTimeAugmentation.off
    /// Whole-image prediction from a grid of crops (`Predictor.crops`).
    public var crops: CropGrid?
    /// Fit a temperature on the run's validation part first and keep it beside the model (`ModelCalibration`).
    public var calibrate = false
    /// After `run`: the temperature fitted when `calibrate` was set.
    public private(set) var fittedCalibration: ModelCalibration?
    /// After `run`: `Predictor.cropScaleWarning`.
    public private(set) var cropScaleWarning: String?

    public init(modelPath: String, dataPath: String, split: String?, outputDirectory: URL) {
        (self.modelPath, self.dataPath, self.split, self.outputDirectory) = (modelPath, dataPath, split, outputDirectory)
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Evaluates with the model's own probabilities rescaled by its calibration (fitted now with `calibrate`, or
    /// found beside the model), as bc-predict and bc-serve output them; the report shows calibration before and after.
    public mutating func run() throws -> EvaluationReport {
        let predictor = try Predictor(modelPath: modelPath, threads: threads, preprocessing: preprocessing,
                                      testTimeAugmentation: testTimeAugmentation, crops: crops, calibrationUse: calibrate ? .ignore : .read)
        cropScaleWarning = predictor.cropScaleWarning
        let dataset = try Dataset(root: URL(fileURLWithPath: dataPath))
        guard dataset.classNames == predictor.classNames else {
            throw Failure(description: "\(dataPath) has classes \(dataset.classNames), the model \(predictor.classNames)")
        }
        var temperature = predictor.calibration?.temperature
        if calibrate {
            let fitted = try fitTemperature(predictor, on: try samples(of: "validation", in: dataset))
            try fitted.write(besideModel: modelPath)
            (fittedCalibration, temperature) = (fitted, fitted.temperature)
        }
        let predictions = try predict(try samples(of: split, in: dataset), with: predictor)
        let positive = predictor.positiveClass
        let report = EvaluationReport(predictions: predictions, classNames: predictor.classNames, positiveClass: positive,
                                      threshold: threshold, temperature: temperature)
        try write(report, temperature.map { temperature in predictions.map { $0.scaled(by: temperature) } } ?? predictions, predictor)
        return report
    }

    private func predict(_ samples: [Sample], with predictor: Predictor) throws -> [ImagePrediction] {
        var predictions: [ImagePrediction] = []
        for start in stride(from: 0, to: samples.count, by: 64) {
            let chunk = Array(samples[start..<min(start + 64, samples.count)])
            let images = try chunk.map { try PNGCodec.decode(contentsOf: URL(fileURLWithPath: $0.path)) }
            for (sample, probabilities) in zip(chunk, try predictor.predict(images)) {
                predictions.append(ImagePrediction(file: sample.path, actual: sample.label, probabilities: probabilities,
                                                   patient: sample.breakHis?.patient,
                                                   magnification: sample.breakHis?.magnification.rawValue))
            }
        }
        return predictions
    }

    /// Temperature scaling fitted on the validation images (with the test-time augmentation evaluated with).
    private func fitTemperature(_ predictor: Predictor, on samples: [Sample]) throws -> ModelCalibration {
        let validation = try predict(samples, with: predictor)
        let (probabilities, actual) = (validation.map(\.probabilities), validation.map { $0.actual! })
        let temperature = TemperatureScaling.fit(probabilities: probabilities, actual: actual)
        return ModelCalibration(
            temperature: temperature, model: predictor.modelID, testTimeAugmentation: testTimeAugmentation, crops: crops,
            fittedOn: "validation part, \(samples.count) images",
            negativeLogLikelihoodBefore: TemperatureScaling.negativeLogLikelihood(1, probabilities: probabilities, actual: actual),
            negativeLogLikelihoodAfter: TemperatureScaling.negativeLogLikelihood(temperature, probabilities: probabilities, actual: actual))
    }

    /// With a part name: that part of the training run's stored split (`split.json` beside the model), exactly the
    /// files the run assigned to it, even if the folder has gained images since; else a pre-split folder's part.
    private func samples(of split: String?, in dataset: Dataset) throws -> [Sample] {
        guard let split else { return dataset.samples }
        let recordURL = URL(fileURLWithPath: modelPath).deletingLastPathComponent().appendingPathComponent("split.json")
        if FileManager.default.fileExists(atPath: recordURL.path) {
            let record = try SplitRecord.read(recordURL)
            guard record.parts[split] != nil else {
                throw Failure(description: "\(recordURL.path) has no part '\(split)' (it has \(record.parts.keys.sorted().joined(separator: ", ")))")
            }
            let stored = try record.resolve(in: dataset, source: recordURL.path, dropMissing: true)
            if let gone = stored.missing[split] {
                throw SplitRecordError.missingFiles(recordURL.path, root: dataset.root.path, missing: [split: gone])
            }
            return stored.split.samples(split, of: dataset)!
        }
        if let part = try? dataset.predefinedSplit().samples(split, of: dataset) { return part }
        throw Failure(description: "no split.json beside \(modelPath) and \(dataPath) has no '\(split)' folder: "
                      + (split == "validation" ? "--calibrate needs validation images" : "omit --split to evaluate every image"))
    }

    private func write(_ report: EvaluationReport, _ predictions: [ImagePrediction], _ predictor: Predictor) throws {
        try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
        try report.jsonData().write(to: outputDirectory.appendingPathComponent("metrics.json"), options: .atomic)
        let table = PredictionTable(classNames: predictor.classNames, positiveClass: report.positiveClass, threshold: threshold,
                                    modelID: predictor.modelID, includesActual: true)
        let rows = predictions.map {
            PredictionRow(file: $0.file, actual: $0.actual.map { predictor.classNames[$0] }, probabilities: $0.probabilities)
        }
        try table.document(rows, format: .csv)
            .write(to: outputDirectory.appendingPathComponent("predictions.csv"), atomically: true, encoding: .utf8)
        let historyFile = URL(fileURLWithPath: modelPath).deletingLastPathComponent().appendingPathComponent("history.csv")
        let history = try (try? String(contentsOf: historyFile, encoding: .utf8)).map { try TrainingHistory(csv: $0, source: historyFile.path) }
        try report.html(title: "bc-train evaluation" + (split.map { " (\($0) split)" } ?? ""), model: modelPath, history: history,
                        errors: try errorExamples(predictions, report: report, predictor: predictor))
            .write(to: outputDirectory.appendingPathComponent("report.html"), atomically: true, encoding: .utf8)
    }

    /// The report's most confident errors (at most `errorGalleryLimit`), each with its Grad-CAM over it at most 320
    /// pixels wide; nil for a model without a layer Grad-CAM can weight.
    private func errorExamples(_ predictions: [ImagePrediction], report: EvaluationReport,
                               predictor: Predictor) throws -> (examples: [ErrorExample], layer: String)? {
        guard let layer = predictor.classActivationLayer else { return nil }  // no layer, or no softmax scores
        let errors = EvaluationReport.mostConfidentErrors(predictions, positiveClass: report.positiveClass, threshold: threshold,
                                                          limit: Self.errorGalleryLimit)
        let images = try errors.map { try PNGCodec.decode(contentsOf: URL(fileURLWithPath: $0.prediction.file)) }
        let maps = try predictor.classActivationMaps(images, classes: errors.map(\.called))
        let examples = try zip(zip(errors, images), maps).map { error, map in
            let (wrong, image) = error
            let width = min(320, image.width)
            let small = image.resized(width: width, height: max(1, (width * image.height + image.width / 2) / image.width))
            return ErrorExample(file: wrong.prediction.file, actual: predictor.classNames[wrong.prediction.actual!],
                                called: predictor.classNames[wrong.called], probability: wrong.prediction.probabilities[wrong.called],
                                picture: try PNGCodec.encode(map.heatmap.blended(over: small, opacity: 0.4)))
        }
        return (examples, layer)
    }

    /// How many errors the report shows.
    public static let errorGalleryLimit = 8
}
