import Tensors

/// Keras Add: the elementwise sum of equally shaped inputs.
public final class Add: Layer {
    public let className = "Add"
    public let name: String
    public var trainable = true
    public let weights: [Weight] = []
    private var inputCount = 0

    public init(name: String) { self.name = name }

    public var config: [String: JSON] { baseConfig() }

    public func build(inputShapes: [[Int]], initializer: inout WeightInitializer) throws -> [Int] {
        guard inputShapes.count >= 2 else { throw LayerError(layer: name, "needs at least 2 inputs, got \(inputShapes.count)") }
        guard inputShapes.allSatisfy({ $0 == inputShapes[0] }) else {
            throw LayerError(layer: name, "inputs must have equal shapes, got \(inputShapes)")
        }
        inputCount = inputShapes.count
        return inputShapes[0]
    }

    public func forward(_ inputs: [Tensor], context: RunContext) -> Tensor { context.backend.add(inputs) }

    /// `forward`, then ReLU: the graph asks for it where a ReLU activation is the only reader of the sum (ResNet's
    /// block outputs), and the backend computes both in one pass.
    public func forwardThenReLU(_ inputs: [Tensor], context: RunContext) -> Tensor { context.backend.addReLU(inputs) }

    public func backward(_ outputGradient: Tensor, context: RunContext) -> [Tensor] {
        Array(repeating: outputGradient, count: inputCount)
    }
}

/// Keras Concatenate on the last axis, inputs in call order.
public final class Concatenate: Layer {
    public let className = "Concatenate"
    public let name: String
    public var trainable = true
    public let weights: [Weight] = []
    private var widths: [Int] = []

    public init(name: String) { self.name = name }

    public var config: [String: JSON] { baseConfig().merging(["axis": -1]) { $1 } }

    public func build(inputShapes: [[Int]], initializer: inout WeightInitializer) throws -> [Int] {
        guard inputShapes.count >= 2 else { throw LayerError(layer: name, "needs at least 2 inputs, got \(inputShapes.count)") }
        let leading = inputShapes[0].dropLast()
        guard inputShapes.allSatisfy({ !$0.isEmpty && $0.dropLast() == leading }) else {
            throw LayerError(layer: name, "inputs must agree on every axis but the last, got \(inputShapes)")
        }
        widths = inputShapes.map { $0.last! }
        return Array(leading) + [widths.reduce(0, +)]
    }

    public func forward(_ inputs: [Tensor], context: RunContext) -> Tensor { context.backend.concat(inputs) }

    public func backward(_ outputGradient: Tensor, context: RunContext) -> [Tensor] {
        context.backend.concatBackward(outputGradient: outputGradient, channels: widths)
    }
}
