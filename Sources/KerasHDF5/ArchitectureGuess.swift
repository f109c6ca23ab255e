/// Names the keras.applications backbone a list of weighted layers fits, for messages and `bc-inspect`:
/// by weighted-layer count, the stem convolution, and the backbone's parameter total (keras-h5-format §5.3; both
/// are independent of the input size).
public struct KnownBackbone: Sendable {
    public let name: String
    public let weightedLayers: Int
    public let parameters: Int
    /// ResNet's convolutions have biases, DenseNet's do not: the stem conv holds 2 or 1 arrays.
    let stemArrays: Int

    public static let all = [
        KnownBackbone(name: "ResNet50", weightedLayers: 106, parameters: 23_587_712, stemArrays: 2),
        KnownBackbone(name: "ResNet101", weightedLayers: 208, parameters: 42_658_176, stemArrays: 2),
        KnownBackbone(name: "ResNet152", weightedLayers: 310, parameters: 58_370_944, stemArrays: 2),
        KnownBackbone(name: "DenseNet121", weightedLayers: 241, parameters: 7_037_504, stemArrays: 1),
        KnownBackbone(name: "DenseNet169", weightedLayers: 337, parameters: 12_642_880, stemArrays: 1),
        KnownBackbone(name: "DenseNet201", weightedLayers: 401, parameters: 18_321_984, stemArrays: 1),
    ]
}

/// E.g. "looks like ResNet50 notop", "looks like DenseNet201 + head (BatchNormalization, Dense: 2 classes)", or
/// "matches no keras.applications backbone". `layers` are the weighted layers' array shapes, in order.
public func describeArchitecture(weightedLayerShapes layers: [[[Int]]]) -> String {
    let stemIsSevenBySevenRGB = layers.first?.first == [7, 7, 3, 64]
    for backbone in KnownBackbone.all where layers.count >= backbone.weightedLayers && stemIsSevenBySevenRGB
        && layers[0].count == backbone.stemArrays {
        let parameters = layers.prefix(backbone.weightedLayers).reduce(0) { $0 + $1.reduce(0) { $0 + $1.reduce(1, *) } }
        guard parameters == backbone.parameters else { continue }
        let extra = layers.dropFirst(backbone.weightedLayers)
        let classes = extra.last?.last?.first.map { ": \($0) classes" } ?? ""
        switch extra.count {
        case 0: return "looks like \(backbone.name) notop"
        case 1: return "looks like \(backbone.name) with its top classifier\(classes)"
        default: return "looks like \(backbone.name) + a head of \(extra.count) weighted layers\(classes)"
        }
    }
    return "matches no keras.applications backbone (ResNet50/101/152, DenseNet121/169/201)"
}

extension KerasWeightsFile {
    public var architectureDescription: String {
        var layers = weightedLayers
        // A .weights.h5 file does not record the model's layer order; the stem is its first Conv2D.
        if let stem = layers.firstIndex(where: { $0.storageKey == "conv2d" }) { layers.insert(layers.remove(at: stem), at: 0) }
        return describeArchitecture(weightedLayerShapes: layers.map { $0.weights.map(\.value.shape) })
    }
}
