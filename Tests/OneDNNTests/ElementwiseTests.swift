import Tensors
import XCTest

final class ElementwiseTests: BackendComparisonCase {
    let shapes = [[2, 5, 7, 3], [4, 17], [1, 3, 3, 64], [1, 1]]

    func testReluIsExact() {
        for (index, shape) in shapes.enumerated() {
            let x = randomTensor(shape, seed: UInt64(index) * 10 + 1)
            assertClose(fast.relu(x), reference.relu(x), tolerance: 0, "relu \(shape)")
        }
    }

    func testReluBackwardIsExact() {
        for (index, shape) in shapes.enumerated() {
            let output = reference.relu(randomTensor(shape, seed: UInt64(index) * 10 + 2))
            let outputGradient = randomTensor(shape, seed: UInt64(index) * 10 + 3)
            assertClose(fast.reluBackward(output: output, outputGradient: outputGradient),
                        reference.reluBackward(output: output, outputGradient: outputGradient),
                        tolerance: 0, "reluBackward \(shape)")
        }
    }

    let softmaxShapes = [[4, 10], [1, 2], [3, 17], [2, 3, 3, 5]]

    func testSoftmaxMatchesReference() {
        for (index, shape) in softmaxShapes.enumerated() {
            // Logits well outside [-1, 1] exercise the max subtraction.
            let x = randomTensor(shape, seed: UInt64(index) * 10 + 4, in: -20...20)
            assertClose(fast.softmax(x), reference.softmax(x), tolerance: 1e-5, "softmax \(shape)")
        }
    }

    func testSoftmaxBackwardMatchesReference() {
        for (index, shape) in softmaxShapes.enumerated() {
            let output = reference.softmax(randomTensor(shape, seed: UInt64(index) * 10 + 5, in: -3...3))
            let outputGradient = randomTensor(shape, seed: UInt64(index) * 10 + 6)
            assertClose(fast.softmaxBackward(output: output, outputGradient: outputGradient),
                        reference.softmaxBackward(output: output, outputGradient: outputGradient),
                        tolerance: 1e-5, "softmaxBackward \(shape)")
        }
    }

    func testAddOfTwoIsExact() {
        for (index, shape) in shapes.enumerated() {
            let inputs = (0..<2).map { randomTensor(shape, seed: UInt64(index) * 10 + 7 + UInt64($0)) }
            assertClose(fast.add(inputs), reference.add(inputs), tolerance: 0, "add of 2 \(shape)")
        }
    }

    func testAddOfSeveralMatchesReference() {
        // The reference sums in Double and rounds once; Float sums round after every addition.
        for (index, shape) in shapes.enumerated() {
            let inputs = (0..<4).map { randomTensor(shape, seed: UInt64(index) * 10 + 20 + UInt64($0)) }
            assertClose(fast.add(inputs), reference.add(inputs), tolerance: 1e-6, "add of 4 \(shape)")
        }
    }

    let concatCases: [[[Int]]] = [
        [[2, 3, 3, 5], [2, 3, 3, 17], [2, 3, 3, 3]],
        [[1, 7, 7, 64], [1, 7, 7, 32]],
        [[4, 3], [4, 16], [4, 1]],
        [[1, 2, 2, 8]],
    ]

    func testConcatIsExact() {
        for (index, shapes) in concatCases.enumerated() {
            let inputs = shapes.enumerated().map { randomTensor($1, seed: UInt64(index) * 10 + 30 + UInt64($0)) }
            assertClose(fast.concat(inputs), reference.concat(inputs), tolerance: 0, "concat \(shapes)")
        }
    }

    func testConcatBackwardIsExact() {
        for (index, shapes) in concatCases.enumerated() {
            let channels = shapes.map { $0.last! }
            let outputShape = Array(shapes[0].dropLast()) + [channels.reduce(0, +)]
            let outputGradient = randomTensor(outputShape, seed: UInt64(index) * 10 + 40)
            let actual = fast.concatBackward(outputGradient: outputGradient, channels: channels)
            let expected = reference.concatBackward(outputGradient: outputGradient, channels: channels)
            XCTAssertEqual(actual.count, expected.count, "concatBackward \(shapes): piece count")
            for (piece, (a, e)) in zip(actual, expected).enumerated() {
                assertClose(a, e, tolerance: 0, "concatBackward \(shapes): piece \(piece)")
            }
        }
    }
}
