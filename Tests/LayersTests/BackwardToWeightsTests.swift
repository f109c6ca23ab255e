import Layers
import OneDNN
import Tensors
import XCTest

/// A training step's backward skips the gradients that reach no weight (the stem convolution's input gradient,
/// through the zero padding to the image): the weight gradients are exactly those of the full backward.
final class BackwardToWeightsTests: XCTestCase {
    func testWeightGradientsEqualTheFullBackwardsAndTheStemSkipsItsInputGradient() throws {
        for backend in [ReferenceBackend(), OneDNNBackend(threads: 1)] as [Backend] {
            let builder = GraphBuilder(seed: 3)
            var x = try builder.input(shape: [12, 12, 3])
            x = try ZeroPadding2D(1, name: "pad")(x)
            x = try Conv2D(4, kernelSize: 3, strides: 2, name: "stem")(x)
            x = try BatchNormalization(name: "bn")(x)
            x = try Activation(.relu, name: "relu")(x)
            let shortcut = x
            x = try Conv2D(4, kernelSize: 3, padding: .same, name: "conv")(x)
            x = try Add(name: "add")([shortcut, x])
            x = try GlobalAveragePooling2D(name: "pool")(x)
            let model = try builder.build(output: try Dense(3, activation: .softmax, name: "out")(x), name: "small")
            let images = randomTensor([2, 12, 12, 3], seed: 4), labels = [0, 2]
            let context = RunContext(backend: backend, training: true)
            let loss = CategoricalCrossentropy()

            func gradients(_ backward: (Tensor) -> Void) throws -> [[Float]] {
                let probabilities = try model.forward(images, context: context)
                backward(loss.logitGradient(probabilities: probabilities, labels: labels, globalBatchSize: 2))
                return model.trainableWeights.map { $0.weight.gradient!.scalars }
            }
            let full = try gradients { model.backward(logitGradient: $0, context: context) }
            for (_, weight) in model.trainableWeights { weight.gradient = nil }
            let toWeights = try gradients { model.backwardToWeights(logitGradient: $0, context: context) }
            XCTAssertEqual(toWeights, full, backend.name)
            XCTAssertEqual(toWeights.count, 8)  // kernel and bias or gamma and beta of stem, bn, conv, out
        }
    }

    func testConvolutionBackwardWithoutInputGradient() {
        let x = randomTensor([2, 9, 9, 3], seed: 1), kernel = randomTensor([7, 7, 3, 8], seed: 2)
        let geometry = WindowGeometry(kernel: (7, 7), strides: (2, 2), padding: .same, inputHeight: 9, inputWidth: 9)
        let outputGradient = randomTensor([2, 5, 5, 8], seed: 3)
        for backend in [ReferenceBackend(), OneDNNBackend(threads: 1)] as [Backend] {
            let full = backend.conv2DBackward(x, kernel: kernel, outputGradient: outputGradient, geometry: geometry,
                                              withBias: true, inputGradient: true)
            let weightsOnly = backend.conv2DBackward(x, kernel: kernel, outputGradient: outputGradient, geometry: geometry,
                                                     withBias: true, inputGradient: false)
            XCTAssertNil(weightsOnly.input, backend.name)
            XCTAssertNotNil(full.input, backend.name)
            XCTAssertEqual(weightsOnly.kernel.scalars, full.kernel.scalars, backend.name)
            XCTAssertEqual(weightsOnly.bias?.scalars, full.bias?.scalars, backend.name)
        }
    }
}
