import Datasets
import Evaluation
import Foundation

/// One uploaded file's row of `POST /api/predict`: its class probabilities and label, or why it has none.
/// Every key is always present (null when it does not apply), so clients need not guess.
public struct ServedPrediction: Codable, Sendable, Equatable {
    public var file: String
    /// From a BreakHis file name (`SOB_M_DC-14-2523-40-016.png` is patient "14-2523" at 40x); null otherwise.
    public var patient: String?
    public var magnification: Int?
    public var probabilities: [String: Double]?
    public var pMalignant: Double?
    public var label: String?
    public var error: String?

    public init(file: String, patient: String? = nil, magnification: Int? = nil, probabilities: [String: Double]? = nil,
                pMalignant: Double? = nil, label: String? = nil, error: String? = nil) {
        (self.file, self.patient, self.magnification, self.probabilities) = (file, patient, magnification, probabilities)
        (self.pMalignant, self.label, self.error) = (pMalignant, label, error)
    }

    /// The row for `file` given its outcome: probabilities in the model's class order, or an error.
    init(file: String, outcome: Result<[Double], InferenceFailure>, model: ModelInfo, threshold: Double) {
        let name = (try? BreakHisName(parsing: (file as NSString).lastPathComponent))
        self.init(file: file, patient: name?.patient, magnification: name?.magnification.rawValue)
        switch outcome {
        case .success(let values):
            probabilities = Dictionary(uniqueKeysWithValues: zip(model.classNames, values))
            let positive = values[model.positiveIndex]
            pMalignant = positive
            label = Self.label(values, positiveIndex: model.positiveIndex, threshold: threshold, classNames: model.classNames)
        case .failure(let failure):
            error = failure.message
        }
    }

    /// bc-eval's and bc-predict's rule: with two classes the positive one at or above the threshold, otherwise
    /// the most probable class.
    static func label(_ values: [Double], positiveIndex: Int, threshold: Double, classNames: [String]) -> String {
        let prediction = ImagePrediction(file: "", actual: nil, probabilities: values, patient: nil, magnification: nil)
        return classNames[EvaluationReport.label(of: prediction, positiveClass: positiveIndex, threshold: threshold)]
    }

    enum CodingKeys: String, CodingKey {
        case file, patient, magnification, probabilities, pMalignant = "p_malignant", label, error
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(file, forKey: .file)
        try container.encode(patient, forKey: .patient)
        try container.encode(magnification, forKey: .magnification)
        try container.encode(probabilities, forKey: .probabilities)
        try container.encode(pMalignant, forKey: .pMalignant)
        try container.encode(label, forKey: .label)
        try container.encode(error, forKey: .error)
    }
}

/// The body of a `POST /api/predict` answer.
public struct PredictionResponse: Codable, Sendable, Equatable {
    public var model: String
    public var threshold: Double
    public var results: [ServedPrediction]
}
