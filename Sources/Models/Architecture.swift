import Layers

/// The keras.applications backbones bc-train builds (include_top=False), with Keras 3's layer names.
public enum Architecture: String, Codable, CaseIterable, Sendable {
    case resnet50, resnet101, resnet152, densenet121, densenet169, densenet201

    /// Keras' class name, e.g. "ResNet50".
    public var kerasName: String {
        switch self {
        case .resnet50: "ResNet50"
        case .resnet101: "ResNet101"
        case .resnet152: "ResNet152"
        case .densenet121: "DenseNet121"
        case .densenet169: "DenseNet169"
        case .densenet201: "DenseNet201"
        }
    }

    /// keras.applications' `preprocess_input` mode: "caffe" (BGR, ImageNet means subtracted) for ResNet,
    /// "torch" (RGB scaled to [0, 1], normalised by ImageNet mean and std) for DenseNet. A string so that
    /// Models does not depend on the image pipeline.
    public var preprocessingMode: String {
        switch self {
        case .resnet50, .resnet101, .resnet152: "caffe"
        case .densenet121, .densenet169, .densenet201: "torch"
        }
    }

    /// Smallest input height and width Keras accepts for these backbones (`obtain_input_shape(min_size=32)`).
    public static let minimumInputSize = 32

    /// Adds the backbone to `input` and returns its last feature map.
    func backbone(_ input: SymbolicTensor) throws -> SymbolicTensor {
        switch self {
        case .resnet50: try resNet(input, blocksPerStage: [3, 4, 6, 3])
        case .resnet101: try resNet(input, blocksPerStage: [3, 4, 23, 3])
        case .resnet152: try resNet(input, blocksPerStage: [3, 8, 36, 3])
        case .densenet121: try denseNet(input, blocksPerStage: [6, 12, 24, 16])
        case .densenet169: try denseNet(input, blocksPerStage: [6, 12, 32, 32])
        case .densenet201: try denseNet(input, blocksPerStage: [6, 12, 48, 32])
        }
    }
}

/// Builds `architecture` for inputs of `inputShape` (height, width, channels), optionally topped by the report's
/// classifier head, as one flat functional graph (the head attached to the backbone's output, as Keras files
/// expect). The graph is named as Keras names the model ("resnet50"); `seed` makes the initial weights
/// reproducible.
public func buildModel(_ architecture: Architecture, inputShape: [Int], head: HeadOptions?, seed: UInt64) throws -> Graph {
    guard inputShape.count == 3, inputShape[0] >= Architecture.minimumInputSize,
          inputShape[1] >= Architecture.minimumInputSize, inputShape[2] > 0 else {
        throw LayerError(layer: architecture.rawValue,
                         "input shape must be (height, width, channels) with height and width >= \(Architecture.minimumInputSize), got \(inputShape)")
    }
    let builder = GraphBuilder(seed: seed)
    var x = try architecture.backbone(try builder.input(shape: inputShape))
    if let head { x = try classifierHead(x, head) }
    return try builder.build(output: x, name: architecture.rawValue)
}
