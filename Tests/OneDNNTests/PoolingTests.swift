import Tensors
import XCTest

final class PoolingTests: BackendComparisonCase {
    let windows: [(input: [Int], geometry: WindowGeometry)] = [
        // TensorFlow pads 1 before and 1 after.
        window([2, 7, 7, 3], kernel: (3, 3), strides: (2, 2), .same),
        // Pads 0 before and 1 after.
        window([1, 8, 8, 5], kernel: (3, 3), strides: (2, 2), .same),
        window([2, 6, 9, 17], kernel: (2, 2), strides: (2, 2), .valid),
        window([1, 5, 5, 3], kernel: (3, 3), strides: (1, 1), .same),
        window([2, 9, 9, 16], kernel: (3, 3), strides: (2, 2), .valid),
        ([1, 6, 7, 3], WindowGeometry(kernel: (3, 2), strides: (1, 2),
                                      padding: Padding2D(top: 2, bottom: 0, left: 0, right: 1))),
    ]

    func testPoolingMatchesReference() {
        for kind in [PoolKind.max, .average] {
            for (index, window) in windows.enumerated() {
                let x = randomTensor(window.input, seed: UInt64(index) * 10 + 1)
                assertClose(fast.pool2D(x, kind: kind, geometry: window.geometry),
                            reference.pool2D(x, kind: kind, geometry: window.geometry),
                            tolerance: 1e-6, "pool2D \(kind) \(window.input) \(window.geometry)")
            }
        }
    }

    func testPoolingBackwardMatchesReference() {
        for kind in [PoolKind.max, .average] {
            for (index, window) in windows.enumerated() {
                let x = randomTensor(window.input, seed: UInt64(index) * 10 + 2)
                let outputShape = window.geometry.outputShape(window.input, window.input[3])
                let outputGradient = randomTensor(outputShape, seed: UInt64(index) * 10 + 3)
                assertClose(fast.pool2DBackward(x, outputGradient: outputGradient, kind: kind,
                                                geometry: window.geometry),
                            reference.pool2DBackward(x, outputGradient: outputGradient, kind: kind,
                                                     geometry: window.geometry),
                            tolerance: 1e-6, "pool2DBackward \(kind) \(window.input) \(window.geometry)")
            }
        }
    }

    /// A training pass keeps less than its input for backward, in either layout: max pooling oneDNN's workspace (a byte
    /// per output value), average pooling nothing. Its output is `pool2D`'s, and its backward the reference's (above,
    /// through the record).
    func testTrainingPassKeepsLessThanItsInput() {
        let cases = [PoolKind.max, .average].flatMap { kind in
            windows.indices.flatMap { index in [TensorLayout.plain, .channelsBlocked16].map { (kind, index, $0) } }
        }
        for (kind, index, layout) in cases {
            let window = windows[index]
            let x = randomTensor(window.input, seed: UInt64(index) * 10 + 8).converted(to: layout)
            let before = TensorStorage.liveBytes
            let (output, record) = fast.pool2DForTraining(x, kind: kind, geometry: window.geometry)
            let kept = TensorStorage.liveBytes - before - output.storageCount * MemoryLayout<Float>.stride
            let what = "\(kind) \(window.input) \(layout) \(window.geometry)"
            XCTAssertEqual(output.scalars, fast.pool2D(x, kind: kind, geometry: window.geometry).scalars, what)
            XCTAssertNil(record.kept as? Tensor, what)
            if kind == .max {
                XCTAssertLessThanOrEqual(kept, (output.storageCount + 3) / 4 * 4, what)
                XCTAssertGreaterThan(kept, 0, what)
            } else {
                XCTAssertEqual(kept, 0, what)
            }
        }
    }

    let globalShapes = [[2, 7, 7, 3], [1, 1, 1, 5], [3, 4, 6, 17], [2, 7, 7, 64]]

    func testGlobalAveragePoolMatchesReference() {
        for (index, shape) in globalShapes.enumerated() {
            let x = randomTensor(shape, seed: UInt64(index) * 10 + 4)
            assertClose(fast.globalAveragePool(x), reference.globalAveragePool(x), tolerance: 1e-6,
                        "globalAveragePool \(shape)")
        }
    }

    func testGlobalAveragePoolBackwardMatchesReference() {
        for (index, shape) in globalShapes.enumerated() {
            let outputGradient = randomTensor([shape[0], shape[3]], seed: UInt64(index) * 10 + 5)
            assertClose(fast.globalAveragePoolBackward(outputGradient: outputGradient, inputShape: shape,
                                                       inputLayout: .plain),
                        reference.globalAveragePoolBackward(outputGradient: outputGradient, inputShape: shape,
                                                            inputLayout: .plain),
                        tolerance: 1e-6, "globalAveragePoolBackward \(shape)")
        }
    }

    let paddings: [(input: [Int], padding: Padding2D)] = [
        ([2, 5, 6, 3], Padding2D(top: 3, bottom: 3, left: 3, right: 3)),
        ([1, 7, 7, 17], Padding2D(top: 1, bottom: 0, left: 0, right: 2)),
        ([2, 4, 3, 5], Padding2D(top: 0, bottom: 1, left: 0, right: 1)),
        ([1, 3, 3, 2], .zero),
    ]

    func testZeroPadIsExact() {
        for (index, c) in paddings.enumerated() {
            let x = randomTensor(c.input, seed: UInt64(index) * 10 + 6)
            assertClose(fast.zeroPad2D(x, padding: c.padding), reference.zeroPad2D(x, padding: c.padding),
                        tolerance: 0, "zeroPad2D \(c.input) \(c.padding)")
        }
    }

    func testZeroPadBackwardIsExact() {
        for (index, c) in paddings.enumerated() {
            let padded = [c.input[0], c.input[1] + c.padding.top + c.padding.bottom,
                          c.input[2] + c.padding.left + c.padding.right, c.input[3]]
            let outputGradient = randomTensor(padded, seed: UInt64(index) * 10 + 7)
            assertClose(fast.zeroPad2DBackward(outputGradient: outputGradient, padding: c.padding),
                        reference.zeroPad2DBackward(outputGradient: outputGradient, padding: c.padding),
                        tolerance: 0, "zeroPad2DBackward \(c.input) \(c.padding)")
        }
    }
}

private func window(_ input: [Int], kernel: (Int, Int), strides: (Int, Int),
                    _ padding: Padding) -> (input: [Int], geometry: WindowGeometry) {
    (input, WindowGeometry(kernel: kernel, strides: strides, padding: padding,
                           inputHeight: input[1], inputWidth: input[2]))
}
