import Tensors
import XCTest

final class TensorTests: XCTestCase {
    func testStorageIs64ByteAlignedAndCopiedOnWrite() {
        let a = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        a.withUnsafeBufferPointer { XCTAssertEqual(Int(bitPattern: $0.baseAddress!) % 64, 0) }
        var b = a
        b[0] = 42
        XCTAssertEqual(a[0], 1, "a copy's write must not reach the original")
        XCTAssertEqual(b.scalars, [42, 2, 3, 4, 5, 6])
        let reshaped = b.reshaped([3, 2])
        XCTAssertEqual(reshaped.shape, [3, 2])
        XCTAssertEqual(reshaped.scalars, b.scalars)
    }

    func testMaxRelativeDifference() {
        let a = Tensor(shape: [3], scalars: [100, 0.5, -2])
        let b = Tensor(shape: [3], scalars: [101, 0.5, -2])
        XCTAssertEqual(a.maxRelativeDifference(to: b), 1 / 101, accuracy: 1e-7)
        XCTAssertTrue(Tensor(shape: [1], scalars: [.nan]).maxRelativeDifference(to: Tensor(zeros: [1])).isNaN)
    }

    /// TensorFlow's `same`: total = max((ceil(n/s)-1)*s + k - n, 0), the smaller half before.
    func testSamePaddingFollowsTensorFlow() {
        let evenStrideTwo = WindowGeometry(kernel: (3, 3), strides: (2, 2), padding: .same, inputHeight: 8, inputWidth: 7)
        XCTAssertEqual(evenStrideTwo.padding, Padding2D(top: 0, bottom: 1, left: 1, right: 1))
        XCTAssertEqual(evenStrideTwo.outputHeight(8), 4)
        XCTAssertEqual(evenStrideTwo.outputWidth(7), 4)
        let oneByOne = WindowGeometry(kernel: (1, 1), strides: (2, 2), padding: .same, inputHeight: 5, inputWidth: 5)
        XCTAssertEqual(oneByOne.padding, .zero)
        let valid = WindowGeometry(kernel: (7, 7), strides: (2, 2), padding: .valid, inputHeight: 230, inputWidth: 230)
        XCTAssertEqual(valid.outputHeight(230), 112)
    }

    /// Spot checks of the reference backend against values worked out by hand.
    func testReferenceBackendByHand() {
        let backend = ReferenceBackend()
        let x = Tensor(shape: [1, 2, 2, 1], scalars: [1, 2, 3, 4])
        let kernel = Tensor(shape: [2, 2, 1, 1], scalars: [1, 0, 0, -1])
        let conv = backend.conv2D(x, kernel: kernel, bias: Tensor(shape: [1], scalars: [10]),
                                  geometry: WindowGeometry(kernel: (2, 2), strides: (1, 1), padding: .zero))
        XCTAssertEqual(conv.scalars, [1 - 4 + 10])
        let pool = WindowGeometry(kernel: (2, 2), strides: (1, 1), padding: .same, inputHeight: 2, inputWidth: 2)
        XCTAssertEqual(backend.pool2D(x, kind: .average, geometry: pool).scalars, [2.5, 3, 3.5, 4], "padding not counted")
        XCTAssertEqual(backend.pool2D(x, kind: .max, geometry: pool).scalars, [4, 4, 4, 4])
        let bn = backend.batchNormTraining(Tensor(shape: [4, 1], scalars: [1, 2, 3, 6]), gamma: Tensor(shape: [1], scalars: [2]),
                                           beta: Tensor(shape: [1], scalars: [1]), epsilon: 0)
        XCTAssertEqual(bn.mean.scalars, [3])
        XCTAssertEqual(bn.variance.scalars, [3.5], "biased variance: (4 + 1 + 0 + 9) / 4")
        XCTAssertEqual(bn.output[3], 2 * 3 / Float(3.5).squareRoot() + 1, accuracy: 1e-6)
        XCTAssertEqual(backend.concat([x, x]).shape, [1, 2, 2, 2])
        XCTAssertEqual(backend.concat([x, x.reshaped([1, 2, 2, 1])]).scalars, [1, 1, 2, 2, 3, 3, 4, 4])
        let softmax = backend.softmax(Tensor(shape: [1, 2], scalars: [0, Float(log(3.0))]))
        XCTAssertEqual(softmax[0], 0.25, accuracy: 1e-6)
    }
}
