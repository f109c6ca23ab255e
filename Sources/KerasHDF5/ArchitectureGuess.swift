/// Names the keras.applications backbone a list of weighted layers fits, for messages and `bc-inspect`:
/// by weighted-layer count, the stem convolution, and the backbone's parameter total (keras-h5-format §5.3; both
/// are independent of the input size).
public struct KnownBackbone: Sendable {
    public let name: String
    public let weightedLayers: Int
    public let parameters: Int
    /// ResNet's convolutions have biases, DenseNet's do not: the stem conv holds 2 or 1 arrays.
    let stemArrays: Int
    /// The weighted layers by class, under the snake-case class name a `.weights.h5` file keys them with; they add
    /// up to `weightedLayers`.
    let layersPerClass: [String: Int]

    public static let all = [
        KnownBackbone(name: "ResNet50", weightedLayers: 106, parameters: 23_587_712, stemArrays: 2,
                      layersPerClass: ["conv2d": 53, "batch_normalization": 53]),
        KnownBackbone(name: "ResNet101", weightedLayers: 208, parameters: 42_658_176, stemArrays: 2,
                      layersPerClass: ["conv2d": 104, "batch_normalization": 104]),
        KnownBackbone(name: "ResNet152", weightedLayers: 310, parameters: 58_370_944, stemArrays: 2,
                      layersPerClass: ["conv2d": 155, "batch_normalization": 155]),
        KnownBackbone(name: "DenseNet121", weightedLayers: 241, parameters: 7_037_504, stemArrays: 1,
                      layersPerClass: ["conv2d": 120, "batch_normalization": 121]),
        KnownBackbone(name: "DenseNet169", weightedLayers: 337, parameters: 12_642_880, stemArrays: 1,
                      layersPerClass: ["conv2d": 168, "batch_normalization": 169]),
        KnownBackbone(name: "DenseNet201", weightedLayers: 401, parameters: 18_321_984, stemArrays: 1,
                      layersPerClass: ["conv2d": 200, "batch_normalization": 201]),
    ]
}

private let noBackbone = "matches no keras.applications backbone (ResNet50/101/152, DenseNet121/169/201)"

/// E.g. "looks like ResNet50 notop", "looks like DenseNet201 + a head of 2 weighted layers: 2 classes", or
/// "matches no keras.applications backbone". `layers` are the weighted layers' array shapes, in order.
public func describeArchitecture(weightedLayerShapes layers: [[[Int]]]) -> String {
    for backbone in KnownBackbone.all where layers.count >= backbone.weightedLayers && isStem(layers.first, of: backbone) {
        guard parameterCount(layers.prefix(backbone.weightedLayers)) == backbone.parameters else { continue }
        let extra = layers.dropFirst(backbone.weightedLayers)
        return describe(backbone, extraLayers: extra.count, classes: extra.last?.last?.first)
    }
    return noBackbone
}

/// The same for a `.weights.h5` file, which does not record the model's layer order: it keys each layer by its
/// class and its running index among the model's layers of that class (`conv2d_3`, keras-h5-format §4.2). So
/// each class's layers are in model order, and a backbone's layers of a class are the first ones of that class
/// (the head comes after the backbone in `model.layers`): the backbone fits when the file has at least its count
/// of layers of each class, the first convolution is its stem, and those first layers hold its parameter total.
/// The head's classifier is its last `Dense` layer.
func describeKeras3Architecture(_ layers: [KerasFileLayer]) -> String {
    var byClass: [String: [(index: Int, shapes: [[Int]])]] = [:]
    for layer in layers where !layer.weights.isEmpty {
        let (index, className) = keras3KeyOrder(layer.storageKey ?? layer.name)
        byClass[className, default: []].append((index, layer.weights.map(\.value.shape)))
    }
    for className in byClass.keys { byClass[className]!.sort { $0.index < $1.index } }
    for backbone in KnownBackbone.all where isStem(byClass["conv2d"]?.first?.shapes, of: backbone) {
        guard backbone.layersPerClass.allSatisfy({ byClass[$0.key, default: []].count >= $0.value }) else { continue }
        let backboneLayers = backbone.layersPerClass.flatMap { byClass[$0.key]!.prefix($0.value).map(\.shapes) }
        guard parameterCount(backboneLayers) == backbone.parameters else { continue }
        var extra: [String: [(index: Int, shapes: [[Int]])]] = [:]
        for (className, classLayers) in byClass {
            extra[className] = Array(classLayers.dropFirst(backbone.layersPerClass[className] ?? 0))
        }
        let extraCount = extra.values.reduce(0) { $0 + $1.count }
        let classifier = extra["dense"]?.last ?? (extraCount == 1 ? extra.values.first { !$0.isEmpty }?.first : nil)
        return describe(backbone, extraLayers: extraCount, classes: classifier?.shapes.last?.first)
    }
    return noBackbone
}

private func isStem(_ shapes: [[Int]]?, of backbone: KnownBackbone) -> Bool {
    shapes?.first == [7, 7, 3, 64] && shapes?.count == backbone.stemArrays
}

private func parameterCount<Layers: Sequence<[[Int]]>>(_ layers: Layers) -> Int {
    layers.reduce(0) { $0 + $1.reduce(0) { $0 + $1.reduce(1, *) } }
}

private func describe(_ backbone: KnownBackbone, extraLayers: Int, classes: Int?) -> String {
    let classes = classes.map { ": \($0) classes" } ?? ""
    switch extraLayers {
    case 0: return "looks like \(backbone.name) notop"
    case 1: return "looks like \(backbone.name) with its top classifier\(classes)"
    default: return "looks like \(backbone.name) + a head of \(extraLayers) weighted layers\(classes)"
    }
}

extension KerasWeightsFile {
    public var architectureDescription: String {
        if format == .keras3Weights { return describeKeras3Architecture(layers) }
        return describeArchitecture(weightedLayerShapes: weightedLayers.map { $0.weights.map(\.value.shape) })
    }
}
