import Tensors

/// Keras BatchNormalization over the last (channel) axis.
/// Training: normalise with the batch mean and biased variance, and move the moving statistics as
/// `moving = moving * momentum + batch * (1 - momentum)` (Keras 3 uses the biased variance here too;
/// tf_keras' fused kernel uses the unbiased one for 4-D inputs). Inference, or a frozen layer: moving statistics.
public final class BatchNormalization: Layer {
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

    /// What backward needs: the batch statistics, or (frozen layer in a training step) nothing but the
    /// fact that the moving statistics were used, which makes the layer an affine map per channel.
    private enum Saved {
        case batchStatistics(input: Tensor, mean: Tensor, variance: Tensor)
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

    public func forward(_ inputs: [Tensor], context: RunContext) -> Tensor {
        let movingMean = weight("moving_mean"), movingVariance = weight("moving_variance")
        guard context.training && trainable else {
            if context.training { saved = .movingStatistics }
            return context.backend.batchNormInference(inputs[0], gamma: gamma, beta: beta, mean: movingMean.value,
                                                      variance: movingVariance.value, epsilon: epsilon)
        }
        let result = context.backend.batchNormTraining(inputs[0], gamma: gamma, beta: beta, epsilon: epsilon)
        movingMean.value = moved(movingMean.value, toward: result.mean)
        movingVariance.value = moved(movingVariance.value, toward: result.variance)
        saved = .batchStatistics(input: inputs[0], mean: result.mean, variance: result.variance)
        return result.output
    }

    public func backward(_ outputGradient: Tensor, context: RunContext) -> [Tensor] {
        guard let savedState = saved else { preconditionFailure("\(name): backward without training forward") }
        saved = nil
        guard case .batchStatistics(let input, let mean, let variance) = savedState else {
            return [frozenInputGradient(outputGradient, backend: context.backend)]
        }
        let gradients = context.backend.batchNormBackward(input, outputGradient: outputGradient, gamma: gamma,
                                                          mean: mean, variance: variance, epsilon: epsilon)
        if scale { weight("gamma").gradient = gradients.gamma }
        if center { weight("beta").gradient = gradients.beta }
        return [gradients.input]
    }

    /// dy * gamma / sqrt(moving_variance + epsilon), per channel: the frozen layer's own affine map without its
    /// offsets (mean and beta zero), which the backend applies in whatever layout `dy` is in.
    private func frozenInputGradient(_ outputGradient: Tensor, backend: Backend) -> Tensor {
        let zeros = Tensor(zeros: [channels])
        return backend.batchNormInference(outputGradient, gamma: gamma, beta: zeros, mean: zeros,
                                          variance: weight("moving_variance").value, epsilon: epsilon)
    }

    private func moved(_ moving: Tensor, toward batch: Tensor) -> Tensor {
        let values = zip(moving.scalars, batch.scalars).map { $0 * momentum + $1 * (1 - momentum) }
        return Tensor(shape: moving.shape, scalars: values)
    }
}
