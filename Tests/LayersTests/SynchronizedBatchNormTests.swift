import Layers
import OneDNN
import Tensors
import XCTest

/// Synchronised batch norm with a single participant must compute what plain batch norm computes: forward output,
/// moving statistics, input and weight gradients. Its statistics and weight-gradient sums are accumulated in Double,
/// while oneDNN's plain primitives accumulate in Float, so the weight gradients are compared with the reference
/// backend's plain batch norm (Double accumulation) as the truth: the synchronised path must be within 1e-4 of it, or
/// no further from it than the backend's plain path. (Measured: at inputs around 8, one pixel per sample, the
/// convolution kernel's gradient sums x * dy over values that cancel to ~1/14 of their magnitude; oneDNN's plain
/// path is then 4.0e-4 off the truth, the synchronised one 1.2e-4.)
final class SynchronizedBatchNormTests: XCTestCase {
    func testOneParticipantEqualsPlainBatchNorm() throws {
        try compare(inputShape: [5, 4, 16], batch: 3, offset: 0)
        // ResNet's last stage at 32x32 input: one pixel per sample, so only the batch carries the statistics;
        // inputs far from zero mean.
        try compare(inputShape: [1, 1, 64], batch: 24, offset: 8)
    }

    typealias Results = (output: Tensor, inputGradient: Tensor, weights: [Tensor])

    func run(_ backend: Backend, synchronised: Bool, inputShape: [Int], batch: Int, offset: Float) throws -> (Results, [String]) {
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
        return ((y, dx, model.namedWeights.map { $0.weight.gradient ?? $0.weight.value }), model.namedWeights.map(\.path))
    }

    func compare(inputShape: [Int], batch: Int, offset: Float) throws {
        let (truth, names) = try run(ReferenceBackend(), synchronised: false, inputShape: inputShape, batch: batch, offset: offset)
        for backend: Backend in [ReferenceBackend(), OneDNNBackend(threads: 1)] {
            let (plain, _) = try run(backend, synchronised: false, inputShape: inputShape, batch: batch, offset: offset)
            let (synced, _) = try run(backend, synchronised: true, inputShape: inputShape, batch: batch, offset: offset)
            assertClose(synced.output, plain.output, tolerance: 1e-5, "\(backend.name) output")
            assertClose(synced.inputGradient, plain.inputGradient, tolerance: 1e-4, "\(backend.name) input gradient")
            for (index, name) in names.enumerated() {
                // The conv bias feeds batch norm, which removes any offset: its true gradient is zero and the
                // computed one is rounding noise, compared absolutely.
                if name == "conv/bias" {
                    assertClose(synced.weights[index], plain.weights[index], tolerance: 1e-3, "\(backend.name) \(name)")
                    continue
                }
                let error = synced.weights[index].maxRelativeDifference(to: truth.weights[index])
                let plainError = plain.weights[index].maxRelativeDifference(to: truth.weights[index])
                XCTAssertLessThanOrEqual(error, max(1e-4, plainError),
                                         "\(backend.name) \(name): synchronised \(error) off the truth, plain \(plainError)")
            }
        }
    }
}
