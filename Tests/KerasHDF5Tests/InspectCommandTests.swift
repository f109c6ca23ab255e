import Foundation
import XCTest

/// `bc-inspect`, run as a process from the build folder (SwiftPM builds it next to the test bundle).
final class InspectCommandTests: XCTestCase {
    func run(_ arguments: [String]) throws -> ProductRun { try runProduct("bc-inspect", arguments) }

    func testDescribesAKerasFileAndNamesTheArchitecture() throws {
        let exported = try KerasImportRefereeTests.exported.get()
        let result = try run([exported.appendingPathComponent("tfk_densenet201_w.h5").path])
        XCTAssertEqual(result.status, 0, result.errors)
        for line in ["format: Keras 2 weights (.h5, save_weights layout)", "keras_version: 2.21.0, backend: tensorflow",
                     "layers: 707, with weights: 401, weight arrays: 1004", "parameters: 18,321,984",
                     "architecture: looks like DenseNet201 notop", "conv1/conv", "conv1/conv/kernel:0 [7, 7, 3, 64]"] {
            XCTAssertTrue(result.output.contains(line), "missing '\(line)' in:\n\(result.output.prefix(2000))")
        }
        let tiny = try run(["--summary", fixture("k3_tiny_m.h5")])
        XCTAssertEqual(tiny.output, """
            file: \(fixture("k3_tiny_m.h5"))
            format: Keras full model (.h5, model.save layout)
            keras_version: 3.15.1, backend: tensorflow
            model_config: Functional 'tiny' with 8 layers
            training_config: loss categorical_crossentropy, optimizer Adam
            layers: 8, with weights: 4, weight arrays: 12
            parameters: 169
            architecture: matches no keras.applications backbone (ResNet50/101/152, DenseNet121/169/201)

            """)
    }

    func testBadFileGivesOneErrorLineAndFailureStatus() throws {
        let result = try run([fixture("tiny_X.npy")])
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.output, "")
        XCTAssertEqual(result.errors.split(separator: "\n").count, 1)
        XCTAssertTrue(result.errors.hasPrefix("bc-inspect: \(fixture("tiny_X.npy")): cannot open as an HDF5 file"), result.errors)
    }
}
