import Tensors

/// Keras Dense on (batch, features): kernel (in, units), optional bias, optional activation.
public final class Dense: SoftmaxOutputLayer {
    public let className = "Dense"
    public let name: String
    public var trainable = true
    public private(set) var weights: [Weight] = []
    public let units: Int
    public let useBias: Bool
    public let activation: Activation.Function
    private var savedInput: Tensor?
    private var savedOutput: Tensor?

    public init(_ units: Int, activation: Activation.Function = .linear, useBias: Bool = true, name: String) {
        (self.units, self.activation, self.useBias, self.name) = (units, activation, useBias, name)
    }

    public var config: [String: JSON] {
        baseConfig().merging(["units": .number(Double(units)), "activation": .string(activation.rawValue),
                              "use_bias": .bool(useBias)]) { $1 }
    }
    public var endsInSoftmax: Bool { activation == .softmax }

    public func build(inputShapes: [[Int]], initializer: inout WeightInitializer) throws -> [Int] {
        let input = try requireSingleInput(inputShapes, rank: 1)
        guard units > 0 else { throw LayerError(layer: name, "units must be positive, got \(units)") }
        weights = [Weight(name: "kernel", value: initializer.glorotUniform([input[0], units]))]
        if useBias { weights.append(Weight(name: "bias", value: Tensor(zeros: [units]))) }
        return [units]
    }

    public func forward(_ inputs: [Tensor], context: RunContext) -> Tensor {
        let logits = context.backend.dense(inputs[0], kernel: weights[0].value, bias: useBias ? weights[1].value : nil)
        let output = activation.apply(logits, backend: context.backend)
        if context.keepsForBackward { (savedInput, savedOutput) = (inputs[0], output) }
        return output
    }

    public func backward(_ outputGradient: Tensor, context: RunContext) -> [Tensor] {
        guard let output = savedOutput else { preconditionFailure("\(name): backward without forward") }
        let logitGradient = activation.backward(output: output, outputGradient: outputGradient, backend: context.backend)
        return backward(logitGradient: logitGradient, context: context)
    }

    public func backward(logitGradient: Tensor, context: RunContext) -> [Tensor] {
        guard let input = savedInput else { preconditionFailure("\(name): backward without forward") }
        (savedInput, savedOutput) = (nil, nil)
        let gradients = context.backend.denseBackward(input, kernel: weights[0].value, outputGradient: logitGradient,
                                                      withBias: useBias)
        weights[0].gradient = gradients.kernel
        if useBias { weights[1].gradient = gradients.bias }
        return [gradients.input]
    }
}
