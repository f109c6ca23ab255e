import Tensors

/// Keras MaxPooling2D and AveragePooling2D (channels_last). `strides` defaults to `poolSize`, as in Keras.
public final class Pooling2D: Layer {
    public let kind: PoolKind
    public let name: String
    public var trainable = true
    public let weights: [Weight] = []
    public let poolSize: (Int, Int)
    public let strides: (Int, Int)
    public let padding: Padding
    private var geometry: WindowGeometry!
    /// What backward needs of the forward pass (less than the input where the backend can).
    private var record: PoolingRecord?

    public convenience init(_ kind: PoolKind, poolSize: Int, strides: Int? = nil, padding: Padding = .valid, name: String) {
        self.init(kind, poolSize: (poolSize, poolSize), strides: strides.map { ($0, $0) }, padding: padding, name: name)
    }

    public init(_ kind: PoolKind, poolSize: (Int, Int), strides: (Int, Int)?, padding: Padding = .valid, name: String) {
        (self.kind, self.poolSize, self.strides, self.padding, self.name) = (kind, poolSize, strides ?? poolSize, padding, name)
    }

    public var className: String { kind == .max ? "MaxPooling2D" : "AveragePooling2D" }

    public var config: [String: JSON] {
        baseConfig().merging(["pool_size": .ints(poolSize.0, poolSize.1), "strides": .ints(strides.0, strides.1),
                              "padding": .string(padding.rawValue), "data_format": "channels_last"]) { $1 }
    }

    public func build(inputShapes: [[Int]], initializer: inout WeightInitializer) throws -> [Int] {
        let input = try requireSingleInput(inputShapes, rank: 3)
        guard poolSize.0 > 0, poolSize.1 > 0, strides.0 > 0, strides.1 > 0 else {
            throw LayerError(layer: name, "pool_size and strides must be positive")
        }
        geometry = WindowGeometry(kernel: poolSize, strides: strides, padding: padding,
                                  inputHeight: input[0], inputWidth: input[1])
        let (height, width) = (geometry.outputHeight(input[0]), geometry.outputWidth(input[1]))
        guard height > 0, width > 0 else {
            throw LayerError(layer: name, "pool_size \(poolSize) does not fit input \(input[0])x\(input[1])")
        }
        return [height, width, input[2]]
    }

    public func forward(_ inputs: [Tensor], context: RunContext) -> Tensor {
        guard context.keepsForBackward else { return context.backend.pool2D(inputs[0], kind: kind, geometry: geometry) }
        let (output, record) = context.backend.pool2DForTraining(inputs[0], kind: kind, geometry: geometry)
        self.record = record
        return output
    }

    public func backward(_ outputGradient: Tensor, context: RunContext) -> [Tensor] {
        guard let record else { preconditionFailure("\(name): backward without forward") }
        self.record = nil
        return [context.backend.pool2DBackward(record, outputGradient: outputGradient)]
    }
}

/// Keras GlobalAveragePooling2D: (batch, h, w, c) -> (batch, c).
public final class GlobalAveragePooling2D: Layer {
    public let className = "GlobalAveragePooling2D"
    public let name: String
    public var trainable = true
    public let weights: [Weight] = []
    private var inputShape: [Int] = []
    private var inputLayout = TensorLayout.plain

    public init(name: String) { self.name = name }

    public var config: [String: JSON] {
        baseConfig().merging(["data_format": "channels_last", "keepdims": false]) { $1 }
    }

    public func build(inputShapes: [[Int]], initializer: inout WeightInitializer) throws -> [Int] {
        inputShape = try requireSingleInput(inputShapes, rank: 3)
        return [inputShape[2]]
    }

    public func forward(_ inputs: [Tensor], context: RunContext) -> Tensor {
        if context.keepsForBackward { inputLayout = inputs[0].layout }
        return context.backend.globalAveragePool(inputs[0])
    }

    public func backward(_ outputGradient: Tensor, context: RunContext) -> [Tensor] {
        [context.backend.globalAveragePoolBackward(outputGradient: outputGradient,
                                                   inputShape: [outputGradient.shape[0]] + inputShape,
                                                   inputLayout: inputLayout)]
    }
}
