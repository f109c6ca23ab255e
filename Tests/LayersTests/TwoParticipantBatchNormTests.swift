import Foundation
import Layers
import OneDNN
import Tensors
import XCTest

/// Synchronised batch norm over two participants (two threads standing in for two ranks, each with half of
/// the batch) computes what one participant computes on the whole batch: outputs, input gradients, and weight
/// gradients once the two halves' are summed.
final class TwoParticipantBatchNormTests: XCTestCase {
    /// Sums two participants' values: each deposits, waits for the other, and takes the total.
    final class PairSum: @unchecked Sendable {
        private let condition = NSCondition()
        private var pending: [Double]?
        private var result: [Double]?
        private var generation = 0

        func sum(_ values: UnsafeMutableBufferPointer<Double>) {
            condition.lock()
            defer { condition.unlock() }
            if let other = pending {
                result = zip(other, values).map { $0 + $1 }
                pending = nil
                generation += 1
                condition.broadcast()
            } else {
                pending = Array(values)
                let waitingFor = generation + 1
                while generation < waitingFor { condition.wait() }
            }
            for i in values.indices { values[i] = result![i] }
        }
    }

    /// Largest difference relative to the largest magnitude of the expected values.
    func relativeDifference(_ actual: [Float], _ expected: [Float]) -> Float {
        zip(actual, expected).map { abs($0 - $1) }.max()! / max(expected.map(abs).max()!, 1e-30)
    }

    func makeModel(spatial: Int) throws -> Graph {
        let builder = GraphBuilder(seed: 4)
        var x = try builder.input(shape: [spatial, spatial, 16])
        let shortcut = try Conv2D(32, kernelSize: 1, name: "shortcut")(x)
        x = try Conv2D(32, kernelSize: 3, padding: .same, name: "conv")(x)
        x = try BatchNormalization(name: "bn")(x)
        x = try Activation(.relu, name: "relu")(try Add(name: "add")([shortcut, x]))
        x = try Conv2D(32, kernelSize: 1, name: "conv2")(x)
        x = try BatchNormalization(name: "bn2")(x)
        return try builder.build(output: x, name: "m")
    }

    func testTwoHalvesEqualTheWholeBatch() throws {
        try check(spatial: 3, split: [2, 2])
    }

    /// A short last step: one participant with 3 samples, the other with 1, at one pixel per sample.
    func testUnevenPartsOfOnePixelEqualTheWholeBatch() throws {
        try check(spatial: 1, split: [3, 1])
    }

    /// A rank without samples in a step still takes part in every sum; the other's result is the whole batch's.
    func testAnEmptyParticipantChangesNothing() throws {
        try check(spatial: 3, split: [4, 0])
    }

    func check(spatial: Int, split: [Int]) throws {
        for makeBackend in [{ ReferenceBackend() as Backend }, { OneDNNBackend(threads: 1) as Backend }] {
            let inShape = [4, spatial, spatial, 16], outShape = [4, spatial, spatial, 32]
            let perSample = (inShape.dropFirst().reduce(1, *), outShape.dropFirst().reduce(1, *))
            let starts = [0, split[0]]
            let input = randomTensor(inShape, seed: 8), probe = randomTensor(outShape, seed: 9)
            let whole = try makeModel(spatial: spatial)
            let backend = makeBackend()
            let context = RunContext(backend: backend, training: true, sampleKeys: (0..<inShape[0]).map { UInt64($0) })
            let output = try whole.forward(input, context: context).scalars
            let inputGradient = whole.backward(outputGradient: probe, context: context).scalars

            let pair = PairSum()
            let halves = [try makeModel(spatial: spatial), try makeModel(spatial: spatial)]
            // Each participant stores its results under the lock: two threads writing one array race.
            let lock = NSLock()
            var outputs = [[Float]](repeating: [], count: 2), inputGradients = outputs
            DispatchQueue.concurrentPerform(iterations: 2) { part in
                let backend = makeBackend()
                let context = RunContext(backend: backend, training: true, sampleKeys: (0..<split[part]).map { UInt64($0) },
                                         crossRankSum: pair.sum)
                let samples = starts[part]..<(starts[part] + split[part])
                let x = Tensor(shape: [split[part]] + inShape.dropFirst(),
                               scalars: Array(input.scalars[(samples.lowerBound * perSample.0)..<(samples.upperBound * perSample.0)]))
                let dy = Tensor(shape: [split[part]] + outShape.dropFirst(),
                                scalars: Array(probe.scalars[(samples.lowerBound * perSample.1)..<(samples.upperBound * perSample.1)]))
                let y = try! halves[part].forward(x, context: context).scalars
                let dx = halves[part].backward(outputGradient: dy, context: context).scalars
                lock.withLock { (outputs[part], inputGradients[part]) = (y, dx) }
            }
            let name = backend.name
            XCTAssertLessThan(relativeDifference(outputs[0] + outputs[1], output), 1e-4, "\(name) outputs")
            XCTAssertLessThan(relativeDifference(inputGradients[0] + inputGradients[1], inputGradient), 1e-4, "\(name) input gradients")
            for ((path, weight), (first, second)) in zip(whole.namedWeights, zip(halves[0].namedWeights, halves[1].namedWeights))
            where weight.isTrainableVariable {
                let summed = zip(first.weight.gradient!.scalars, second.weight.gradient!.scalars).map { $0 + $1 }
                // A bias right before batch norm has a true gradient of zero (batch norm removes any offset), so
                // its values are rounding noise: compare it absolutely.
                let difference = path.hasSuffix("conv/bias") || path.hasSuffix("conv2/bias")
                    ? zip(summed, weight.gradient!.scalars).map { abs($0 - $1) }.max()! : relativeDifference(summed, weight.gradient!.scalars)
                XCTAssertLessThan(difference, 1e-4, "\(name) \(path)")
            }
        }
    }
}
