import Foundation
import Serving

/// What `GET /api/model` says about the served model; also what every prediction names. A value copied from the
/// predictor once, so request handlers never touch the predictor itself (only the inference worker does).
public struct ModelInfo: Codable, Sendable, Equatable {
    public let model: String
    public let architecture: String
    /// Height, width, channels.
    public let inputShape: [Int]
    public let parameters: Int
    public let classNames: [String]
    /// The class whose probability is `p_malignant` and whose label applies at or above the threshold.
    public let positiveClass: String
    public let preprocessing: String
    public let resize: String
    public let threshold: Double
    /// The temperature from `bc-eval --calibrate` that rescales the probabilities; nil when uncalibrated.
    public let temperature: Double?
    /// off, flips or dihedral; with views, each result has its spread.
    public let testTimeAugmentation: String
    /// The spread at or above which the page flags an image for review: its call depends on how it is turned.
    public let reviewSpread: Double
    /// With whole-image prediction from crops: crops per side (each result has its crop map); nil otherwise.
    public let crops: Int?
    /// `Predictor.cropScaleWarning`: the page shows it beside the model.
    public let cropWarning: String?
    /// The layer whose Grad-CAM `POST /api/predict?heatmaps=true` returns; nil for a model without one.
    public let heatmapLayer: String?

    public init(_ predictor: Predictor, threshold: Double) {
        model = predictor.modelID
        architecture = predictor.graph.name
        inputShape = predictor.graph.inputShape
        parameters = predictor.graph.parameterCount
        classNames = predictor.classNames
        positiveClass = predictor.classNames[predictor.positiveClass]
        preprocessing = predictor.preprocessing.rawValue
        resize = predictor.resize.rawValue
        self.threshold = threshold
        temperature = predictor.appliesCalibration ? predictor.calibration?.temperature : nil
        testTimeAugmentation = predictor.testTimeAugmentation.rawValue
        reviewSpread = Self.reviewSpread
        heatmapLayer = predictor.classActivationLayer
        crops = predictor.crops?.side
        cropWarning = predictor.cropScaleWarning
    }

    /// A tenth of the probability scale: views that far apart straddle most thresholds one would pick.
    public static let reviewSpread = 0.1

    var positiveIndex: Int { classNames.firstIndex(of: positiveClass)! }

    enum CodingKeys: String, CodingKey {
        case model, architecture, inputShape = "input_shape", parameters, classNames = "class_names"
        case positiveClass = "positive_class", preprocessing, resize, threshold, temperature
        case testTimeAugmentation = "test_time_augmentation", reviewSpread = "review_spread", crops, cropWarning = "crop_warning", heatmapLayer = "heatmap_layer"
    }
}
