import Tensors
import XCTest

final class PrimitiveCacheTests: BackendComparisonCase {
    func testIdenticalCallsReuseTheirPrimitives() {
        let x = randomTensor([2, 8, 8, 5], seed: 1)
        let kernel = randomTensor([3, 3, 5, 7], seed: 2)
        let geometry = WindowGeometry(kernel: (3, 3), strides: (2, 2), padding: .same, inputHeight: 8, inputWidth: 8)
        func step() {
            let y = fast.conv2D(x, kernel: kernel, bias: nil, geometry: geometry)
            _ = fast.conv2DBackward(x, kernel: kernel, outputGradient: y, geometry: geometry, withBias: false, inputGradient: true)
            _ = fast.pool2DBackward(x, outputGradient: fast.pool2D(x, kind: .max, geometry: geometry), kind: .max,
                                    geometry: geometry)
            _ = fast.concatBackward(outputGradient: fast.concat([x, x]), channels: [5, 5])
        }
        step()
        let afterFirstStep = fast.cachedPrimitiveCount
        // conv forward, backward data, backward weights, and the 3 reorders of kernels into and out of the
        // layouts they chose; pool inference, training, backward; concat, 2 splits.
        XCTAssertEqual(afterFirstStep, 12)
        step()
        XCTAssertEqual(fast.cachedPrimitiveCount, afterFirstStep, "a repeated step created new primitives")

        _ = fast.conv2D(randomTensor([1, 8, 8, 5], seed: 3), kernel: kernel, bias: nil, geometry: geometry)
        XCTAssertEqual(fast.cachedPrimitiveCount, afterFirstStep + 2,
                       "a new batch size needs its own convolution (and kernel reorder into its layout)")
    }

    func testCachedPrimitivesComputeFreshResults() {
        let first = randomTensor([3, 11], seed: 4), second = randomTensor([3, 11], seed: 5)
        XCTAssertEqual(fast.softmax(first).scalars, fast.softmax(first).scalars)
        assertClose(fast.softmax(second), reference.softmax(second), tolerance: 1e-5, "softmax after reuse")
    }
}
