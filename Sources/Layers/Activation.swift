import Tensors

/// Keras Activation layer (relu, softmax on the last axis, linear).
public final class Activation: SoftmaxOutputLayer, RecomputableKeptTensor {
    /// The activation functions bc-train supports, by their Keras names.
    public enum Function: String, Sendable {
        case linear, relu, softmax

        func apply(_ x: Tensor, backend: Backend) -> Tensor {
            switch self {
            case .linear: x
            case .relu: backend.relu(x)
            case .softmax: backend.softmax(x)
            }
        }

        func backward(output: Tensor, outputGradient: Tensor, backend: Backend) -> Tensor {
            switch self {
            case .linear: outputGradient
            case .relu: backend.reluBackward(output: output, outputGradient: outputGradient)
            case .softmax: backend.softmaxBackward(output: output, outputGradient: outputGradient)
            }
        }
    }

    public let className = "Activation"
    public let name: String
    public var trainable = true
    public let weights: [Weight] = []
    public let function: Function
    private var savedOutput: Tensor?

    public init(_ function: Function, name: String) { (self.function, self.name) = (function, name) }

    public var config: [String: JSON] { baseConfig().merging(["activation": .string(function.rawValue)]) { $1 } }
    public var endsInSoftmax: Bool { function == .softmax }

    public func build(inputShapes: [[Int]], initializer: inout WeightInitializer) throws -> [Int] {
        guard inputShapes.count == 1 else { throw LayerError(layer: name, "expects 1 input, got \(inputShapes.count)") }
        return inputShapes[0]
    }

    public func forward(_ inputs: [Tensor], context: RunContext) -> Tensor {
        let output = function.apply(inputs[0], backend: context.backend)
        if context.keepsForBackward { savedOutput = output }
        return output
    }

    /// The forward pass of a ReLU whose input layer already applied it (batch norm with the ReLU fused in): keeps
    /// `output` for backward as `forward` would, and returns it.
    public func forward(appliedBefore output: Tensor, context: RunContext) -> Tensor {
        precondition(function == .relu, "\(name): only a ReLU is fused into the layer before it")
        if context.keepsForBackward { savedOutput = output }
        return output
    }

    /// The output kept for backward, handed to the layer before it, which then applies this ReLU's backward itself
    /// (batch norm, see `BatchNormalization.backward(_:reluOutput:context:)`) instead of this layer's `backward`.
    func handOverKeptOutput() -> Tensor {
        guard let output = savedOutput else { preconditionFailure("\(name): backward without forward") }
        savedOutput = nil
        return output
    }

    public func backward(_ outputGradient: Tensor, context: RunContext) -> [Tensor] {
        guard let output = savedOutput else { preconditionFailure("\(name): backward without forward") }
        savedOutput = nil
        return [function.backward(output: output, outputGradient: outputGradient, backend: context.backend)]
    }

    public func backward(logitGradient: Tensor, context: RunContext) -> [Tensor] {
        savedOutput = nil
        return [logitGradient]
    }

    func releaseKeptTensor() -> Bool {
        defer { savedOutput = nil }
        return savedOutput != nil
    }

    func restoreKeptTensor(_ tensor: Tensor) { savedOutput = tensor }
}
