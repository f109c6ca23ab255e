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
        guard context.training, rate > 0 else {
            savedMask = nil  // backward of a pass without dropout (Grad-CAM) is the identity
            return inputs[0]
        }
        let x = inputs[0], batch = x.shape[0], perSample = x.count / max(batch, 1)
        precondition(context.sampleKeys.count == batch,
                     "\(name): \(context.sampleKeys.count) sample keys for a batch of \(batch)")
        var mask = Tensor(uninitializedShape: x.shape)
        mask.withUnsafeMutableBufferPointer { values in
            for sample in 0..<batch {
                for (i, value) in self.mask(sampleKey: context.sampleKeys[sample], count: perSample).enumerated() {
                    values[sample * perSample + i] = value
                }
            }
        }
        let layoutMask = mask.converted(to: x.layout)
        savedMask = layoutMask
        return x.multiplied(elementwiseBy: layoutMask)
    }

    /// One sample's mask over `count` values in row-major order (so it does not depend on the layout the input
    /// arrives in): 0 where dropped, 1 / (1 - rate) where kept, drawn from the sample's key and the layer's name.
    public func mask(sampleKey: UInt64, count: Int) -> [Float] {
        let keep = 1 / (1 - rate)
        var generator = SplitMix64(seed: mixSeed(sampleKey, stableHash(name)))
        return (0..<count).map { _ in generator.nextUnitFloat() < rate ? 0 : keep }
    }

    public func backward(_ outputGradient: Tensor, context: RunContext) -> [Tensor] {
        guard let mask = savedMask else { return [outputGradient] }  // rate 0: identity
        savedMask = nil
        return [outputGradient.multiplied(elementwiseBy: mask)]
    }
}
