import Layers
import Models
import OneDNN
import Tensors
import XCTest

/// Each layer of each architecture in `mixed_bfloat16` against the same layer in float32, forward and backward
/// through a whole training step, every layer fed the float32 model's inputs and output gradients (through a
/// deep network the two drift apart by bf16's rounding per layer, ~2e-3, compounded: 0.13 of the activations'
/// norm by ResNet50's conv4 at random initialisation, as in any bf16 network). Convolutions must be within
/// bf16's rounding of float32 and differ from it (the bf16 kernels run); every other layer (batch norm, pooling,
/// the head, softmax) must equal float32 exactly, as Keras' policy keeps them float32. On a CPU without bf16
/// instructions the convolutions stay float32 and must equal it too.
final class MixedPrecisionTests: XCTestCase {
    /// bf16's unit roundoff: 8 significant bits.
    let roundoff = 1.0 / 256

    func testEachLayerOfAMixedBFloat16TrainingStepIsWithinBFloat16RoundingOfFloat32() throws {
        let hasBFloat16 = OneDNNBackend.hasBFloat16Instructions
        for architecture in [Architecture.resnet50, .densenet121] {
            let float32 = try buildModel(architecture, inputShape: [32, 32, 3], head: .init(classes: 2), seed: 5)
            let mixed = try buildModel(architecture, inputShape: [32, 32, 3], head: .init(classes: 2), seed: 5)
            let keys = Array(UInt64(11)...18)
            let float32Context = RunContext(backend: OneDNNBackend(threads: 2), training: true, sampleKeys: keys)
            let mixedContext = RunContext(backend: OneDNNBackend(threads: 2, precision: .mixedBFloat16), training: true,
                                          sampleKeys: keys)
            var generator = SplitMix64(seed: 7)
            let images = Tensor(shape: [8, 32, 32, 3], scalars: (0..<(8 * 32 * 32 * 3)).map { _ in
                Float(generator.next() >> 40) / Float(1 << 24) * 2 - 1
            })
            var convolutions = 0, changedByBFloat16 = 0

            func compare(_ actual: Tensor, _ expected: Tensor, isConvolution: Bool, _ what: String) {
                let (actual, expected) = (actual.plain().scalars, expected.plain().scalars)
                guard isConvolution && hasBFloat16 else { return XCTAssertEqual(actual, expected, "\(architecture) \(what)") }
                XCTAssertLessThan(relativeError(actual, expected), 4 * roundoff, "\(architecture) \(what)")
                if actual != expected { changedByBFloat16 += 1 }
            }

            // Forward, each layer on the float32 model's inputs.
            var values = [Tensor?](repeating: nil, count: float32.nodes.count)
            values[0] = images
            for (index, (node, mixedNode)) in zip(float32.nodes, mixed.nodes).enumerated().dropFirst() {
                let inputs = node.inputs.map { values[$0]! }
                values[index] = node.layer.forward(inputs, context: float32Context)
                let isConvolution = node.layer is Conv2D
                convolutions += isConvolution ? 1 : 0
                compare(mixedNode.layer.forward(inputs, context: mixedContext), values[index]!, isConvolution: isConvolution,
                        "\(node.layer.name) forward")
            }

            // Backward, each layer from the float32 model's output gradient.
            let labels = [0, 1, 1, 0, 1, 0, 0, 1]
            let logitGradient = CategoricalCrossentropy().logitGradient(probabilities: values.last!!, labels: labels,
                                                                        globalBatchSize: 8)
            var gradients = [Tensor?](repeating: nil, count: float32.nodes.count)
            for index in stride(from: float32.nodes.count - 1, through: 1, by: -1) {
                let (node, mixedNode) = (float32.nodes[index], mixed.nodes[index])
                let expected: [Tensor], actual: [Tensor]
                if index == float32.nodes.count - 1, let output = node.layer as? SoftmaxOutputLayer,
                   let mixedOutput = mixedNode.layer as? SoftmaxOutputLayer {
                    expected = output.backward(logitGradient: logitGradient, context: float32Context)
                    actual = mixedOutput.backward(logitGradient: logitGradient, context: mixedContext)
                } else {
                    guard let outputGradient = gradients[index] else { continue }
                    expected = node.layer.backward(outputGradient, context: float32Context)
                    actual = mixedNode.layer.backward(outputGradient, context: mixedContext)
                    if node.layer is Conv2D, hasBFloat16, let bias = mixedNode.layer.weights.first(where: { $0.name == "bias" }) {
                        // Each bias gradient is a sum of output gradients, each rounded to bf16 on the mixed side.
                        let bound = channelAbsoluteSums(outputGradient).map { $0 * roundoff * 1.01 + 1e-9 }
                        let reference = node.layer.weights.first { $0.name == "bias" }!.gradient!.scalars
                        for (channel, (a, b)) in zip(bias.gradient!.scalars, reference).enumerated() {
                            XCTAssertLessThanOrEqual(Double(abs(a - b)), bound[channel], "\(node.layer.name) bias \(channel)")
                        }
                    }
                }
                let isConvolution = node.layer is Conv2D
                for (input, (gradient, reference)) in zip(node.inputs, zip(actual, expected)) {
                    if input > 0 { compare(gradient, reference, isConvolution: isConvolution, "\(node.layer.name) input gradient") }
                    gradients[input] = gradients[input].map { float32Context.backend.add([$0, reference]) } ?? reference
                }
                for (weight, reference) in zip(mixedNode.layer.weights, node.layer.weights) where weight.name != "bias" {
                    guard let gradient = weight.gradient, let expected = reference.gradient else { continue }
                    compare(gradient, expected, isConvolution: isConvolution, "\(node.layer.name)/\(weight.name) gradient")
                }
            }
            print("\(architecture): \(convolutions) convolutions, \(changedByBFloat16) results changed by bf16")
            if hasBFloat16 { XCTAssertGreaterThan(changedByBFloat16, 2 * convolutions, "\(architecture): the bf16 kernels run") }
        }
    }

    private func relativeError(_ actual: [Float], _ expected: [Float]) -> Double {
        let error = zip(actual, expected).reduce(0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
        let norm = expected.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        return error / max(norm, 1e-30)
    }

    /// Sum of |value| per channel (the last axis) of an NHWC tensor.
    private func channelAbsoluteSums(_ tensor: Tensor) -> [Double] {
        let channels = tensor.shape.last!
        var sums = [Double](repeating: 0, count: channels)
        for (index, value) in tensor.plain().scalars.enumerated() { sums[index % channels] += Double(abs(value)) }
        return sums
    }
}
