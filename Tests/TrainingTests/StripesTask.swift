import Layers
import Training
import Tensors

/// A generated two-class image task for the training sanity test:
/// noisy images with horizontal (class 0) or vertical (class 1) stripes of random phase and period.
/// Sample `i` of the task is a pure function of (seed, i), so any rank can make any sample.
struct StripesTask {
    let imageSize: Int
    let seed: UInt64

    init(imageSize: Int = 12, seed: UInt64 = 1) { (self.imageSize, self.seed) = (imageSize, seed) }

    func samples(_ indices: some Collection<Int>) -> (images: Tensor, labels: [Int]) {
        var values: [Float] = []
        values.reserveCapacity(indices.count * imageSize * imageSize * 3)
        var labels: [Int] = []
        for index in indices {
            var generator = SplitMix64(seed: mixSeed(seed, UInt64(index)))
            let label = Int(generator.next() % 2)
            let phase = Int(generator.next() % 4), period = 3 + Int(generator.next() % 3)
            for y in 0..<imageSize { for x in 0..<imageSize { for channel in 0..<3 {
                let stripe: Float = ((label == 0 ? y : x) + phase) % period == 0 ? 1 : 0
                values.append(stripe * Float(channel + 1) / 6 + (generator.nextUnitFloat() - 0.5) * 1.2)
            } } }
            labels.append(label)
        }
        return (Tensor(shape: [indices.count, imageSize, imageSize, 3], scalars: values), labels)
    }

    /// A small CNN for the task: conv-BN-ReLU, max pool, conv-ReLU, global average pool, softmax.
    func makeModel(seed: UInt64 = 3) throws -> Graph {
        let builder = GraphBuilder(seed: seed)
        var x = try builder.input(shape: [imageSize, imageSize, 3])
        x = try Conv2D(8, kernelSize: 3, padding: .same, name: "conv1")(x)
        x = try BatchNormalization(name: "bn1")(x)
        x = try Activation(.relu, name: "relu1")(x)
        x = try Pooling2D(.max, poolSize: 2, name: "pool1")(x)
        x = try Conv2D(16, kernelSize: 3, padding: .same, activation: .relu, name: "conv2")(x)
        x = try GlobalAveragePooling2D(name: "gap")(x)
        x = try Dense(2, activation: .softmax, name: "predictions")(x)
        return try builder.build(output: x, name: "stripes")
    }
}
