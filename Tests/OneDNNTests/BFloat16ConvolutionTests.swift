import CDNNL
import OneDNN
import Tensors
import XCTest

/// `mixed_bfloat16` convolutions against the fp32 reference backend run on the same inputs rounded to bf16.
/// Products of two bf16 numbers are exact in fp32 and both sides accumulate in fp32, so they agree to fp32
/// rounding (not bf16's 3e-3): a convolution that dropped the conversion, rounded its output to bf16 or read a
/// wrong layout would fail by orders of magnitude more.
final class BFloat16ConvolutionTests: XCTestCase {
    let shapes: [(input: [Int], kernel: [Int], strides: (Int, Int))] = [
        ([2, 14, 14, 64], [3, 3, 64, 64], (1, 1)),   // ResNet's 3x3
        ([2, 14, 14, 64], [1, 1, 64, 256], (2, 2)),  // a strided 1x1 shortcut
        ([2, 9, 9, 40], [3, 3, 40, 24], (1, 1)),     // channels that fill no whole 16-block (DenseNet's growth)
        ([1, 20, 20, 3], [7, 7, 3, 16], (2, 2)),     // the RGB stem, on plain NHWC
    ]

    var hasBFloat16Instructions: Bool { OneDNNBackend.hasBFloat16Instructions }

    func testConvolutionsMultiplyInBFloat16AndAccumulateInFloat32() {
        let mixed = OneDNNBackend(threads: 2, precision: .mixedBFloat16), float32 = OneDNNBackend(threads: 2)
        let reference = ReferenceBackend()
        for (index, shape) in shapes.enumerated() {
            let seed = UInt64(index) * 10 + 100
            let geometry = WindowGeometry(kernel: (shape.kernel[0], shape.kernel[1]), strides: shape.strides,
                                          padding: .same, inputHeight: shape.input[1], inputWidth: shape.input[2])
            let x = randomTensor(shape.input, seed: seed + 1), kernel = randomTensor(shape.kernel, seed: seed + 2, in: -0.2...0.2)
            let bias = randomTensor([shape.kernel[3]], seed: seed + 3)
            let what = "\(shape.input) * \(shape.kernel)"

            let output = mixed.conv2D(x, kernel: kernel, bias: bias, geometry: geometry)
            let fullPrecision = float32.conv2D(x, kernel: kernel, bias: bias, geometry: geometry)
            let gradient = randomTensor(output.shape, seed: seed + 4)
            let gradients = mixed.conv2DBackward(x, kernel: kernel, outputGradient: gradient, geometry: geometry,
                                                 withBias: true, inputGradient: true)
            guard hasBFloat16Instructions else {
                // Without bf16 instructions oneDNN could only emulate them: the convolutions stay fp32.
                XCTAssertEqual(output.scalars, fullPrecision.scalars, "\(what): fp32 where bf16 is emulated")
                continue
            }
            let expected = reference.conv2D(x.roundedToBFloat16, kernel: kernel.roundedToBFloat16, bias: bias,
                                             geometry: geometry)
            XCTAssertLessThan(output.maxRelativeDifference(to: expected), 1e-5, "\(what): forward")
            XCTAssertGreaterThan(fullPrecision.maxRelativeDifference(to: output), 1e-4,
                                 "\(what): the bf16 kernel must really run (fp32 rounds otherwise)")
            XCTAssertLessThan(fullPrecision.maxRelativeDifference(to: output), 3e-2, "\(what): bf16 stays close to fp32")

            let wanted = reference.conv2DBackward(x.roundedToBFloat16, kernel: kernel.roundedToBFloat16,
                                                  outputGradient: gradient.roundedToBFloat16, geometry: geometry,
                                                  withBias: true, inputGradient: true)
            XCTAssertLessThan(gradients.input!.maxRelativeDifference(to: wanted.input!), 1e-5, "\(what): input gradient")
            XCTAssertLessThan(gradients.kernel.maxRelativeDifference(to: wanted.kernel), 1e-5, "\(what): kernel gradient")
            XCTAssertLessThan(gradients.bias!.maxRelativeDifference(to: wanted.bias!), 1e-5, "\(what): bias gradient")
        }
        let kernels = mixed.convolutionKernels
        print("mixed_bfloat16 convolution kernels on \(OneDNNBackend.instructionSet): \(kernels)")
        XCTAssertEqual(kernels.values.reduce(0, +), 3 * shapes.count, "forward, backward data, backward weights")
        if hasBFloat16Instructions {
            XCTAssertTrue(kernels.keys.allSatisfy { $0.hasSuffix(" bf16") }, "every convolution in bf16: \(kernels)")
        } else {
            XCTAssertTrue(kernels.keys.allSatisfy { $0.hasSuffix(" f32") }, "float32 where bf16 is emulated: \(kernels)")
        }
    }
}

extension Tensor {
    /// Each value rounded to the nearest bfloat16 (ties to even), as oneDNN converts fp32 to bf16.
    var roundedToBFloat16: Tensor {
        Tensor(shape: shape, scalars: scalars.map { value in
            let bits = value.bitPattern
            return Float(bitPattern: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000)
        })
    }
}
