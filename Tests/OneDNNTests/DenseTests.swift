import Tensors
import XCTest

final class DenseTests: BackendComparisonCase {
    let cases: [(batch: Int, inputs: Int, outputs: Int, withBias: Bool)] = [
        (4, 17, 5, true), (1, 33, 10, true), (3, 2048, 7, false), (8, 3, 1, true), (2, 64, 48, true),
    ]

    func testForwardMatchesReference() {
        for (index, c) in cases.enumerated() {
            let x = randomTensor([c.batch, c.inputs], seed: UInt64(index) * 10 + 1)
            let kernel = randomTensor([c.inputs, c.outputs], seed: UInt64(index) * 10 + 2)
            let bias = c.withBias ? randomTensor([c.outputs], seed: UInt64(index) * 10 + 3) : nil
            assertClose(fast.dense(x, kernel: kernel, bias: bias), reference.dense(x, kernel: kernel, bias: bias),
                        tolerance: 1e-5, "dense \(c)")
        }
    }

    func testBackwardMatchesReference() {
        for (index, c) in cases.enumerated() {
            let x = randomTensor([c.batch, c.inputs], seed: UInt64(index) * 10 + 4)
            let kernel = randomTensor([c.inputs, c.outputs], seed: UInt64(index) * 10 + 5)
            let outputGradient = randomTensor([c.batch, c.outputs], seed: UInt64(index) * 10 + 6)
            let actual = fast.denseBackward(x, kernel: kernel, outputGradient: outputGradient, withBias: c.withBias)
            let expected = reference.denseBackward(x, kernel: kernel, outputGradient: outputGradient,
                                                   withBias: c.withBias)
            assertClose(actual.input, expected.input, tolerance: 1e-5, "denseBackward \(c): input gradient")
            assertClose(actual.kernel, expected.kernel, tolerance: 1e-5, "denseBackward \(c): kernel gradient")
            XCTAssertEqual(actual.bias == nil, !c.withBias, "denseBackward \(c): bias gradient presence")
            if let actualBias = actual.bias, let expectedBias = expected.bias {
                assertClose(actualBias, expectedBias, tolerance: 1e-5, "denseBackward \(c): bias gradient")
            }
        }
    }
}
