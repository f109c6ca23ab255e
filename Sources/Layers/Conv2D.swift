import Tensors

/// Keras Conv2D (channels_last, no dilation, groups 1): kernel (kh, kw, in, filters), optional bias.
public final class Conv2D: Layer, RecomputableKeptTensor {
    public let className = "Conv2D"
    public let name: String
    public var trainable = true
    public private(set) var weights: [Weight] = []
    public let filters: Int
    public let kernelSize: (Int, Int)
    public let strides: (Int, Int)
    public let padding: Padding
    public let useBias: Bool
    public let activation: Activation.Function
    private var geometry: WindowGeometry!
    private var savedInput: Tensor?
    private var savedOutput: Tensor?

    public convenience init(_ filters: Int, kernelSize: Int, strides: Int = 1, padding: Padding = .valid, useBias: Bool = true,
                activation: Activation.Function = .linear, name: String) {
        self.init(filters, kernelSize: (kernelSize, kernelSize), strides: (strides, strides), padding: padding,
                  useBias: useBias, activation: activation, name: name)
    }

    public init(_ filters: Int, kernelSize: (Int, Int), strides: (Int, Int), padding: Padding = .valid,
                useBias: Bool = true, activation: Activation.Function = .linear, name: String) {
        (self.filters, self.kernelSize, self.strides, self.padding) = (filters, kernelSize, strides, padding)
        (self.useBias, self.activation, self.name) = (useBias, activation, name)
    }

    public var config: [String: JSON] {
        baseConfig().merging([
            "filters": .number(Double(filters)), "kernel_size": .ints(kernelSize.0, kernelSize.1),
            "strides": .ints(strides.0, strides.1), "padding": .string(padding.rawValue),
            "data_format": "channels_last", "dilation_rate": .ints(1, 1), "groups": 1,
            "activation": .string(activation.rawValue), "use_bias": .bool(useBias),
        ]) { $1 }
    }

    public func build(inputShapes: [[Int]], initializer: inout WeightInitializer) throws -> [Int] {
        let input = try requireSingleInput(inputShapes, rank: 3)
        guard filters > 0, kernelSize.0 > 0, kernelSize.1 > 0, strides.0 > 0, strides.1 > 0 else {
            throw LayerError(layer: name, "filters, kernel_size and strides must be positive")
        }
        guard activation != .softmax else { throw LayerError(layer: name, "softmax activation is not supported on Conv2D") }
        geometry = WindowGeometry(kernel: kernelSize, strides: strides, padding: padding,
                                  inputHeight: input[0], inputWidth: input[1])
        let (height, width) = (geometry.outputHeight(input[0]), geometry.outputWidth(input[1]))
        guard height > 0, width > 0 else {
            throw LayerError(layer: name, "kernel \(kernelSize) with '\(padding.rawValue)' padding does not fit input \(input[0])x\(input[1])")
        }
        weights = [Weight(name: "kernel", value: initializer.glorotUniform([kernelSize.0, kernelSize.1, input[2], filters]))]
        if useBias { weights.append(Weight(name: "bias", value: Tensor(zeros: [filters]))) }
        return [height, width, filters]
    }

    public func forward(_ inputs: [Tensor], context: RunContext) -> Tensor {
        let convolved = context.backend.conv2D(inputs[0], kernel: weights[0].value, bias: useBias ? weights[1].value : nil,
                                               geometry: geometry)
        let output = activation.apply(convolved, backend: context.backend)
        // The output only when the activation's backward needs it: a linear one's would stay alive after its readers
        // are done (in a DenseNet, every block's new features beside the concatenation that copied them).
        if context.keepsForBackward { (savedInput, savedOutput) = (inputs[0], activation == .linear ? nil : output) }
        return output
    }

    /// A linear convolution of `x`, then `residual` added and a ReLU applied where `relu`, in one backend pass: the
    /// graph asks for it where the convolution's output is read only by an addition or a ReLU (in inference, once
    /// batch norm is folded into the convolutions). The layers after it still run their own passes' bookkeeping.
    public func forward(_ x: Tensor, adding residual: Tensor?, thenReLU relu: Bool, context: RunContext) -> Tensor {
        precondition(activation == .linear, "\(name): only a linear convolution runs fused with the layers after it")
        // Backward would need the sum's ReLU mask, which no layer keeps here.
        precondition(residual == nil || !context.keepsForBackward, "\(name): an addition runs fused only in inference")
        let output = context.backend.conv2D(x, kernel: weights[0].value, bias: useBias ? weights[1].value : nil,
                                            geometry: geometry, adding: residual, relu: relu)
        if context.keepsForBackward { (savedInput, savedOutput) = (x, nil) }
        return output
    }

    public func backward(_ outputGradient: Tensor, context: RunContext) -> [Tensor] {
        [backward(outputGradient, context: context, inputGradient: true)!]
    }

    /// The stem of a model needs no input gradient: its backward-data pass is the costliest of a ResNet step's
    /// convolutions at 224x224 (a 3-channel, 7x7 stride-2 transpose).
    public func weightGradients(_ outputGradient: Tensor, context: RunContext) {
        _ = backward(outputGradient, context: context, inputGradient: false)
    }

    private func backward(_ outputGradient: Tensor, context: RunContext, inputGradient: Bool) -> Tensor? {
        guard let input = savedInput else { preconditionFailure("\(name): backward without forward") }
        let output = savedOutput
        (savedInput, savedOutput) = (nil, nil)
        let preActivation = output.map { activation.backward(output: $0, outputGradient: outputGradient, backend: context.backend) }
            ?? outputGradient
        let gradients = context.backend.conv2DBackward(input, kernel: weights[0].value, outputGradient: preActivation,
                                                       geometry: geometry, withBias: useBias, inputGradient: inputGradient)
        weights[0].gradient = gradients.kernel
        if useBias { weights[1].gradient = gradients.bias }
        return gradients.input
    }

    func releaseKeptTensor() -> Bool {
        defer { savedInput = nil }
        return savedInput != nil
    }

    func restoreKeptTensor(_ tensor: Tensor) { savedInput = tensor }
}
