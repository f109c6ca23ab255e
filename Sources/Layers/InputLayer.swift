import Tensors

/// Keras InputLayer: names the model input and fixes its shape (batch axis excluded).
public final class InputLayer: Layer {
    public let className = "InputLayer"
    public let name: String
    public var trainable = true
    public let weights: [Weight] = []
    public let shape: [Int]

    public init(shape: [Int], name: String = "input_1") { (self.shape, self.name) = (shape, name) }

    public var config: [String: JSON] {
        ["batch_input_shape": .array([.null] + shape.map { .number(Double($0)) }), "dtype": "float32",
         "sparse": false, "ragged": false, "name": .string(name)]
    }

    public func build(inputShapes: [[Int]], initializer: inout WeightInitializer) throws -> [Int] { shape }
    public func forward(_ inputs: [Tensor], context: RunContext) -> Tensor { inputs[0] }
    public func backward(_ outputGradient: Tensor, context: RunContext) -> [Tensor] { [outputGradient] }
}
