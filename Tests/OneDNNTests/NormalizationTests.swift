import Tensors
import XCTest

final class NormalizationTests: BackendComparisonCase {
    let shapes = [[2, 5, 7, 3], [1, 4, 4, 17], [8, 5], [3, 3, 3, 64], [1, 1, 1, 5]]
    let epsilon: Float = 1e-3

    func testTrainingMatchesReference() {
        for (index, shape) in shapes.enumerated() {
            let channels = shape.last!
            // An offset mean makes a one-pass variance lose precision, which this would catch.
            let x = randomTensor(shape, seed: UInt64(index) * 10 + 1, in: 0.5...2.5)
            let gamma = randomTensor([channels], seed: UInt64(index) * 10 + 2)
            let beta = randomTensor([channels], seed: UInt64(index) * 10 + 3)
            let actual = fast.batchNormTraining(x, gamma: gamma, beta: beta, epsilon: epsilon)
            let expected = reference.batchNormTraining(x, gamma: gamma, beta: beta, epsilon: epsilon)
            assertClose(actual.output, expected.output, tolerance: 1e-4, "batchNormTraining \(shape): output")
            assertClose(actual.mean, expected.mean, tolerance: 1e-5, "batchNormTraining \(shape): mean")
            assertClose(actual.variance, expected.variance, tolerance: 1e-5, "batchNormTraining \(shape): variance")
        }
    }

    func testInferenceMatchesReference() {
        for (index, shape) in shapes.enumerated() {
            let channels = shape.last!
            let x = randomTensor(shape, seed: UInt64(index) * 10 + 4)
            let gamma = randomTensor([channels], seed: UInt64(index) * 10 + 5)
            let beta = randomTensor([channels], seed: UInt64(index) * 10 + 6)
            let mean = randomTensor([channels], seed: UInt64(index) * 10 + 7)
            let variance = randomTensor([channels], seed: UInt64(index) * 10 + 8, in: 0.1...2)
            assertClose(fast.batchNormInference(x, gamma: gamma, beta: beta, mean: mean, variance: variance,
                                                epsilon: epsilon),
                        reference.batchNormInference(x, gamma: gamma, beta: beta, mean: mean, variance: variance,
                                                     epsilon: epsilon),
                        tolerance: 1e-5, "batchNormInference \(shape)")
        }
    }

    func testBackwardMatchesReference() {
        for (index, shape) in shapes.enumerated() {
            let channels = shape.last!
            let x = randomTensor(shape, seed: UInt64(index) * 10 + 9)
            let gamma = randomTensor([channels], seed: UInt64(index) * 10 + 10)
            let beta = randomTensor([channels], seed: UInt64(index) * 10 + 11)
            let outputGradient = randomTensor(shape, seed: UInt64(index) * 10 + 12)
            let statistics = reference.batchNormTraining(x, gamma: gamma, beta: beta, epsilon: epsilon)
            let actual = fast.batchNormBackward(x, outputGradient: outputGradient, gamma: gamma,
                                                mean: statistics.mean, variance: statistics.variance, epsilon: epsilon)
            let expected = reference.batchNormBackward(x, outputGradient: outputGradient, gamma: gamma,
                                                       mean: statistics.mean, variance: statistics.variance,
                                                       epsilon: epsilon)
            assertClose(actual.input, expected.input, tolerance: 1e-4, "batchNormBackward \(shape): input gradient")
            assertClose(actual.gamma, expected.gamma, tolerance: 1e-4, "batchNormBackward \(shape): gamma gradient")
            assertClose(actual.beta, expected.beta, tolerance: 1e-5, "batchNormBackward \(shape): beta gradient")
        }
    }
}
