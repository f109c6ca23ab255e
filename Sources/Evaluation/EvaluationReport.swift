import Foundation

/// One image's prediction, as bc-eval and bc-predict produce them.
public struct ImagePrediction: Codable, Equatable, Sendable {
    public var file: String
    /// The true class index, when known.
    public var actual: Int?
    /// One probability per class.
    public var probabilities: [Double]
    public var patient: String?
    public var magnification: Int?

    public init(file: String, actual: Int?, probabilities: [Double], patient: String? = nil, magnification: Int? = nil) {
        (self.file, self.actual, self.probabilities, self.patient, self.magnification) =
            (file, actual, probabilities, patient, magnification)
    }
}

extension ImagePrediction {
    /// The prediction with its probabilities rescaled by temperature scaling.
    public func scaled(by temperature: Double) -> ImagePrediction {
        var scaled = self
        scaled.probabilities = TemperatureScaling.apply(temperature, to: probabilities)
        return scaled
    }
}

/// The metrics the histopathology literature reports, computed from labelled predictions:
/// image-level accuracy, per-class precision/recall/F1/specificity, confusion matrix, ROC/AUC of the positive
/// (malignant) class, BreakHis' patient-level accuracy, and the same per magnification.
public struct EvaluationReport: Codable, Equatable, Sendable {
    public struct Curve: Codable, Equatable, Sendable {
        public let falsePositiveRates, truePositiveRates: [Double]
    }

    public struct Subset: Codable, Equatable, Sendable {
        public let images: Int
        public let accuracy: Double
        public let patientLevelAccuracy: Double?
        public let auc: Double?
    }

    public let classNames: [String]
    public let positiveClass: Int
    /// A sample is predicted positive when P(positive) >= threshold (binary models); otherwise argmax.
    public let threshold: Double
    public let images: Int
    public let accuracy: Double
    public let classScores: [String: ClassScores]
    public let confusionMatrix: [[Int]]
    /// nil when undefined (one class only); `aucNote` then says why.
    public let auc: Double?
    public let aucNote: String?
    public let roc: Curve?
    public let patients: Int
    public let patientLevelAccuracy: Double?
    /// ROC AUC over patients, each scored by their images' mean P(positive); nil without patient ids or when one
    /// class of patients is missing.
    public let patientAUC: Double?
    public let perMagnification: [String: Subset]
    /// Of the model's own probabilities; nil without labelled images.
    public let calibration: Calibration?
    /// With a temperature: the temperature, and the calibration of the scaled probabilities, on which every other
    /// metric here is computed (as bc-predict and bc-serve would output them).
    public let temperature: Double?
    public let calibrationAfterScaling: Calibration?

    /// Only predictions with a known `actual` class count. `predictions` are the model's own probabilities;
    /// `temperature` (fitted by temperature scaling) rescales them before anything else is computed.
    public init(predictions all: [ImagePrediction], classNames: [String], positiveClass: Int, threshold: Double = 0.5,
                temperature: Double? = nil) {
        let raw = all.filter { $0.actual != nil }
        calibration = raw.isEmpty ? nil : Calibration(probabilities: raw.map(\.probabilities), actual: raw.map { $0.actual! },
                                                      positiveClass: positiveClass)
        let predictions = temperature.map { temperature in raw.map { $0.scaled(by: temperature) } } ?? raw
        self.temperature = temperature
        calibrationAfterScaling = temperature == nil || raw.isEmpty ? nil
            : Calibration(probabilities: predictions.map(\.probabilities), actual: predictions.map { $0.actual! }, positiveClass: positiveClass)
        self.classNames = classNames
        self.positiveClass = positiveClass
        self.threshold = threshold
        images = predictions.count
        let predicted = predictions.map { Self.label(of: $0, positiveClass: positiveClass, threshold: threshold) }
        let actual = predictions.map { $0.actual! }
        let matrix = ConfusionMatrix(actual: actual, predicted: predicted, classes: classNames.count)
        accuracy = matrix.accuracy
        confusionMatrix = matrix.counts
        classScores = Dictionary(uniqueKeysWithValues: classNames.indices.map { (classNames[$0], matrix.scores(of: $0)) })
        switch Self.rocCurve(predictions, positiveClass: positiveClass) {
        case .success(let curve):
            (auc, aucNote) = (curve.area, nil)
            roc = Curve(falsePositiveRates: curve.falsePositiveRates, truePositiveRates: curve.truePositiveRates)
        case .failure(let failure):
            (auc, aucNote, roc) = (nil, failure.description, nil)
        }
        let correct = zip(actual, predicted).map { $0 == $1 }
        let patientIDs = predictions.compactMap(\.patient)
        patients = Set(patientIDs).count
        patientLevelAccuracy = patientIDs.count == predictions.count && !predictions.isEmpty
            ? Evaluation.patientLevelAccuracy(patients: patientIDs, correct: correct) : nil
        patientAUC = patientIDs.count == predictions.count && !predictions.isEmpty ? {
            let perPatient = patientScores(patients: patientIDs, positive: actual.map { $0 == positiveClass },
                                           scores: predictions.map { $0.probabilities[positiveClass] })
            return try? ROCCurve(positive: perPatient.positive, scores: perPatient.scores).area
        }() : nil
        var subsets: [String: Subset] = [:]
        for magnification in Set(predictions.compactMap(\.magnification)) {
            let indices = predictions.indices.filter { predictions[$0].magnification == magnification }
            let subsetPatients = indices.compactMap { predictions[$0].patient }
            subsets["\(magnification)X"] = Subset(
                images: indices.count,
                accuracy: Double(indices.filter { correct[$0] }.count) / Double(indices.count),
                patientLevelAccuracy: subsetPatients.count == indices.count
                    ? Evaluation.patientLevelAccuracy(patients: subsetPatients, correct: indices.map { correct[$0] }) : nil,
                auc: try? Self.rocCurve(indices.map { predictions[$0] }, positiveClass: positiveClass).get().area)
        }
        perMagnification = subsets
    }

    /// The predicted class: thresholded P(positive) for two classes, the most probable class otherwise.
    public static func label(of prediction: ImagePrediction, positiveClass: Int, threshold: Double) -> Int {
        let probabilities = prediction.probabilities
        if probabilities.count == 2 { return probabilities[positiveClass] >= threshold ? positiveClass : 1 - positiveClass }
        return probabilities.indices.max { probabilities[$0] < probabilities[$1] }!
    }

    private static func rocCurve(_ predictions: [ImagePrediction], positiveClass: Int) -> Result<ROCCurve, ROCCurve.Failure> {
        Result {
            try ROCCurve(positive: predictions.map { $0.actual == positiveClass },
                         scores: predictions.map { $0.probabilities[positiveClass] })
        }.mapError { $0 as! ROCCurve.Failure }
    }

    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(self)
    }
}
