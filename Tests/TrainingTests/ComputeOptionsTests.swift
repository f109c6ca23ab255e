import Foundation
import OneDNN
import Training
import XCTest

/// `compute.convolution_algorithm`: direct by default (Keras' rounding), winograd or auto when asked; `compute.precision`:
/// float32 by default, Keras' mixed_bfloat16 when asked. Anything else is refused with the names allowed.
final class ComputeOptionsTests: XCTestCase {
    func testConvolutionAlgorithmKey() throws {
        try withMinimalConfig { file in
            XCTAssertEqual(try TrainingConfig.load(from: file).compute.convolutionAlgorithm, .direct)
            for algorithm in ConvolutionAlgorithm.allCases {
                let config = try TrainingConfig.load(from: file, overrides: ["compute.convolution_algorithm=\(algorithm.rawValue)"])
                XCTAssertEqual(config.compute.convolutionAlgorithm, algorithm)
            }
            XCTAssertThrowsError(try TrainingConfig.load(from: file, overrides: ["compute.convolution_algorithm=fft"])) { error in
                XCTAssertEqual("\(error)", "\(file.path): compute.convolution_algorithm: is \"fft\"; allowed: direct, winograd, auto")
            }
        }
    }

    func testPrecisionKey() throws {
        try withMinimalConfig { file in
            XCTAssertEqual(try TrainingConfig.load(from: file).compute.precision, .float32)
            let mixed = try TrainingConfig.load(from: file, overrides: ["compute.precision=mixed_bfloat16"])
            XCTAssertEqual(mixed.compute.precision, .mixedBFloat16)
            XCTAssertEqual(try TrainingConfig.load(from: file, overrides: ["compute.precision=float32"]).compute.precision, .float32)
            XCTAssertThrowsError(try TrainingConfig.load(from: file, overrides: ["compute.precision=float16"])) { error in
                XCTAssertEqual("\(error)", "\(file.path): compute.precision: is \"float16\"; allowed: float32, mixed_bfloat16")
            }
        }
    }
}
