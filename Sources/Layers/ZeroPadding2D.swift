import Tensors

/// Keras ZeroPadding2D: `padding` ((top, bottom), (left, right)).
public final class ZeroPadding2D: Layer {
    public let className = "ZeroPadding2D"
    public let name: String
    public var trainable = true
    public let weights: [Weight] = []
    public let padding: Padding2D

    public convenience init(_ padding: Int, name: String) {
        self.init(Padding2D(top: padding, bottom: padding, left: padding, right: padding), name: name)
    }

    public init(_ padding: Padding2D, name: String) { (self.padding, self.name) = (padding, name) }

    public var config: [String: JSON] {
        baseConfig().merging(["padding": .array([.ints(padding.top, padding.bottom), .ints(padding.left, padding.right)]),
                              "data_format": "channels_last"]) { $1 }
    }

    public func build(inputShapes: [[Int]], initializer: inout WeightInitializer) throws -> [Int] {
        let input = try requireSingleInput(inputShapes, rank: 3)
        guard [padding.top, padding.bottom, padding.left, padding.right].allSatisfy({ $0 >= 0 }) else {
            throw LayerError(layer: name, "padding must not be negative")
        }
        return [input[0] + padding.top + padding.bottom, input[1] + padding.left + padding.right, input[2]]
    }

    public func forward(_ inputs: [Tensor], context: RunContext) -> Tensor {
        context.backend.zeroPad2D(inputs[0], padding: padding)
    }

    public func backward(_ outputGradient: Tensor, context: RunContext) -> [Tensor] {
        [context.backend.zeroPad2DBackward(outputGradient: outputGradient, padding: padding)]
    }
}
