import Datasets
import Foundation
import Serving

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
    /// With test-time augmentation: the largest standard deviation of a class probability over the views (the page
    /// flags images above `ModelInfo.reviewSpread` for review). Null without it.
    public var ttaSpread: Double?
    /// The class a BreakHis file name gives (`SOB_B_...` benign, `SOB_M_...` malignant) when the model has those
    /// two classes: a labelled batch can be checked without bc-eval. Null otherwise.
    public var classFromName: String?
    /// With whole-image prediction from crops (`bc-serve --crops N`): P(positive class) of each crop, N rows of N,
    /// top row first. Null otherwise.
    public var cropMap: [[Double]]?
    /// With `?heatmaps=true`: the Grad-CAM of the class called at the request's threshold. Null otherwise.
    public var heatmap: ServedHeatmap?
    public var error: String?

    public init(file: String, patient: String? = nil, magnification: Int? = nil, probabilities: [String: Double]? = nil,
                pMalignant: Double? = nil, label: String? = nil, classFromName: String? = nil, error: String? = nil) {
        (self.file, self.patient, self.magnification, self.probabilities) = (file, patient, magnification, probabilities)
        (self.pMalignant, self.label, self.classFromName, self.error) = (pMalignant, label, classFromName, error)
    }

    /// The row for `file` given its outcome: probabilities in the model's class order, or an error.
    init(file: String, outcome: InferenceQueue.Outcome, model: ModelInfo, threshold: Double) {
        let breakHis = try? BreakHisName(parsing: URL(fileURLWithPath: file).lastPathComponent)
        let namesClasses = Set(model.classNames) == ["benign", "malignant"]
        self.init(file: file, patient: breakHis?.patient, magnification: breakHis?.magnification.rawValue,
                  classFromName: namesClasses ? breakHis.map { $0.isMalignant ? "malignant" : "benign" } : nil)
        switch outcome {
        case .success(let score):
            let values = score.probabilities
            probabilities = Dictionary(uniqueKeysWithValues: zip(model.classNames, values))
            ttaSpread = model.testTimeAugmentation == TestTimeAugmentation.off.rawValue ? nil : score.spread
            let positive = values[model.positiveIndex]
            pMalignant = positive
            label = PredictionTable(classNames: model.classNames, positiveClass: model.positiveIndex, threshold: threshold,
                                    modelID: model.model).label(values)
            heatmap = score.heatmap.map { ServedHeatmap($0, classNames: model.classNames) }
            if let crops = score.crops, let side = model.crops {
                cropMap = (0..<side).map { row in crops[(row * side)..<((row + 1) * side)].map { $0[model.positiveIndex] } }
            }
        case .failure(let failure):
            error = failure.message
        }
    }

    enum CodingKeys: String, CodingKey {
        case file, patient, magnification, probabilities, pMalignant = "p_malignant", label, ttaSpread = "tta_spread"
        case classFromName = "class_from_name", cropMap = "crop_map", heatmap, error
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(file, forKey: .file)
        try container.encode(patient, forKey: .patient)
        try container.encode(magnification, forKey: .magnification)
        try container.encode(probabilities, forKey: .probabilities)
        try container.encode(pMalignant, forKey: .pMalignant)
        try container.encode(label, forKey: .label)
        try container.encode(ttaSpread, forKey: .ttaSpread)
        try container.encode(classFromName, forKey: .classFromName)
        try container.encode(cropMap, forKey: .cropMap)
        try container.encode(heatmap, forKey: .heatmap)
        try container.encode(error, forKey: .error)
    }
}

/// An image's Grad-CAM in an answer: the class it is for, the layer it weights, the map (rows of values in [0, 1]
/// at that layer's resolution) and the map coloured at the image's size, at most 1024 pixels a side (a base64 PNG,
/// laid over the image to show where the model looked).
public struct ServedHeatmap: Codable, Sendable, Equatable {
    public var className: String
    public var layer: String
    public var map: [[Float]]
    public var png: String

    init(_ heatmap: ImageHeatmap, classNames: [String]) {
        let grid = heatmap.map.heatmap
        className = classNames[heatmap.map.classIndex]
        layer = heatmap.map.layer
        map = (0..<grid.height).map { Array(grid.values[($0 * grid.width)..<(($0 + 1) * grid.width)]) }
        png = heatmap.png.base64EncodedString()
    }

    enum CodingKeys: String, CodingKey { case className = "class", layer, map, png }
}

/// The body of a `POST /api/predict` answer.
public struct PredictionResponse: Codable, Sendable, Equatable {
    public var model: String
    public var threshold: Double
    public var results: [ServedPrediction]
}
