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

final class TensorLayoutTests: XCTestCase {
    /// Plain row-major values 0, 1, 2, ... of `shape`.
    func counting(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map(Float.init))
    }

    func testBlockedRoundTripKeepsValuesAndZeroPadding() {
        for channels in [1, 5, 16, 17, 35] {
            let plain = counting([2, 3, 2, channels])
            let blocked = plain.converted(to: .channelsBlocked16)
            let padded = (channels + 15) / 16 * 16
            XCTAssertEqual(blocked.layout, .channelsBlocked16)
            XCTAssertEqual(blocked.shape, plain.shape)
            XCTAssertEqual(blocked.count, plain.count)
            XCTAssertEqual(blocked.storageCount, 2 * 3 * 2 * padded)
            blocked.withUnsafeStorage { storage in
                // nChw16c: (image, channel block, y, x, lane).
                for image in 0..<2 { for block in 0..<padded / 16 { for y in 0..<3 { for x in 0..<2 {
                    for lane in 0..<16 {
                        let stored = storage[(((image * (padded / 16) + block) * 3 + y) * 2 + x) * 16 + lane]
                        let channel = block * 16 + lane
                        let expected = channel < channels ? Float(((image * 3 + y) * 2 + x) * channels + channel) : 0
                        XCTAssertEqual(stored, expected,
                                       "\(channels) channels: image \(image) (\(y), \(x)) channel \(channel)")
                    }
                } } } }
            }
            XCTAssertEqual(blocked.scalars, plain.scalars, "scalars are row-major whatever the layout")
            XCTAssertEqual((0..<plain.count).map { blocked[$0] }, plain.scalars, "subscripts are row-major")
            let back = blocked.plain()
            XCTAssertEqual(back.layout, .plain)
            XCTAssertEqual(back.storageCount, plain.count)
            XCTAssertEqual(back.scalars, plain.scalars)
        }
    }

    func testPlainOrderAccessorsOnBlockedTensors() {
        let plain = counting([1, 2, 2, 17])
        var blocked = plain.converted(to: .channelsBlocked16)
        blocked[20] = -1
        XCTAssertEqual(blocked.layout, .channelsBlocked16, "a subscript write keeps the layout")
        XCTAssertEqual(blocked[20], -1)
        XCTAssertEqual(blocked.plain()[20], -1)
        XCTAssertEqual(blocked.maxRelativeDifference(to: plain), 21 / 20, "compares in row-major order: |-1 - 20| / 20")
        blocked.withUnsafeMutableBufferPointer { values in values[0] = 7 }
        XCTAssertEqual(blocked.layout, .plain, "mutable row-major access makes the tensor plain")
        XCTAssertEqual(Array(blocked.scalars.prefix(3)), [7, 1, 2])
        XCTAssertEqual(plain.converted(to: .channelsBlocked16).reshaped([4, 17]).scalars, plain.scalars)
    }

    func testElementwiseProductKeepsTheLayout() {
        let x = counting([2, 1, 3, 5]).converted(to: .channelsBlocked16)
        let factors = Tensor(shape: [2, 1, 3, 5], scalars: (0..<30).map { Float($0 % 3) })
        let product = x.multiplied(elementwiseBy: factors)
        XCTAssertEqual(product.layout, .channelsBlocked16)
        XCTAssertEqual(product.scalars, (0..<30).map { Float($0) * Float($0 % 3) })
        product.withUnsafeStorage { storage in
            XCTAssertEqual(storage.enumerated().filter { $0.offset % 16 >= 5 }.map(\.element).max(), 0,
                           "padding stays zero")
        }
        XCTAssertEqual(factors.multiplied(elementwiseBy: x).layout, .plain)
    }

    func testChannelPrefixInEitherLayout() {
        for (channels, width) in [(48, 32), (35, 16), (35, 20), (7, 3), (16, 0)] {
            let plain = counting([2, 3, 2, channels])
            let expected = (0..<2 * 3 * 2).flatMap { pixel in (0..<width).map { Float(pixel * channels + $0) } }
            let fromPlain = plain.channelPrefix(width)
            XCTAssertEqual(fromPlain.shape, [2, 3, 2, width])
            XCTAssertEqual(fromPlain.layout, .plain)
            XCTAssertEqual(fromPlain.scalars, expected, "\(channels) -> \(width), plain")
            let fromBlocked = plain.converted(to: .channelsBlocked16).channelPrefix(width)
            XCTAssertEqual(fromBlocked.layout, .channelsBlocked16)
            XCTAssertEqual(fromBlocked.scalars, expected, "\(channels) -> \(width), blocked")
            XCTAssertEqual(fromBlocked.storageCount, 2 * 3 * 2 * ((width + 15) / 16 * 16))
            let zeroPadded = fromBlocked.plain().converted(to: .channelsBlocked16)
            XCTAssertEqual(fromBlocked.withUnsafeStorage(Array.init), zeroPadded.withUnsafeStorage(Array.init),
                           "\(channels) -> \(width): the prefix's padding is zero")
        }
        XCTAssertEqual(counting([3, 5]).channelPrefix(2).scalars, [0, 1, 5, 6, 10, 11], "any rank, on the last axis")
    }
}
