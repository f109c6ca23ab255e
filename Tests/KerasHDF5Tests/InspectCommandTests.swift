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

    /// Keras 3 `.weights.h5` files key layers by class and running index (`conv2d_3`), with no layer order across
    /// classes; summing parameters in storage-key order named no backbone for backbone + head files.
    func testNamesTheBackboneOfKeras3WeightsFilesWithAHead() throws {
        let folder = try temporaryFolder(self)
        let architectures = ["resnet50": "ResNet50", "resnet101": "ResNet101", "densenet121": "DenseNet121",
                             "densenet169": "DenseNet169"]
        try runPython("keras_hdf5_referee.py", ["head-weights", folder.path] + architectures.keys.sorted())
        for (arch, name) in architectures.sorted(by: { $0.key < $1.key }) {
            let result = try run(["--summary", folder.appendingPathComponent("k3_\(arch)_head.weights.h5").path])
            XCTAssertEqual(result.status, 0, result.errors)
            XCTAssertTrue(result.output.contains("format: Keras 3 weights (.weights.h5)\n"), result.output)
            XCTAssertTrue(result.output.hasSuffix("architecture: looks like \(name) + a head of 2 weighted layers: 2 classes\n"),
                          "\(arch):\n\(result.output)")
        }
    }

    /// A nonexistent file, a file that is not HDF5, and no file at all: one `bc-inspect: error: ` line each (naming
    /// the file), nothing on standard output, exit status 1, like the other tools.
    func testBadFileGivesOneErrorLineAndFailureStatus() throws {
        let folder = try temporaryFolder(self)
        let missing = folder.appendingPathComponent("missing.weights.h5").path
        let notHDF5 = folder.appendingPathComponent("notes.h5").path
        try Data("not an HDF5 file\n".utf8).write(to: URL(fileURLWithPath: notHDF5))
        for (arguments, fragment) in [([missing], "\(missing): no such file"), ([notHDF5], "\(notHDF5): cannot open as an HDF5 file"),
                                      ([], "Missing expected argument '<file>'")] {
            let result = try run(arguments)
            XCTAssertEqual(result.status, 1, "\(arguments)")
            XCTAssertEqual(result.output, "", "\(arguments)")
            XCTAssertEqual(result.errors.split(separator: "\n").count, 1, result.errors)
            XCTAssertTrue(result.errors.hasSuffix("\n"), result.errors)
            XCTAssertTrue(result.errors.hasPrefix("bc-inspect: error: \(fragment)"), result.errors)
        }
    }
}
