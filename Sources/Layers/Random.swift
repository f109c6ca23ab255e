import Tensors

/// Combines values into one seed, order-sensitive, the same in every process.
public func mixSeed(_ parts: UInt64...) -> UInt64 {
    var generator = SplitMix64(seed: 0x5EED)
    var result: UInt64 = 0
    for part in parts {
        generator = SplitMix64(seed: result ^ part &+ generator.next())
        result = generator.next()
    }
    return result
}

/// FNV-1a of a string's UTF-8 bytes: a stable per-name seed.
public func stableHash(_ text: String) -> UInt64 {
    text.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
}

/// Creates initial weight values as Keras' default initializers do (Glorot uniform kernels, zero biases),
/// from a seeded generator so that every rank builds the same model.
public struct WeightInitializer {
    private var generator: SplitMix64
    private var drawsValues = true
    public init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    /// Zero kernels, for a layer whose weights are set right after it is built (batch-norm folding): drawing
    /// ResNet50's 23 M random values only to overwrite them was most of the time it took to load a model.
    public static var placeholder: WeightInitializer {
        var initializer = WeightInitializer(seed: 0)
        initializer.drawsValues = false
        return initializer
    }

    /// Keras GlorotUniform: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)), where for a kernel of shape
    /// (..., in, out) fan_in = receptive field * in and fan_out = receptive field * out.
    public mutating func glorotUniform(_ shape: [Int]) -> Tensor {
        guard drawsValues else { return Tensor(zeros: shape) }
        let receptiveField = shape.dropLast(2).reduce(1, *)
        let fanIn = receptiveField * shape[shape.count - 2], fanOut = receptiveField * shape[shape.count - 1]
        let limit = (6 / Float(fanIn + fanOut)).squareRoot()
        let values = (0..<shape.reduce(1, *)).map { _ in (generator.nextUnitFloat() * 2 - 1) * limit }
        return Tensor(shape: shape, scalars: values)
    }
}
