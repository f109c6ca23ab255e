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

    public init(modelPath: String, dataPath: String, split: String?, outputDirectory: URL) {
        (self.modelPath, self.dataPath, self.split, self.outputDirectory) = (modelPath, dataPath, split, outputDirectory)
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public func run() throws -> EvaluationReport {
        let predictor = try Predictor(modelPath: modelPath, threads: threads, preprocessing: preprocessing,
                                      testTimeAugmentation: testTimeAugmentation)
        let dataset = try Dataset(root: URL(fileURLWithPath: dataPath))
        guard dataset.classNames == predictor.classNames else {
            throw Failure(description: "\(dataPath) has classes \(dataset.classNames), the model \(predictor.classNames)")
        }
        let samples = try selectedSamples(dataset)
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
        let positive = predictor.classNames.firstIndex(of: "malignant") ?? predictor.classNames.count - 1
        let report = EvaluationReport(predictions: predictions, classNames: predictor.classNames, positiveClass: positive,
                                      threshold: threshold)
        try write(report, predictions, predictor)
        return report
    }

    /// With `split`: that part of the training run's stored split (`split.json` beside the model), exactly the
    /// files the run assigned to it, even if the folder has gained images since; else a pre-split folder's part.
    private func selectedSamples(_ dataset: Dataset) throws -> [Sample] {
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
                      + "omit --split to evaluate every image")
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
        try report.html(title: "bc-train evaluation" + (split.map { " (\($0) split)" } ?? ""), model: modelPath, history: history)
            .write(to: outputDirectory.appendingPathComponent("report.html"), atomically: true, encoding: .utf8)
    }
}
