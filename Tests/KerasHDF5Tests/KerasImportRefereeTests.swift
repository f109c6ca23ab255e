import Foundation
import KerasHDF5
import Layers
import Models
import OneDNN
import Tensors
import XCTest

/// Keras -> bc-train: Tests/Python/keras_hdf5_referee.py builds keras.applications ResNet50 and DenseNet201
/// (include_top=False, 64x64) with seeded random weights and random BN statistics, and saves them with tf_keras
/// (`save_weights` .h5, DenseNet stem named `conv1/conv`), Keras 3 (`model.save` .h5) and Keras 3
/// (`save_weights` .weights.h5). bc-train imports each into `buildModel` and must compute Keras' backbone outputs.
final class KerasImportRefereeTests: XCTestCase {
    static let architectures: [(Architecture, String)] = [(.resnet50, "resnet50"), (.densenet201, "densenet201")]

    /// The referee runs once per test process (other test classes use its files too); its folder (~500 MB) is
    /// removed when the test bundle finishes.
    static let exported: Result<URL, Error> = Result {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bc-kerashdf5-export-\(getpid())")
        XCTestObservationCenter.shared.addTestObserver(FolderRemover(folder: folder))
        try runPython("keras_hdf5_referee.py", ["export", folder.path] + architectures.map(\.1))
        return folder
    }

    let backend = OneDNNBackend(threads: 2)

    func exportedFile(_ name: String) throws -> String { try Self.exported.get().appendingPathComponent(name).path }

    func checkBackbone(_ architecture: Architecture, _ name: String, weightedLayers: Int) throws {
        let input = try readNumpy(URL(fileURLWithPath: try exportedFile("x.npy")))
        let expected = try readNumpy(URL(fileURLWithPath: try exportedFile("\(name)_features.npy")))
        let model = try buildModel(architecture, inputShape: [64, 64, 3], head: nil, seed: 1)
        let files = ["tfk_\(name)_w.h5", "k3_\(name)_m.h5", "k3_\(name).weights.h5"]
        for file in files {
            for options in [WeightImportOptions(), WeightImportOptions(byName: true)] {
                let path = try exportedFile(file)
                let fresh = try buildModel(architecture, inputShape: [64, 64, 3], head: nil, seed: 2)
                for (target, source) in zip(model.namedWeights, fresh.namedWeights) { target.weight.value = source.weight.value }
                let report = try importWeights(fromFile: path, into: model, options: options)
                XCTAssertEqual(report.loaded.count, weightedLayers, "\(file) \(options)")
                XCTAssertEqual(report.notInFile, [], "\(file) \(options)")
                let features = try model.forward(input, context: RunContext(backend: backend, training: false))
                assertClose(features, expected, tolerance: 1e-4, "\(file) \(options)")
                print("\(file) byName=\(options.byName): max relative difference \(features.maxRelativeDifference(to: expected))")
            }
            let description = try KerasWeightsFile.read(try exportedFile(file)).architectureDescription
            XCTAssertEqual(description, "looks like \(architecture.kerasName) notop", file)
        }
        // The Keras 3 full-model file also describes the model: build it from its model_config.
        let loaded = try loadKerasModel(try exportedFile("k3_\(name)_m.h5"), seed: 4).graph
        XCTAssertEqual(loaded.parameterCount, model.parameterCount)
        assertClose(try loaded.forward(input, context: RunContext(backend: backend, training: false)), expected, tolerance: 1e-4,
                    "model built from k3_\(name)_m.h5")
    }

    func testResNet50FromTfKerasAndKeras3Files() throws {
        try checkBackbone(.resnet50, "resnet50", weightedLayers: 106)
    }

    func testDenseNet201FromTfKerasAndKeras3Files() throws {
        try checkBackbone(.densenet201, "densenet201", weightedLayers: 401)
    }

    /// A notop backbone file into backbone + head: every backbone array comes from the file, the head keeps its
    /// initial values.
    func testNotopFileLoadsTheBackboneOfAModelWithHead() throws {
        let tfKerasFile = try KerasWeightsFile.read(try exportedFile("tfk_resnet50_w.h5"))
        for name in ["tfk_resnet50_w.h5", "k3_resnet50.weights.h5"] {
            let model = try buildModel(.resnet50, inputShape: [64, 64, 3], head: HeadOptions(classes: 2), seed: 3)
            let initialHead = model.layer(named: "predictions")!.weights.map(\.value.scalars)
            let report = try importWeights(fromFile: try exportedFile(name), into: model)
            XCTAssertEqual(report.loaded.count, 106, name)
            XCTAssertEqual(report.notInFile, ["bn_head", "predictions"], name)
            XCTAssertEqual(model.layer(named: "predictions")!.weights.map(\.value.scalars), initialHead, name)
            let modelWeighted = kerasLayerOrder(model).filter { !$0.weights.isEmpty }
            for (fileLayer, layer) in zip(tfKerasFile.weightedLayers, modelWeighted) {
                XCTAssertEqual(fileLayer.weights.map(\.value.scalars), layer.weights.map(\.value.scalars), "\(name) \(layer.name)")
            }
        }
        let path = try exportedFile("tfk_resnet50_w.h5")
        let densenet = try buildModel(.densenet201, inputShape: [64, 64, 3], head: HeadOptions(classes: 2), seed: 3)
        assertThrows([path, "layer count mismatch", "106 weighted layers (looks like ResNet50 notop)",
                      "has 403 (looks like DenseNet201 + a head of 2 weighted layers: 2 classes)", "not a prefix"]) {
            try importWeights(fromFile: path, into: densenet)
        }
    }

    /// fixtures/tfk_tiny_m_legacyadam.h5 holds a separately trained tiny model; tf_keras' predictions of it come
    /// from the referee.
    func testLegacyAdamFixtureMatchesTfKeras() throws {
        let model = try tinyModel()
        try importWeights(fromFile: fixture("tfk_tiny_m_legacyadam.h5"), into: model)
        let input = try readNumpy(kerasFixtures.appendingPathComponent("tiny_X.npy"))
        let expected = try readNumpy(URL(fileURLWithPath: try exportedFile("tfk_tiny_legacyadam_pred.npy")))
        assertClose(try model.forward(input, context: RunContext(backend: backend, training: false)), expected, tolerance: 1e-5)
    }
}

private final class FolderRemover: NSObject, XCTestObservation {
    let folder: URL
    init(folder: URL) { self.folder = folder }
    func testBundleDidFinish(_ testBundle: Bundle) { try? FileManager.default.removeItem(at: folder) }
}
