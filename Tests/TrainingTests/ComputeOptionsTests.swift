import Foundation
import OneDNN
import Training
import XCTest

/// `compute.convolution_algorithm`: direct by default (Keras' rounding), winograd or auto when asked, anything else
/// refused with the names allowed.
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
}
