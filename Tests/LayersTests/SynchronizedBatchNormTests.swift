import Layers
import OneDNN
import Tensors
import XCTest

/// Synchronised batch norm with a single participant must compute exactly what plain batch norm computes:
/// forward output, moving statistics, input and weight gradients.
final class SynchronizedBatchNormTests: XCTestCase {
    func testOneParticipantEqualsPlainBatchNorm() throws {
        try compare(inputShape: [5, 4, 16], batch: 3, offset: 0)
        // ResNet's last stage at 32x32 input: one pixel per sample, so only the batch carries the statistics;
        // inputs far from zero mean.
        try compare(inputShape: [1, 1, 64], batch: 24, offset: 8)
    }

    func compare(inputShape: [Int], batch: Int, offset: Float) throws {
        for backend: Backend in [ReferenceBackend(), OneDNNBackend(threads: 1)] {
            var results: [(Tensor, Tensor, [Tensor])] = []
            var names: [String] = []
            for synchronised in [false, true] {
                let builder = GraphBuilder(seed: 4)
                var x = try builder.input(shape: inputShape)
                x = try Conv2D(32, kernelSize: 3, padding: .same, name: "conv")(x)
                x = try BatchNormalization(name: "bn")(x)
                let model = try builder.build(output: x, name: "m")
                let context = RunContext(backend: backend, training: true, sampleKeys: (0..<batch).map { UInt64($0) },
                                         crossRankSum: synchronised ? { _ in } : nil)
                let input = randomTensor([batch] + inputShape, seed: 8, in: (offset - 1)...(offset + 1))
                let y = try model.forward(input, context: context)
                let dx = model.backward(outputGradient: randomTensor([batch] + inputShape.dropLast() + [32], seed: 9), context: context)
                results.append((y, dx, model.namedWeights.map { $0.weight.gradient ?? $0.weight.value }))
                names = model.namedWeights.map(\.path)
            }
            assertClose(results[1].0, results[0].0, tolerance: 1e-5, "\(backend.name) output")
            assertClose(results[1].1, results[0].1, tolerance: 1e-4, "\(backend.name) input gradient")
            for (name, (synced, plain)) in zip(names, zip(results[1].2, results[0].2)) {
                // The conv bias feeds batch norm, which removes any offset: its true gradient is zero and the
                // computed one is rounding noise, compared absolutely.
                assertClose(synced, plain, tolerance: name == "conv/bias" ? 1e-3 : 1e-4, "\(backend.name) \(name)")
            }
        }
    }
}
