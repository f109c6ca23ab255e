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

/// The one-pass input gradient of synchronised batch norm, in the plain and the blocked layout (with padded channel
/// blocks), against the formula computed element by element in Double; also through a ReLU's backward (dy zero where
/// the ReLU's output is not positive), as for a batch norm whose ReLU is fused.
final class ChannelwiseCombinationTests: BackendComparisonCase {
    func testCombinesEveryChannelInEitherLayoutAndKeepsPaddingZero() {
        for (index, shape) in [[2, 5, 7, 3], [1, 4, 4, 17], [3, 3, 3, 64], [8, 5]].enumerated() {
            let channels = shape.last!, seed = UInt64(index) * 10
            let dy = randomTensor(shape, seed: seed + 1), x = randomTensor(shape, seed: seed + 2, in: 0.5...2.5)
            let coefficients = ChannelCoefficients(scale: randomTensor([channels], seed: seed + 3).scalars,
                                                   xScale: randomTensor([channels], seed: seed + 4).scalars,
                                                   center: randomTensor([channels], seed: seed + 5, in: 0.5...2.5).scalars,
                                                   offset: randomTensor([channels], seed: seed + 6).scalars)
            // A ReLU's output (half of it zero), whose backward the combination applies to dy when given.
            let reluOutput = Tensor(shape: shape, scalars: randomTensor(shape, seed: seed + 7).scalars.map { max($0, 0) })
            let (dys, xs, ys) = (dy.scalars, x.scalars, reluOutput.scalars)
            func expected(masked: Bool) -> Tensor {
                Tensor(shape: shape, scalars: (0..<dy.count).map { i -> Float in
                    let c = i % channels, gradient = masked && ys[i] <= 0 ? 0 : Double(dys[i])
                    return Float(Double(coefficients.scale[c]) * gradient
                                 + Double(coefficients.xScale[c]) * (Double(xs[i]) - Double(coefficients.center[c]))
                                 + Double(coefficients.offset[c]))
                })
            }
            let layouts: [(TensorLayout, TensorLayout)] = shape.count == 4
                ? [(.plain, .plain), (.channelsBlocked16, .channelsBlocked16), (.channelsBlocked16, .plain)] : [(.plain, .plain)]
            for (gradientLayout, inputLayout) in layouts {
                for masked in [false, true] {
                    let what = "channelwiseCombination \(shape) \(gradientLayout) \(inputLayout)\(masked ? " through a ReLU" : "")"
                    let actual = fast.channelwiseCombination(outputGradient: dy.converted(to: gradientLayout), x: x.converted(to: inputLayout),
                                                             coefficients, reluOutput: masked ? reluOutput.converted(to: inputLayout) : nil)
                    // The gradient's layout; through a ReLU its output's, as the ReLU's own backward gives.
                    let layout = masked ? inputLayout : gradientLayout
                    XCTAssertEqual(actual.layout, layout, "\(what): the result's layout")
                    assertClose(actual, expected(masked: masked), tolerance: 1e-5, what)
                    if layout == .channelsBlocked16 { assertLayout(actual, .channelsBlocked16, what) }
                }
            }
            for masked in [false, true] {
                assertClose(reference.channelwiseCombination(outputGradient: dy, x: x, coefficients, reluOutput: masked ? reluOutput : nil),
                            expected(masked: masked), tolerance: 1e-5, "reference channelwiseCombination \(shape) \(masked)")
            }
        }
    }
}

/// Synchronised batch norm's per-rank sums (sum and sum of squares of x; sum of dy and of dy * x) in the plain and the
/// blocked layout (padded channel blocks contribute nothing), at 1 and 3 threads, against the sums computed element by
/// element in Double: the same values up to the order of Double additions; also through a ReLU's backward.
final class ChannelSumsTests: BackendComparisonCase {
    func testSumsEveryChannelInEitherLayout() {
        for (index, shape) in [[2, 5, 7, 3], [1, 4, 4, 17], [3, 3, 3, 64], [8, 5]].enumerated() {
            let channels = shape.last!, seed = UInt64(index) * 10
            let dy = randomTensor(shape, seed: seed + 1), x = randomTensor(shape, seed: seed + 2, in: 0.5...2.5)
            // A ReLU's output (half of it zero), whose backward the sums apply to dy when given.
            let reluOutput = Tensor(shape: shape, scalars: randomTensor(shape, seed: seed + 7).scalars.map { max($0, 0) })
            let (dys, xs, ys) = (dy.scalars.map(Double.init), x.scalars.map(Double.init), reluOutput.scalars)
            var statistics = ChannelSums(first: Array(repeating: 0, count: channels), second: Array(repeating: 0, count: channels))
            var gradients = statistics, maskedGradients = statistics
            for i in xs.indices {
                statistics.first[i % channels] += xs[i]
                statistics.second[i % channels] += xs[i] * xs[i]
                gradients.first[i % channels] += dys[i]
                gradients.second[i % channels] += dys[i] * xs[i]
                if ys[i] > 0 {
                    maskedGradients.first[i % channels] += dys[i]
                    maskedGradients.second[i % channels] += dys[i] * xs[i]
                }
            }
            func assertSame(_ actual: ChannelSums, _ expected: ChannelSums, _ message: String) {
                for (a, e) in [(actual.first, expected.first), (actual.second, expected.second)] {
                    XCTAssertEqual(a.count, channels, message)
                    for (value, wanted) in zip(a, e) { XCTAssertEqual(value, wanted, accuracy: 1e-12 * max(1, abs(wanted)), message) }
                }
            }
            let layouts: [(TensorLayout, TensorLayout)] = shape.count == 4
                ? [(.plain, .plain), (.channelsBlocked16, .channelsBlocked16), (.channelsBlocked16, .plain)] : [(.plain, .plain)]
            for (inputLayout, gradientLayout) in layouts {
                let (blockedX, blockedDy) = (x.converted(to: inputLayout), dy.converted(to: gradientLayout))
                let blockedReLUOutput = reluOutput.converted(to: inputLayout)
                assertSame(fast.channelSums(blockedX, outputGradient: nil, reluOutput: nil), statistics, "\(shape) \(inputLayout) statistics")
                assertSame(fast.channelSums(blockedX, outputGradient: blockedDy, reluOutput: nil), gradients,
                           "\(shape) \(inputLayout) \(gradientLayout) gradients")
                assertSame(fast.channelSums(blockedX, outputGradient: blockedDy, reluOutput: blockedReLUOutput), maskedGradients,
                           "\(shape) \(inputLayout) \(gradientLayout) gradients through a ReLU")
                if inputLayout == gradientLayout {
                    for threads in [1, 3] {
                        assertSame(Tensors.channelSums(blockedX, blockedDy, threads: threads), gradients, "\(shape) \(inputLayout) \(threads) threads")
                        assertSame(Tensors.channelSums(blockedX, blockedDy, reluOutput: blockedReLUOutput, threads: threads), maskedGradients,
                                   "\(shape) \(inputLayout) \(threads) threads through a ReLU")
                    }
                }
            }
            assertSame(reference.channelSums(x, outputGradient: dy, reluOutput: nil), gradients, "reference \(shape)")
            assertSame(reference.channelSums(x, outputGradient: dy, reluOutput: reluOutput), maskedGradients, "reference \(shape) through a ReLU")
        }
    }
}
