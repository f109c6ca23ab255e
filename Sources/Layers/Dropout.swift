import Tensors

/// Keras Dropout (inverted: kept values are scaled by 1 / (1 - rate); identity at inference).
/// Each sample's mask comes from its own key in `RunContext.sampleKeys` and the layer name, so a sample gets
/// the same mask however the global batch is split over ranks.
public final class Dropout: Layer {
    public let className = "Dropout"
    public let name: String
    public var trainable = true
    public let weights: [Weight] = []
    public let rate: Float
    private var savedMask: Tensor?

    public init(_ rate: Float, name: String) { (self.rate, self.name) = (rate, name) }

    public var config: [String: JSON] {
        baseConfig().merging(["rate": .number(Double(rate)), "noise_shape": nil, "seed": nil]) { $1 }
    }

    public func build(inputShapes: [[Int]], initializer: inout WeightInitializer) throws -> [Int] {
        guard inputShapes.count == 1 else { throw LayerError(layer: name, "expects 1 input, got \(inputShapes.count)") }
        guard rate >= 0, rate < 1 else { throw LayerError(layer: name, "rate must be in [0, 1), got \(rate)") }
        return inputShapes[0]
    }

    public func forward(_ inputs: [Tensor], context: RunContext) -> Tensor {
        guard context.training, rate > 0 else { return inputs[0] }
        let x = inputs[0], batch = x.shape[0], perSample = x.count / max(batch, 1)
        precondition(context.sampleKeys.count == batch,
                     "\(name): \(context.sampleKeys.count) sample keys for a batch of \(batch)")
        let keep = 1 / (1 - rate), layerSeed = stableHash(name)
        // Drawn in row-major order, so a sample's mask does not depend on the layout `x` arrives in.
        var mask = Tensor(uninitializedShape: x.shape)
        mask.withUnsafeMutableBufferPointer { values in
            for sample in 0..<batch {
                var generator = SplitMix64(seed: mixSeed(context.sampleKeys[sample], layerSeed))
                for i in 0..<perSample { values[sample * perSample + i] = generator.nextUnitFloat() < rate ? 0 : keep }
            }
        }
        let layoutMask = mask.converted(to: x.layout)
        savedMask = layoutMask
        return x.multiplied(elementwiseBy: layoutMask)
    }

    public func backward(_ outputGradient: Tensor, context: RunContext) -> [Tensor] {
        guard let mask = savedMask else { return [outputGradient] }  // rate 0: identity
        savedMask = nil
        return [outputGradient.multiplied(elementwiseBy: mask)]
    }
}
