import Layers
import OneDNN
import Tensors
import XCTest

/// `Graph.recomputesActivations` (Pleiss et al.'s memory-efficient DenseNet): backward recomputes the batch norm +
/// ReLU outputs that convolutions read and the dense blocks' running concatenations instead of keeping them from
/// forward. The gradients must be those of a graph that keeps everything, bit for bit, in every batch-norm mode and
/// with the ReLUs fused or not, and a training step must hold less.
final class RecomputedActivationsTests: XCTestCase {
    /// Two dense blocks of three layers (growth 16, then 12: concatenations that end inside a channel block) with a
    /// transition between them, as Keras' DenseNet builds them.
    func makeModel() throws -> Graph {
        let builder = GraphBuilder(seed: 6)
        var x = try builder.input(shape: [12, 12, 3])
        x = try Conv2D(32, kernelSize: 3, padding: .same, useBias: false, name: "stem_conv")(x)
        x = try BatchNormalization(name: "stem_bn")(x)
        x = try Activation(.relu, name: "stem_relu")(x)
        for (block, growth) in [(1, 16), (2, 12)] {
            for layer in 1...3 {
                let name = "block\(block)_\(layer)"
                var y = try BatchNormalization(name: name + "_0_bn")(x)
                y = try Activation(.relu, name: name + "_0_relu")(y)
                y = try Conv2D(24, kernelSize: 1, useBias: false, name: name + "_1_conv")(y)
                y = try BatchNormalization(name: name + "_1_bn")(y)
                y = try Activation(.relu, name: name + "_1_relu")(y)
                y = try Conv2D(growth, kernelSize: 3, padding: .same, useBias: false, name: name + "_2_conv")(y)
                x = try Concatenate(name: name + "_concat")([x, y])
            }
            if block == 1 {
                x = try BatchNormalization(name: "pool_bn")(x)
                x = try Activation(.relu, name: "pool_relu")(x)
                x = try Conv2D(40, kernelSize: 1, useBias: false, name: "pool_conv")(x)
                x = try Pooling2D(.average, poolSize: 2, strides: 2, name: "pool_pool")(x)
            }
        }
        x = try BatchNormalization(name: "bn")(x)
        x = try Activation(.relu, name: "relu")(x)
        x = try GlobalAveragePooling2D(name: "avg_pool")(x)
        return try builder.build(output: try Dense(3, activation: .softmax, name: "predictions")(x), name: "dense")
    }

    func testGradientsAreThoseOfKeepingEverything() throws {
        var generator = SplitMix64(seed: 3)
        let images = Tensor(shape: [4, 12, 12, 3], scalars: (0..<1728).map { _ in Float(generator.next() >> 40) / Float(1 << 24) * 2 - 1 })
        let sumOverRanks: (UnsafeMutableBufferPointer<Double>) -> Void = { _ in }  // one rank: the sums are its own
        for backend in [OneDNNBackend(threads: 2), ReferenceBackend()] as [Backend] {
            for (mode, synchronised, frozen, fused) in [("batch statistics", false, false, true), ("synchronised", true, false, true),
                                                        ("frozen", false, true, true), ("ReLUs not fused", false, false, false)] {
                func run(recomputing: Bool) throws -> (output: [Float], gradients: [String: [Float]], moving: [[Float]], peakBytes: Int) {
                    let model = try makeModel()
                    model.recomputesActivations = recomputing
                    model.fusesReLU = fused
                    if frozen { for layer in model.layers where layer.name.hasPrefix("block1") { layer.trainable = false } }
                    var context = RunContext(backend: backend, training: true)
                    if synchronised { context.crossRankSum = sumOverRanks }
                    TensorStorage.resetPeakBytes()
                    let output = try model.forward(images, context: context)
                    // What a training step runs: backward as far as gradients reach weights.
                    model.backwardToWeights(logitGradient: CategoricalCrossentropy().logitGradient(
                        probabilities: output, labels: [0, 2, 1, 0], globalBatchSize: 4), context: context)
                    return (output.scalars, Dictionary(uniqueKeysWithValues: model.trainableWeights.map { ($0.path, $0.weight.gradient!.scalars) }),
                            model.namedWeights.filter { $0.path.contains("moving_") }.map { $0.weight.value.scalars }, TensorStorage.peakBytes)
                }
                let kept = try run(recomputing: false), recomputed = try run(recomputing: true)
                let what = "\(backend.name), \(mode)"
                XCTAssertEqual(recomputed.output, kept.output, "\(what): output")
                XCTAssertEqual(Set(recomputed.gradients.keys), Set(kept.gradients.keys), what)
                let differing = kept.gradients.keys.filter { recomputed.gradients[$0] != kept.gradients[$0] }.sorted()
                XCTAssertEqual(differing, [], "\(what): weight gradients")
                XCTAssertEqual(recomputed.moving, kept.moving, "\(what): moving statistics move once")
                if backend is OneDNNBackend && !frozen {
                    XCTAssertLessThan(Double(recomputed.peakBytes), 0.8 * Double(kept.peakBytes), "\(what): peak tensor bytes")
                }
            }
        }
    }
}
