import Layers
import Tensors

/// One training step of a small ResNet on fixed random data: forward, cross-entropy gradient, backward, Adam.
struct TrainingStepBenchmark {
    let model: Graph
    let images: Tensor
    let labels: [Int]
    let optimizer = Adam()

    init(batch: Int, imageSize: Int = 112, classes: Int = 10) throws {
        model = try Self.resNetStart(imageSize: imageSize, classes: classes)
        var random = SplitMix64(seed: 1)
        let shape = [batch, imageSize, imageSize, 3]
        images = Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in random.nextUnitFloat() - 0.5 })
        labels = (0..<batch).map { $0 % classes }
    }

    func step(backend: Backend) {
        let context = RunContext(backend: backend, training: true, sampleKeys: labels.indices.map { UInt64($0) })
        // Throws only for a batch of another shape than the model's input, which `images` cannot be.
        let probabilities = try! model.forward(images, context: context)
        let loss = CategoricalCrossentropy()
        model.backwardToWeights(logitGradient: loss.logitGradient(probabilities: probabilities, labels: labels,
                                                         globalBatchSize: labels.count), context: context)
        optimizer.apply(to: model.trainableWeights)
    }

    /// Keras' ResNet50 up to its first two bottleneck blocks (conv2_block1 with its projection shortcut,
    /// conv2_block2), then a classifier head.
    static func resNetStart(imageSize: Int, classes: Int) throws -> Graph {
        let builder = GraphBuilder(seed: 1)
        var x = try builder.input(shape: [imageSize, imageSize, 3])
        x = try ZeroPadding2D(3, name: "conv1_pad")(x)
        x = try Conv2D(64, kernelSize: 7, strides: 2, name: "conv1_conv")(x)
        x = try BatchNormalization(epsilon: 1.001e-5, name: "conv1_bn")(x)
        x = try Activation(.relu, name: "conv1_relu")(x)
        x = try ZeroPadding2D(1, name: "pool1_pad")(x)
        x = try Pooling2D(.max, poolSize: 3, strides: 2, name: "pool1_pool")(x)
        for block in 1...2 {
            let name = "conv2_block\(block)"
            var shortcut = x
            if block == 1 {
                shortcut = try Conv2D(256, kernelSize: 1, name: name + "_0_conv")(x)
                shortcut = try BatchNormalization(epsilon: 1.001e-5, name: name + "_0_bn")(shortcut)
            }
            var y = x
            for (index, (filters, kernel)) in [(64, 1), (64, 3), (256, 1)].enumerated() {
                y = try Conv2D(filters, kernelSize: kernel, padding: .same, name: "\(name)_\(index + 1)_conv")(y)
                y = try BatchNormalization(epsilon: 1.001e-5, name: "\(name)_\(index + 1)_bn")(y)
                if index < 2 { y = try Activation(.relu, name: "\(name)_\(index + 1)_relu")(y) }
            }
            x = try Add(name: name + "_add")([shortcut, y])
            x = try Activation(.relu, name: name + "_out")(x)
        }
        x = try GlobalAveragePooling2D(name: "avg_pool")(x)
        x = try Dense(classes, activation: .softmax, name: "predictions")(x)
        return try builder.build(output: x, name: "resnet50_conv2")
    }
}
