import Tensors
import XCTest

/// Every operation on activations in oneDNN's blocked layout, against the reference backend (which reads any
/// layout in plain order). Channel counts below, at and above a block of 16 exercise the zero padding.
final class BlockedLayoutTests: BackendComparisonCase {
    let channelCounts = [5, 16, 17, 35]
    let blocked = TensorLayout.channelsBlocked16

    /// An RGB image through a stem convolution (plain NHWC in and out), a convolution that reorders that output
    /// to the blocked layout, and one that stays blocked in and out, with 17 channels of padded blocks.
    /// Kernels are scaled as Glorot's are, so that activations keep unit scale along the chain.
    func testConvolutionOutputsStayBlockedThroughAChain() {
        func kernel(_ shape: [Int], seed: UInt64) -> Tensor {
            let limit = (3 / Float(shape.dropLast().reduce(1, *))).squareRoot()
            return randomTensor(shape, seed: seed, in: -limit...limit)
        }
        let image = randomTensor([2, 9, 9, 3], seed: 1)
        let stem = kernel([3, 3, 3, 16], seed: 2)
        let widen = kernel([1, 1, 16, 32], seed: 3), narrow = kernel([3, 3, 32, 17], seed: 4)
        let same = WindowGeometry(kernel: (3, 3), strides: (1, 1), padding: .same, inputHeight: 9, inputWidth: 9)
        let pointwise = WindowGeometry(kernel: (1, 1), strides: (1, 1), padding: .zero)

        let first = fast.conv2D(image, kernel: stem, bias: nil, geometry: same)
        assertLayout(first, .plain, "stem output")
        assertClose(first, reference.conv2D(image, kernel: stem, bias: nil, geometry: same), tolerance: 1e-5, "stem")
        let second = fast.conv2D(first, kernel: widen, bias: nil, geometry: pointwise)
        assertLayout(second, blocked, "output of a convolution of a plain input")
        assertClose(second, reference.conv2D(first, kernel: widen, bias: nil, geometry: pointwise), tolerance: 1e-5,
                    "convolution of a plain input")
        let third = fast.conv2D(second, kernel: narrow, bias: nil, geometry: same)
        assertLayout(third, blocked, "output of a convolution of a blocked input")
        assertClose(third, reference.conv2D(second, kernel: narrow, bias: nil, geometry: same), tolerance: 1e-5,
                    "convolution of a blocked input")

        for gradientLayout in [blocked, .plain] {
            let outputGradient = randomTensor(third.shape, seed: 5).converted(to: gradientLayout)
            let actual = fast.conv2DBackward(second, kernel: narrow, outputGradient: outputGradient, geometry: same,
                                             withBias: true, inputGradient: true)
            let expected = reference.conv2DBackward(second, kernel: narrow, outputGradient: outputGradient,
                                                    geometry: same, withBias: true, inputGradient: true)
            let what = "conv2DBackward, gradient \(gradientLayout)"
            assertLayout(actual.input!, blocked, "\(what): input gradient in the input's layout")
            assertClose(actual.input!, expected.input!, tolerance: 1e-5, "\(what): input gradient")
            assertClose(actual.kernel, expected.kernel, tolerance: 1e-5, "\(what): kernel gradient")
            assertClose(actual.bias!, expected.bias!, tolerance: 1e-5, "\(what): bias gradient")
        }
        let stemGradients = fast.conv2DBackward(image, kernel: stem, outputGradient: first, geometry: same,
                                                withBias: false, inputGradient: true)
        assertLayout(stemGradients.input!, .plain, "stem input gradient")
        assertClose(stemGradients.kernel, reference.conv2DBackward(image, kernel: stem, outputGradient: first,
                                                                   geometry: same, withBias: false, inputGradient: true).kernel,
                    tolerance: 1e-5, "stem kernel gradient")
    }

    func testConvolutionReordersInputsInOtherLayouts() {
        // A plain input of 32 channels is reordered to the primitive's layout; its gradient comes back plain.
        let x = randomTensor([1, 6, 6, 32], seed: 5), kernel = randomTensor([3, 3, 32, 5], seed: 6)
        let geometry = WindowGeometry(kernel: (3, 3), strides: (2, 2), padding: .same, inputHeight: 6, inputWidth: 6)
        let y = fast.conv2D(x, kernel: kernel, bias: nil, geometry: geometry)
        assertLayout(y, fast.convolutionLayouts(inputShape: x.shape, kernelShape: kernel.shape, geometry: geometry,
                                                withBias: false).output, "output")
        assertClose(y, reference.conv2D(x, kernel: kernel, bias: nil, geometry: geometry), tolerance: 1e-5, "forward")
        let outputGradient = randomTensor(y.shape, seed: 7)
        let actual = fast.conv2DBackward(x, kernel: kernel, outputGradient: outputGradient, geometry: geometry,
                                         withBias: false, inputGradient: true)
        let expected = reference.conv2DBackward(x, kernel: kernel, outputGradient: outputGradient, geometry: geometry,
                                                withBias: false, inputGradient: true)
        assertLayout(actual.input!, .plain, "input gradient in the input's layout")
        assertClose(actual.input!, expected.input!, tolerance: 1e-5, "input gradient")
        assertClose(actual.kernel, expected.kernel, tolerance: 1e-5, "kernel gradient")
    }

    func testElementwiseOnBlocked() {
        for (index, channels) in channelCounts.enumerated() {
            let seed = UInt64(index) * 20, shape = [2, 3, 4, channels]
            let x = randomTensor(shape, seed: seed + 1, in: -3...3).blocked
            let relu = fast.relu(x)
            assertLayout(relu, blocked, "relu \(shape)")
            assertClose(relu, reference.relu(x), tolerance: 0, "relu \(shape)")
            for gradientLayout in [blocked, .plain] {
                let gradient = randomTensor(shape, seed: seed + 2).converted(to: gradientLayout)
                let reluGradient = fast.reluBackward(output: relu, outputGradient: gradient)
                assertLayout(reluGradient, blocked, "reluBackward \(shape), gradient \(gradientLayout)")
                assertClose(reluGradient, reference.reluBackward(output: relu, outputGradient: gradient),
                            tolerance: 0, "reluBackward \(shape), gradient \(gradientLayout)")
            }

            let softmax = fast.softmax(x)
            assertLayout(softmax, blocked, "softmax \(shape)")
            assertClose(softmax, reference.softmax(x), tolerance: 1e-5, "softmax \(shape)")
            let softmaxGradient = randomTensor(shape, seed: seed + 3).blocked
            let softmaxInputGradient = fast.softmaxBackward(output: softmax, outputGradient: softmaxGradient)
            assertLayout(softmaxInputGradient, blocked, "softmaxBackward \(shape)")
            assertClose(softmaxInputGradient, reference.softmaxBackward(output: softmax, outputGradient: softmaxGradient),
                        tolerance: 1e-5, "softmaxBackward \(shape)")

            let other = randomTensor(shape, seed: seed + 4)
            for inputs in [[x, other.blocked], [x, other], [x, other.blocked, x]] {
                let what = "add \(shape) of \(inputs.map(\.layout))"
                let sum = fast.add(inputs)
                assertLayout(sum, blocked, what)
                assertClose(sum, reference.add(inputs), tolerance: inputs.count == 2 ? 0 : 1e-6, what)
            }
        }
    }

    func testConcatOfBlocked() {
        let cases: [[Int]] = [[32, 16], [17, 5], [5, 17, 16], [16, 3]]
        for (index, widths) in cases.enumerated() {
            let inputs = widths.enumerated().map {
                randomTensor([2, 3, 4, $1], seed: UInt64(index) * 10 + UInt64($0)).blocked
            }
            for layouts in [inputs.map { _ in blocked }, [blocked] + inputs.dropFirst().map { _ in .plain }] {
                let mixed = zip(inputs, layouts).map { $0.converted(to: $1) }
                let what = "concat \(widths) of \(layouts)"
                let joined = fast.concat(mixed)
                assertLayout(joined, blocked, what)
                assertClose(joined, reference.concat(mixed), tolerance: 0, what)
            }
            let outputGradient = randomTensor([2, 3, 4, widths.reduce(0, +)], seed: UInt64(index) * 10 + 9).blocked
            let pieces = fast.concatBackward(outputGradient: outputGradient, channels: widths)
            let expected = reference.concatBackward(outputGradient: outputGradient, channels: widths)
            XCTAssertEqual(pieces.count, widths.count)
            for (piece, (actual, wanted)) in zip(pieces, expected).enumerated() {
                assertLayout(actual, blocked, "concatBackward \(widths): piece \(piece)")
                assertClose(actual, wanted, tolerance: 0, "concatBackward \(widths): piece \(piece)")
            }
        }
    }

    func testZeroPadOfBlocked() {
        let padding = Padding2D(top: 1, bottom: 2, left: 3, right: 0)
        for (index, channels) in channelCounts.enumerated() {
            let x = randomTensor([2, 3, 4, channels], seed: UInt64(index) + 100).blocked
            let padded = fast.zeroPad2D(x, padding: padding)
            assertLayout(padded, blocked, "zeroPad2D \(channels) channels")
            assertClose(padded, reference.zeroPad2D(x, padding: padding), tolerance: 0, "zeroPad2D \(channels) channels")
            let outputGradient = randomTensor(padded.shape, seed: UInt64(index) + 110).blocked
            let gradient = fast.zeroPad2DBackward(outputGradient: outputGradient, padding: padding)
            assertLayout(gradient, blocked, "zeroPad2DBackward \(channels) channels")
            assertClose(gradient, reference.zeroPad2DBackward(outputGradient: outputGradient, padding: padding),
                        tolerance: 0, "zeroPad2DBackward \(channels) channels")
        }
    }

    func testBatchNormOnBlocked() {
        let epsilon: Float = 1e-3
        for (index, channels) in channelCounts.enumerated() {
            let seed = UInt64(index) * 10 + 200, shape = [3, 4, 5, channels]
            let x = randomTensor(shape, seed: seed, in: 0.5...2.5).blocked
            let gamma = randomTensor([channels], seed: seed + 1), beta = randomTensor([channels], seed: seed + 2)
            let actual = fast.batchNormTraining(x, gamma: gamma, beta: beta, epsilon: epsilon)
            let expected = reference.batchNormTraining(x, gamma: gamma, beta: beta, epsilon: epsilon)
            assertLayout(actual.output, blocked, "batchNormTraining \(shape)")
            assertClose(actual.output, expected.output, tolerance: 1e-4, "batchNormTraining \(shape): output")
            assertClose(actual.mean, expected.mean, tolerance: 1e-5, "batchNormTraining \(shape): mean")
            assertClose(actual.variance, expected.variance, tolerance: 1e-5, "batchNormTraining \(shape): variance")

            let inference = fast.batchNormInference(x, gamma: gamma, beta: beta, mean: expected.mean,
                                                    variance: expected.variance, epsilon: epsilon)
            assertLayout(inference, blocked, "batchNormInference \(shape)")
            assertClose(inference, reference.batchNormInference(x, gamma: gamma, beta: beta, mean: expected.mean,
                                                                variance: expected.variance, epsilon: epsilon),
                        tolerance: 1e-5, "batchNormInference \(shape)")

            for gradientLayout in [blocked, .plain] {
                let outputGradient = randomTensor(shape, seed: seed + 3).converted(to: gradientLayout)
                let what = "batchNormBackward \(shape), gradient \(gradientLayout)"
                let gradients = fast.batchNormBackward(x, outputGradient: outputGradient, gamma: gamma,
                                                       mean: expected.mean, variance: expected.variance,
                                                       epsilon: epsilon)
                let wanted = reference.batchNormBackward(x, outputGradient: outputGradient, gamma: gamma,
                                                         mean: expected.mean, variance: expected.variance,
                                                         epsilon: epsilon)
                assertLayout(gradients.input, blocked, what)
                assertClose(gradients.input, wanted.input, tolerance: 1e-4, "\(what): input gradient")
                assertClose(gradients.gamma, wanted.gamma, tolerance: 1e-4, "\(what): gamma gradient")
                assertClose(gradients.beta, wanted.beta, tolerance: 1e-5, "\(what): beta gradient")
            }
        }
    }

    func testPoolingOnBlocked() {
        for kind in [PoolKind.max, .average] {
            for (index, channels) in channelCounts.enumerated() {
                let input = [2, 7, 6, channels]
                let geometry = WindowGeometry(kernel: (3, 3), strides: (2, 2), padding: .same,
                                              inputHeight: input[1], inputWidth: input[2])
                let x = randomTensor(input, seed: UInt64(index) + 300).blocked
                let what = "pool2D \(kind) \(input)"
                let pooled = fast.pool2D(x, kind: kind, geometry: geometry)
                assertLayout(pooled, blocked, what)
                assertClose(pooled, reference.pool2D(x, kind: kind, geometry: geometry), tolerance: 1e-6, what)
                for gradientLayout in [blocked, .plain] {
                    let outputGradient = randomTensor(pooled.shape, seed: UInt64(index) + 310)
                        .converted(to: gradientLayout)
                    let gradient = fast.pool2DBackward(x, outputGradient: outputGradient, kind: kind, geometry: geometry)
                    assertLayout(gradient, blocked, "\(what) backward, gradient \(gradientLayout)")
                    assertClose(gradient, reference.pool2DBackward(x, outputGradient: outputGradient, kind: kind,
                                                                   geometry: geometry),
                                tolerance: 1e-6, "\(what) backward, gradient \(gradientLayout)")
                }
            }
        }
    }

    func testGlobalAveragePoolOfBlockedIsPlain() {
        for (index, channels) in channelCounts.enumerated() {
            let shape = [3, 4, 6, channels]
            let x = randomTensor(shape, seed: UInt64(index) + 400).blocked
            let pooled = fast.globalAveragePool(x)
            assertLayout(pooled, .plain, "globalAveragePool \(shape)")
            assertClose(pooled, reference.globalAveragePool(x), tolerance: 1e-6, "globalAveragePool \(shape)")
            let outputGradient = randomTensor([shape[0], channels], seed: UInt64(index) + 410)
            let gradient = fast.globalAveragePoolBackward(outputGradient: outputGradient, inputShape: shape,
                                                          inputLayout: blocked)
            assertLayout(gradient, blocked, "globalAveragePoolBackward \(shape)")
            assertClose(gradient, reference.globalAveragePoolBackward(outputGradient: outputGradient, inputShape: shape,
                                                                      inputLayout: blocked),
                        tolerance: 1e-6, "globalAveragePoolBackward \(shape)")
        }
    }
}
