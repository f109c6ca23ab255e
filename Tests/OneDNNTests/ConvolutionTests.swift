import Tensors
import XCTest

final class ConvolutionTests: BackendComparisonCase {
    struct Case {
        let input: [Int]
        let kernel: (Int, Int)
        let strides: (Int, Int)
        let outputChannels: Int
        let padding: Padding2D
        let withBias: Bool

        init(input: [Int], kernel: (Int, Int), strides: (Int, Int), outputChannels: Int, padding: Padding,
             withBias: Bool = true) {
            let geometry = WindowGeometry(kernel: kernel, strides: strides, padding: padding,
                                          inputHeight: input[1], inputWidth: input[2])
            self.init(input: input, kernel: kernel, strides: strides, outputChannels: outputChannels,
                      explicitPadding: geometry.padding, withBias: withBias)
        }

        init(input: [Int], kernel: (Int, Int), strides: (Int, Int), outputChannels: Int, explicitPadding: Padding2D,
             withBias: Bool = true) {
            (self.input, self.kernel, self.strides, self.outputChannels) = (input, kernel, strides, outputChannels)
            (self.padding, self.withBias) = (explicitPadding, withBias)
        }

        var geometry: WindowGeometry { WindowGeometry(kernel: kernel, strides: strides, padding: padding) }
        var kernelShape: [Int] { [kernel.0, kernel.1, input[3], outputChannels] }
    }

    let cases = [
        Case(input: [2, 7, 7, 3], kernel: (3, 3), strides: (1, 1), outputChannels: 5, padding: .same),
        // TensorFlow pads 0 before and 1 after here.
        Case(input: [1, 8, 8, 5], kernel: (3, 3), strides: (2, 2), outputChannels: 17, padding: .same),
        Case(input: [2, 9, 11, 17], kernel: (1, 1), strides: (2, 2), outputChannels: 16, padding: .valid,
             withBias: false),
        // The ResNet stem's shape on a small image: pads 2 before and 3 after.
        Case(input: [1, 16, 16, 3], kernel: (7, 7), strides: (2, 2), outputChannels: 8, padding: .same),
        Case(input: [1, 9, 9, 5], kernel: (3, 3), strides: (2, 2), outputChannels: 3, padding: .valid),
        Case(input: [2, 6, 6, 32], kernel: (1, 1), strides: (1, 1), outputChannels: 64, padding: .valid),
        Case(input: [2, 5, 6, 4], kernel: (3, 3), strides: (1, 1), outputChannels: 3,
             explicitPadding: Padding2D(top: 1, bottom: 0, left: 0, right: 2), withBias: false),
        Case(input: [1, 6, 5, 3], kernel: (1, 3), strides: (1, 2), outputChannels: 5, padding: .same),
    ]

    func testForwardMatchesReference() {
        for (index, c) in cases.enumerated() {
            let x = randomTensor(c.input, seed: UInt64(index) * 10 + 1)
            let kernel = randomTensor(c.kernelShape, seed: UInt64(index) * 10 + 2)
            let bias = c.withBias ? randomTensor([c.outputChannels], seed: UInt64(index) * 10 + 3) : nil
            assertClose(fast.conv2D(x, kernel: kernel, bias: bias, geometry: c.geometry),
                        reference.conv2D(x, kernel: kernel, bias: bias, geometry: c.geometry),
                        tolerance: 1e-5, "conv2D \(c.input) kernel \(c.kernelShape) \(c.geometry)")
        }
    }

    func testBackwardMatchesReference() {
        for (index, c) in cases.enumerated() {
            let x = randomTensor(c.input, seed: UInt64(index) * 10 + 4)
            let kernel = randomTensor(c.kernelShape, seed: UInt64(index) * 10 + 5)
            let outputShape = c.geometry.outputShape(c.input, c.outputChannels)
            let outputGradient = randomTensor(outputShape, seed: UInt64(index) * 10 + 6)
            let actual = fast.conv2DBackward(x, kernel: kernel, outputGradient: outputGradient, geometry: c.geometry,
                                             withBias: c.withBias, inputGradient: true)
            let expected = reference.conv2DBackward(x, kernel: kernel, outputGradient: outputGradient,
                                                    geometry: c.geometry, withBias: c.withBias, inputGradient: true)
            let what = "conv2DBackward \(c.input) kernel \(c.kernelShape) \(c.geometry)"
            assertClose(actual.input!, expected.input!, tolerance: 1e-5, "\(what): input gradient")
            assertClose(actual.kernel, expected.kernel, tolerance: 1e-5, "\(what): kernel gradient")
            XCTAssertEqual(actual.bias == nil, !c.withBias, "\(what): bias gradient presence")
            if let actualBias = actual.bias, let expectedBias = expected.bias {
                assertClose(actualBias, expectedBias, tolerance: 1e-5, "\(what): bias gradient")
            }
        }
    }
}

extension WindowGeometry {
    func outputShape(_ input: [Int], _ channels: Int) -> [Int] {
        [input[0], outputHeight(input[1]), outputWidth(input[2]), channels]
    }
}
