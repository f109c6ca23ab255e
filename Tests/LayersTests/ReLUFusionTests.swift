import Layers
import OneDNN
import Tensors
import XCTest

/// A batch normalization or an addition followed by a ReLU that alone reads its output runs as one pass (oneDNN's
/// batch norm with the ReLU fused in, its binary addition with a ReLU post-op); the results must be those of the two
/// layers one after the other, bit for bit, in training (batch statistics, also summed over ranks as synchronised
/// batch norm does), in inference and with the layers frozen, and no separate ReLU may run for the fused pairs. In
/// backward, synchronised batch norm applies its ReLU's backward in its own passes: no separate ReLU backward runs
/// for that pair either.
final class ReLUFusionTests: XCTestCase {
    /// conv -> bn -> relu (fused) -> conv -> bn -> add(shortcut) -> relu (fused into the add) -> head; the first
    /// ReLU's output also feeds the shortcut, which does not stop its fusion (the batch norm's output has one reader).
    func makeModel() throws -> Graph {
        let builder = GraphBuilder(seed: 4)
        var x = try builder.input(shape: [10, 10, 3])
        x = try Conv2D(16, kernelSize: 3, padding: .same, name: "c1")(x)
        x = try BatchNormalization(name: "bn1")(x)
        x = try Activation(.relu, name: "relu1")(x)
        let shortcut = x
        x = try Conv2D(16, kernelSize: 3, padding: .same, name: "c2")(x)
        x = try BatchNormalization(name: "bn2")(x)
        x = try Add(name: "add")([shortcut, x])
        x = try Activation(.relu, name: "relu2")(x)
        x = try GlobalAveragePooling2D(name: "pool")(x)
        return try builder.build(output: try Dense(3, activation: .softmax, name: "out")(x), name: "fusion")
    }

    func testFusedReLUsEqualTheSeparateLayers() throws {
        var generator = SplitMix64(seed: 9)
        let images = Tensor(shape: [4, 10, 10, 3], scalars: (0..<1200).map { _ in Float(generator.next() >> 40) / Float(1 << 24) * 2 - 1 })
        let sumOverRanks: (UnsafeMutableBufferPointer<Double>) -> Void = { _ in }  // one rank: the sums are its own
        for backend in [OneDNNBackend(threads: 2), ReferenceBackend()] as [Backend] {
            for (mode, training, synchronised, frozen) in [("training", true, false, false), ("synchronised", true, true, false),
                                                           ("frozen", true, false, true), ("inference", false, false, false)] {
                func run(fused: Bool) throws -> (output: [Float], gradients: [[Float]], reluPrimitives: Int, reluBackwardPrimitives: Int) {
                    let model = try makeModel()
                    model.fusesReLU = fused
                    if frozen { for layer in model.layers where layer is BatchNormalization { layer.trainable = false } }
                    var context = RunContext(backend: backend, training: training)
                    if synchronised { context.crossRankSum = sumOverRanks }
                    let profiler = Profiler()
                    Profiler.current = profiler
                    defer { Profiler.current = nil }
                    let output = try model.forward(images, context: context)
                    func primitives(_ name: String) -> Int { profiler.events.filter { $0.category == "primitive" && $0.name == name }.count }
                    let relus = primitives("relu")
                    guard training else { return (output.scalars, [], relus, 0) }
                    model.backward(logitGradient: CategoricalCrossentropy().logitGradient(
                        probabilities: output, labels: [0, 2, 1, 0], globalBatchSize: 4), context: context)
                    return (output.scalars, model.trainableWeights.map { $0.weight.gradient!.scalars }, relus, primitives("reluBackward"))
                }
                let fused = try run(fused: true), separate = try run(fused: false)
                let what = "\(backend.name), \(mode)"
                XCTAssertEqual(fused.output, separate.output, "\(what): output")
                XCTAssertEqual(fused.gradients, separate.gradients, "\(what): weight gradients")
                if backend is OneDNNBackend {
                    XCTAssertEqual(separate.reluPrimitives, 2, "\(what): both ReLUs run on their own unfused")
                    // Batch norm with batch statistics outside synchronisation keeps oneDNN's training primitive and
                    // its own ReLU pass; every other ReLU is fused.
                    XCTAssertEqual(fused.reluPrimitives, mode == "training" ? 1 : 0, "\(what): fused ReLUs do not run apart")
                    if training {
                        XCTAssertEqual(separate.reluBackwardPrimitives, 2, "\(what): both ReLUs' backward run on their own unfused")
                        // The addition's ReLU keeps its own backward; so does batch norm's outside synchronisation.
                        XCTAssertEqual(fused.reluBackwardPrimitives, mode == "synchronised" ? 1 : 2, "\(what): ReLU backward fused")
                    }
                }
            }
        }
    }

    /// A ResNet block with a projection shortcut once batch norm is folded into its convolutions: conv -> relu, then
    /// the projection (a 1x1 conv) beside conv -> relu -> conv (1x1), added, then relu. Each convolution before a ReLU
    /// applies it as a post-op, and in inference the addition runs the later 1x1 convolution, adding the projection and
    /// applying its ReLU in the same pass.
    func makeModelWithoutBatchNorm() throws -> Graph {
        let builder = GraphBuilder(seed: 5)
        var x = try builder.input(shape: [10, 10, 3])
        x = try Conv2D(16, kernelSize: 3, padding: .same, name: "c1")(x)
        x = try Activation(.relu, name: "relu1")(x)
        let projection = try Conv2D(32, kernelSize: 1, name: "projection")(x)
        x = try Conv2D(16, kernelSize: 3, padding: .same, name: "c2")(x)
        x = try Activation(.relu, name: "relu2")(x)
        x = try Conv2D(32, kernelSize: 1, name: "c3")(x)
        x = try Add(name: "add")([projection, x])
        x = try Activation(.relu, name: "relu3")(x)
        x = try GlobalAveragePooling2D(name: "pool")(x)
        let model = try builder.build(output: try Dense(3, activation: .softmax, name: "out")(x), name: "folded")
        var generator = SplitMix64(seed: 12)
        for case let conv as Conv2D in model.layers {
            conv.weights[1].value = Tensor(shape: [conv.filters], scalars: (0..<conv.filters).map { _ in
                Float(generator.next() >> 40) / Float(1 << 24) - 0.5
            })
        }
        return model
    }

    func testConvolutionsRunWithTheirReLUAndAdditionInOnePass() throws {
        var generator = SplitMix64(seed: 10)
        let images = Tensor(shape: [4, 10, 10, 3], scalars: (0..<1200).map { _ in Float(generator.next() >> 40) / Float(1 << 24) * 2 - 1 })
        for backend in [OneDNNBackend(threads: 2), ReferenceBackend()] as [Backend] {
            for training in [false, true] {
                func run(fused: Bool) throws -> (output: [Float], gradients: [[Float]], forwardPrimitives: [String]) {
                    let model = try makeModelWithoutBatchNorm()
                    model.fusesIntoConvolutions = fused
                    let context = RunContext(backend: backend, training: training)
                    let profiler = Profiler()
                    Profiler.current = profiler
                    defer { Profiler.current = nil }
                    let output = try model.forward(images, context: context)
                    let forwardPrimitives = profiler.events.filter { $0.category == "primitive" }.map(\.name)
                    guard training else { return (output.scalars, [], forwardPrimitives) }
                    model.backward(logitGradient: CategoricalCrossentropy().logitGradient(
                        probabilities: output, labels: [0, 2, 1, 0], globalBatchSize: 4), context: context)
                    return (output.scalars, model.trainableWeights.map { $0.weight.gradient!.scalars }, forwardPrimitives)
                }
                let fused = try run(fused: true), separate = try run(fused: false)
                let what = "\(backend.name), \(training ? "training" : "inference")"
                XCTAssertEqual(fused.output, separate.output, "\(what): output")
                XCTAssertEqual(fused.gradients, separate.gradients, "\(what): weight gradients")
                guard backend is OneDNNBackend, OneDNNBackend.instructionSet.hasPrefix("avx512") else { continue }
                func count(_ name: String, _ primitives: [String]) -> Int { primitives.filter { $0 == name }.count }
                XCTAssertEqual(count("convolutionForward", separate.forwardPrimitives), 4, what)
                XCTAssertEqual(count("relu", separate.forwardPrimitives), 2, what)
                XCTAssertEqual(count("addReLU", separate.forwardPrimitives), 1, what)
                // c1 and c2 with their ReLUs; in inference also c3 with the addition and its ReLU (training keeps
                // the addition apart: its backward would need the sum's ReLU mask).
                XCTAssertEqual(count("convolutionForwardThen", fused.forwardPrimitives), training ? 2 : 3, what)
                XCTAssertEqual(count("convolutionForward", fused.forwardPrimitives), training ? 2 : 1, what)
                XCTAssertEqual(count("relu", fused.forwardPrimitives), 0, what)
                XCTAssertEqual(count("addReLU", fused.forwardPrimitives), training ? 1 : 0, what)
            }
        }
    }
}
