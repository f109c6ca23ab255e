import Datasets
import Evaluation
import Foundation

/// One output row: an image's prediction, or the reason it has none.
public struct PredictionRow: Equatable, Sendable {
    public var file: String
    public var patient: String?
    public var magnification: Int?
    /// The true class's name, when known (bc-eval).
    public var actual: String?
    /// One per class; nil when the image could not be predicted.
    public var probabilities: [Double]?
    /// How far the test-time augmentation's views disagree (`Predictor.predictWithSpread`).
    public var spread: Double?
    /// The Grad-CAM picture written for the image (`bc-predict --heatmaps`).
    public var heatmap: String?
    public var error: String?

    /// Patient and magnification come from the file name when it is a BreakHis name.
    public init(file: String, actual: String? = nil, probabilities: [Double]? = nil, error: String? = nil) {
        let parsed = try? BreakHisName(parsing: URL(fileURLWithPath: file).lastPathComponent)
        (self.file, self.patient, self.magnification) = (file, parsed?.patient, parsed?.magnification.rawValue)
        (self.actual, self.probabilities, self.error) = (actual, probabilities, error)
    }
}

/// How rows are written, as CSV or JSON lines: file, patient, magnification, [actual], P(positive class) (or one
/// probability per class for multi-class models), the label at `threshold`, [the test-time augmentation's spread],
/// [the Grad-CAM picture], the model's id, and the error.
public struct PredictionTable: Sendable {
    public enum Format: String, CaseIterable, Sendable { case csv, jsonl }

    public let classNames: [String]
    public let positiveClass: Int
    public let threshold: Double
    public let modelID: String
    public let includesActual: Bool
    /// A `tta_spread` column (with test-time augmentation).
    public let includesSpread: Bool
    /// A `heatmap` column: the Grad-CAM picture's path.
    public let includesHeatmap: Bool

    public init(classNames: [String], positiveClass: Int, threshold: Double, modelID: String, includesActual: Bool = false,
                includesSpread: Bool = false, includesHeatmap: Bool = false) {
        (self.classNames, self.positiveClass, self.threshold) = (classNames, positiveClass, threshold)
        (self.modelID, self.includesActual, self.includesSpread, self.includesHeatmap) = (modelID, includesActual, includesSpread, includesHeatmap)
    }

    /// The class probabilities that get a column: P(positive) for a binary model, every class otherwise.
    private var probabilityColumns: [Int] { classNames.count == 2 ? [positiveClass] : Array(classNames.indices) }

    public func label(_ probabilities: [Double]) -> String { classNames[labelIndex(probabilities)] }

    public func labelIndex(_ probabilities: [Double]) -> Int {
        Self.calledClass(probabilities, positiveClass: positiveClass, threshold: threshold)
    }

    /// The class called: the positive one at or above the threshold (two classes), else the most probable.
    public static func calledClass(_ probabilities: [Double], positiveClass: Int, threshold: Double) -> Int {
        EvaluationReport.label(of: ImagePrediction(file: "", actual: nil, probabilities: probabilities), positiveClass: positiveClass,
                               threshold: threshold)
    }

    public var csvHeader: String {
        (["file", "patient", "magnification"] + (includesActual ? ["actual"] : []) + probabilityColumns.map { "p_" + classNames[$0] }
            + ["label"] + (includesSpread ? ["tta_spread"] : []) + (includesHeatmap ? ["heatmap"] : [])
            + ["model", "error"]).joined(separator: ",")
    }

    public func csvLine(_ row: PredictionRow) -> String {
        let probabilities = probabilityColumns.map { column in row.probabilities.map { String(format: "%.6f", $0[column]) } ?? "" }
        let fields = [row.file, row.patient ?? "", row.magnification.map(String.init) ?? ""] + (includesActual ? [row.actual ?? ""] : [])
            + probabilities + [row.probabilities.map(label) ?? ""]
            + (includesSpread ? [row.spread.map { String(format: "%.6f", $0) } ?? ""] : []) + (includesHeatmap ? [row.heatmap ?? ""] : [])
            + [modelID, row.error ?? ""]
        return fields.map(Self.csvField).joined(separator: ",")
    }

    /// One JSON object; probabilities at full precision, keyed by class name.
    public func jsonLine(_ row: PredictionRow) -> String {
        var object: [String: Any] = ["file": row.file, "model": modelID, "patient": row.patient ?? NSNull(),
                                     "magnification": row.magnification ?? NSNull(), "error": row.error ?? NSNull()]
        if includesActual { object["actual"] = row.actual ?? NSNull() }
        if includesSpread { object["tta_spread"] = row.spread ?? NSNull() }
        if includesHeatmap { object["heatmap"] = row.heatmap ?? NSNull() }
        if let probabilities = row.probabilities {
            object["probabilities"] = Dictionary(uniqueKeysWithValues: zip(classNames, probabilities))
            object["p_" + classNames[positiveClass]] = probabilities[positiveClass]
            object["label"] = label(probabilities)
        } else {
            (object["probabilities"], object["label"]) = (NSNull(), NSNull())
        }
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    public func document(_ rows: [PredictionRow], format: Format) -> String {
        switch format {
        case .csv: return ([csvHeader] + rows.map(csvLine)).joined(separator: "\n") + "\n"
        case .jsonl: return rows.map(jsonLine).joined(separator: "\n") + (rows.isEmpty ? "" : "\n")
        }
    }

    /// RFC 4180 quoting, and a leading quote for text a spreadsheet would run as a formula.
    static func csvField(_ text: String) -> String {
        let safe = text.first.map { "=+-@".contains($0) } == true ? "'" + text : text
        guard safe.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return safe }
        return "\"" + safe.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
