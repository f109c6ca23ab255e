import Tensors

/// Keras BatchNormalization over the last (channel) axis.
/// Training: normalise with the batch mean and biased variance (over all ranks' samples when the context has a
/// `crossRankSum`: synchronised batch norm), and move the moving statistics as
/// `moving = moving * momentum + batch * (1 - momentum)` (Keras 3 uses the biased variance here too;
/// tf_keras' fused kernel uses the unbiased one for 4-D inputs). Inference, or a frozen layer: moving statistics.
public final class BatchNormalization: CollectiveLayer, RecomputableKeptTensor {
    public let className = "BatchNormalization"
    public let name: String
    public var trainable = true
    public private(set) var weights: [Weight] = []
    public let momentum: Float
    public let epsilon: Float
    public let center: Bool
    public let scale: Bool
    private var inputRank = 0
    private var saved: Saved?

    /// What backward needs: the input and batch statistics (the input nil while a graph that recomputes it holds
    /// none), or (frozen layer in a training step) nothing but the fact that the moving statistics were used, which
    /// makes the layer an affine map per channel.
    private enum Saved {
        case batchStatistics(input: Tensor?, mean: Tensor, variance: Tensor)
        case movingStatistics
    }

    public init(momentum: Float = 0.99, epsilon: Float = 1e-3, center: Bool = true, scale: Bool = true, name: String) {
        (self.momentum, self.epsilon, self.center, self.scale, self.name) = (momentum, epsilon, center, scale, name)
    }

    public var config: [String: JSON] {
        baseConfig().merging([
            "axis": .ints(inputRank), "momentum": .number(Double(momentum)), "epsilon": .number(Double(epsilon)),
            "center": .bool(center), "scale": .bool(scale),
        ]) { $1 }
    }

    public func build(inputShapes: [[Int]], initializer: inout WeightInitializer) throws -> [Int] {
        guard inputShapes.count == 1, inputShapes[0].count == 1 || inputShapes[0].count == 3 else {
            throw LayerError(layer: name, "expects one input of shape (batch, features) or (batch, h, w, channels), got \(inputShapes)")
        }
        guard epsilon > 0, momentum >= 0, momentum <= 1 else {
            throw LayerError(layer: name, "needs epsilon > 0 and 0 <= momentum <= 1, got epsilon \(epsilon), momentum \(momentum)")
        }
        inputRank = inputShapes[0].count
        let channels = inputShapes[0].last!
        weights = []
        if scale { weights.append(Weight(name: "gamma", value: Tensor(shape: [channels], repeating: 1))) }
        if center { weights.append(Weight(name: "beta", value: Tensor(zeros: [channels]))) }
        weights.append(Weight(name: "moving_mean", value: Tensor(zeros: [channels]), isTrainableVariable: false))
        weights.append(Weight(name: "moving_variance", value: Tensor(shape: [channels], repeating: 1),
                              isTrainableVariable: false))
        return inputShapes[0]
    }

    private var gamma: Tensor { scale ? weight("gamma").value : Tensor(shape: [channels], repeating: 1) }
    private var beta: Tensor { center ? weight("beta").value : Tensor(zeros: [channels]) }
    private var channels: Int { weight("moving_mean").value.count }

    public func takesPartInCollectives(_ context: RunContext) -> Bool {
        context.training && trainable && context.crossRankSum != nil
    }

    public func forward(_ inputs: [Tensor], context: RunContext) -> Tensor {
        forward(inputs, context: context, thenReLU: false)
    }

    /// `forward`, then ReLU when `thenReLU` is set: the graph asks for it where a ReLU activation is the only reader
    /// of the output, and the backend then applies both in one pass (its backward stays the ReLU layer's and this
    /// one's: ReLU's needs only its own output).
    public func forward(_ inputs: [Tensor], context: RunContext, thenReLU: Bool) -> Tensor {
        let x = inputs[0], backend = context.backend
        func normalized(mean: Tensor, variance: Tensor) -> Tensor {
            thenReLU ? backend.batchNormReLUInference(x, gamma: gamma, beta: beta, mean: mean, variance: variance, epsilon: epsilon)
                     : backend.batchNormInference(x, gamma: gamma, beta: beta, mean: mean, variance: variance, epsilon: epsilon)
        }
        guard context.training && trainable else {
            if context.keepsForBackward { saved = .movingStatistics }
            return normalized(mean: weight("moving_mean").value, variance: weight("moving_variance").value)
        }
        let output: Tensor, mean: Tensor, variance: Tensor
        if let sumOverRanks = context.crossRankSum {
            (mean, variance) = globalStatistics(x, context: context, sumOverRanks: sumOverRanks)
            output = x.shape[0] == 0 ? x : normalized(mean: mean, variance: variance)
        } else {
            let result = backend.batchNormTraining(x, gamma: gamma, beta: beta, epsilon: epsilon)
            (output, mean, variance) = (thenReLU ? backend.relu(result.output) : result.output, result.mean, result.variance)
        }
        weight("moving_mean").value = moved(weight("moving_mean").value, toward: mean)
        weight("moving_variance").value = moved(weight("moving_variance").value, toward: variance)
        saved = .batchStatistics(input: x, mean: mean, variance: variance)
        return output
    }

    public func backward(_ outputGradient: Tensor, context: RunContext) -> [Tensor] {
        backward(outputGradient, reluOutput: nil, context: context)
    }

    /// Backward from the gradient at the output of the ReLU after this layer (`outputGradient`), given that ReLU's
    /// output: synchronised batch norm with batch statistics applies the ReLU's backward inside its own two passes,
    /// every other case runs the ReLU's backward first. The gradients are the same, bit for bit.
    public func backward(_ outputGradient: Tensor, reluOutput: Tensor?, context: RunContext) -> [Tensor] {
        guard let savedState = saved else { preconditionFailure("\(name): backward without training forward") }
        saved = nil
        let backend = context.backend
        func throughReLU() -> Tensor {
            reluOutput.map { backend.reluBackward(output: $0, outputGradient: outputGradient) } ?? outputGradient
        }
        guard case .batchStatistics(let keptInput, let mean, let variance) = savedState else {
            // Frozen: an affine map per channel.
            return [scaledByGammaOverDeviation(throughReLU(), variance: weight("moving_variance").value, backend: backend)]
        }
        guard let input = keptInput else { preconditionFailure("\(name): backward without its input given back") }
        guard let sumOverRanks = context.crossRankSum else {
            let gradients = backend.batchNormBackward(input, outputGradient: throughReLU(), gamma: gamma, mean: mean,
                                                      variance: variance, epsilon: epsilon)
            store(gammaGradient: gradients.gamma, betaGradient: gradients.beta)
            return [gradients.input]
        }
        // Synchronised: this rank's sums of dy and dy * x_hat (its weight gradients; the step sums those over ranks),
        // from its sums of dy and dy * x, as x_hat = (x - mean) / std. Then with the global sums,
        // dx = gamma / std * (dy - sum(dy) / M - x_hat * sum(dy * x_hat) / M), a per-channel map of dy and x
        // computed in one pass.
        let c = channels, means = mean.scalars, gammas = gamma.scalars, variances = variance.scalars
        let deviation = (0..<c).map { (Double(variances[$0]) + Double(epsilon)).squareRoot() }
        var sums = [Double](repeating: 0, count: 2 * c) + [Double(sampleCount(input))]
        if input.shape[0] > 0 {
            let local = backend.channelSums(input, outputGradient: outputGradient, reluOutput: reluOutput)
            for channel in 0..<c {
                sums[channel] = (local.second[channel] - Double(means[channel]) * local.first[channel]) / deviation[channel]
                sums[c + channel] = local.first[channel]
            }
        }
        store(gammaGradient: Tensor(shape: [c], scalars: sums[0..<c].map(Float.init)),
              betaGradient: Tensor(shape: [c], scalars: sums[c..<(2 * c)].map(Float.init)))
        sums.withUnsafeMutableBufferPointer { sumOverRanks($0) }
        guard input.shape[0] > 0 else { return [input] }
        let count = sums[2 * c]
        let factor = (0..<c).map { -Double(gammas[$0]) / deviation[$0] / count }
        let coefficients = ChannelCoefficients(scale: (0..<c).map { Float(Double(gammas[$0]) / deviation[$0]) },
                                               xScale: (0..<c).map { Float(factor[$0] * sums[$0] / deviation[$0]) },
                                               center: mean.scalars, offset: (0..<c).map { Float(factor[$0] * sums[c + $0]) })
        return [backend.channelwiseCombination(outputGradient: outputGradient, x: input, coefficients, reluOutput: reluOutput)]
    }

    /// Whether the last training forward pass normalised with batch statistics (not frozen) and kept its input.
    var keepsBatchStatistics: Bool {
        if case .batchStatistics(_?, _, _) = saved { return true }
        return false
    }

    /// The last training forward pass's output again (with the ReLU after it when `thenReLU`), from the input and
    /// batch statistics kept for backward: a graph that recomputes activations asks for it instead of keeping it.
    /// It equals the output forward returned, bit for bit.
    func recomputedOutput(thenReLU: Bool, backend: Backend) -> Tensor {
        guard case .batchStatistics(let input?, let mean, let variance) = saved else {
            preconditionFailure("\(name): no input and batch statistics kept to recompute the output from")
        }
        return thenReLU ? backend.batchNormReLUInference(input, gamma: gamma, beta: beta, mean: mean, variance: variance, epsilon: epsilon)
                        : backend.batchNormInference(input, gamma: gamma, beta: beta, mean: mean, variance: variance, epsilon: epsilon)
    }

    func releaseKeptTensor() -> Bool {
        guard case .batchStatistics(_?, let mean, let variance) = saved else { return false }
        saved = .batchStatistics(input: nil, mean: mean, variance: variance)
        return true
    }

    func restoreKeptTensor(_ tensor: Tensor) {
        guard case .batchStatistics(nil, let mean, let variance) = saved else { preconditionFailure("\(name): input given back twice") }
        saved = .batchStatistics(input: tensor, mean: mean, variance: variance)
    }

    /// dy * gamma / sqrt(variance + epsilon), per channel: the layer's affine map without its offsets (mean and
    /// beta zero), which the backend applies in whatever layout `dy` is in.
    private func scaledByGammaOverDeviation(_ outputGradient: Tensor, variance: Tensor, backend: Backend) -> Tensor {
        let zeros = Tensor(zeros: [channels])
        return backend.batchNormInference(outputGradient, gamma: gamma, beta: zeros, mean: zeros, variance: variance,
                                          epsilon: epsilon)
    }

    /// Mean and biased variance over the samples of all ranks, from one allreduce (in Double) of each rank's sample
    /// count, sum and sum of squares per channel. The variance is then E[x^2] - E[x]^2: sums of Float values in
    /// Double lose ~1e-16 x mean^2 / variance there, far below Float rounding unless a channel's mean is ~1e4 of its
    /// deviations.
    private func globalStatistics(_ x: Tensor, context: RunContext,
                                  sumOverRanks: (UnsafeMutableBufferPointer<Double>) -> Void) -> (Tensor, Tensor) {
        let c = channels
        let local = x.shape[0] == 0 ? ChannelSums(first: Array(repeating: 0, count: c), second: Array(repeating: 0, count: c))
            : context.backend.channelSums(x, outputGradient: nil, reluOutput: nil)
        var sums = local.first + local.second + [Double(sampleCount(x))]
        sums.withUnsafeMutableBufferPointer { sumOverRanks($0) }
        let total = sums[2 * c]
        let mean = (0..<c).map { sums[$0] / total }
        let variance = (0..<c).map { max(0, sums[c + $0] / total - mean[$0] * mean[$0]) }
        return (Tensor(shape: [c], scalars: mean.map(Float.init)), Tensor(shape: [c], scalars: variance.map(Float.init)))
    }

    /// Values per channel in `x`: batch times spatial positions.
    private func sampleCount(_ x: Tensor) -> Int { x.shape.dropLast().reduce(1, *) }

    private func store(gammaGradient: Tensor, betaGradient: Tensor) {
        if scale { weight("gamma").gradient = gammaGradient }
        if center { weight("beta").gradient = betaGradient }
    }

    private func moved(_ moving: Tensor, toward batch: Tensor) -> Tensor {
        let values = zip(moving.scalars, batch.scalars).map { $0 * momentum + $1 * (1 - momentum) }
        return Tensor(shape: moving.shape, scalars: values)
    }
}
