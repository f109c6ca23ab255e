import Foundation
import KerasHDF5
import Layers
import OneDNN
import Tensors
import XCTest

/// Every file in Tests/Fixtures/keras-reference/fixtures (written by tf_keras 2.21, Keras 3.15, or by hand with h5py in
/// every string encoding) is read, and the tiny model loaded from it predicts what Keras or the independent numpy
/// reference predicted.
final class KerasFixtureTests: XCTestCase {
    let backend = OneDNNBackend(threads: 1)

    func predictions(importing file: String, options: WeightImportOptions = .init()) throws -> Tensor {
        let model = try tinyModel()
        let report = try importWeights(fromFile: file, into: model, options: options)
        XCTAssertEqual(report.loaded, ["conv", "bn", "bn_head", "predictions"], file)
        XCTAssertEqual(report.notInFile, [], file)
        let input = try readNumpy(kerasFixtures.appendingPathComponent("tiny_X.npy"))
        return try model.forward(input, context: RunContext(backend: backend, training: false))
    }

    func testHandWrittenFilesInEveryStringEncoding() throws {
        let expected = try readNumpy(kerasFixtures.appendingPathComponent("hw_tiny_ref.npy"))
        let files = ["hw_tiny_w_vlen.h5", "hw_tiny_w_fixed.h5", "hw_tiny_w_fixednt.h5", "hw_tiny_w_utf8.h5",
                     "hw_tiny_w_noweightnames.h5", "hw_tiny_m_vlen.h5", "hw_tiny_m_fixed.h5", "hw_tiny_m_notrain.h5",
                     "hw_tiny_m_vlen_opt.h5"]
        for name in files {
            for options in [WeightImportOptions(), WeightImportOptions(byName: true)] {
                assertClose(try predictions(importing: fixture(name), options: options), expected, tolerance: 1e-5, "\(name) \(options)")
            }
        }
    }

    /// Full-model files also describe the model: build it from model_config (tf_keras and Keras 3 styles).
    func testModelsBuiltFromFullModelFiles() throws {
        let input = try readNumpy(kerasFixtures.appendingPathComponent("tiny_X.npy"))
        for (name, reference) in [("hw_tiny_m_vlen.h5", "hw_tiny_ref.npy"), ("hw_tiny_m_fixed.h5", "hw_tiny_ref.npy"),
                                  ("tfk_tiny_m.h5", "tiny_pred_tfk.npy"), ("k3_tiny_m.h5", "tiny_pred_k3.npy")] {
            let (model, _) = try loadKerasModel(fixture(name))
            let expected = try readNumpy(kerasFixtures.appendingPathComponent(reference))
            assertClose(try model.forward(input, context: RunContext(backend: backend, training: false)), expected, tolerance: 1e-5, name)
        }
        assertThrows([fixture("tfk_tiny_w.h5"), "has no model_config: it is a weights-only file"]) {
            _ = try loadKerasModel(fixture("tfk_tiny_w.h5"))
        }
    }

    func testMetadataOfEachLayout() throws {
        let expectations: [(String, KerasFileFormat, String?, Bool)] = [
            ("hw_tiny_w_fixed.h5", .kerasWeights, "2.21.0", false), ("hw_tiny_m_fixed.h5", .kerasModel, "2.21.0", true),
            ("tfk_tiny_w.h5", .kerasWeights, "2.21.0", false), ("tfk_tiny_m.h5", .kerasModel, "2.21.0", true),
            ("k3_tiny_m.h5", .kerasModel, "3.15.1", true), ("k3_tiny.weights.h5", .keras3Weights, nil, false),
        ]
        for (name, format, version, hasConfig) in expectations {
            let file = try KerasWeightsFile.read(fixture(name))
            XCTAssertEqual(file.format, format, name)
            XCTAssertEqual(file.kerasVersion, version, name)
            XCTAssertEqual(file.modelConfig != nil, hasConfig, name)
            XCTAssertEqual(file.weightedLayers.count, 4, name)
            XCTAssertEqual(file.parameterCount, 169, name)
        }
        let legacy = try KerasWeightsFile.read(fixture("hw_tiny_m_fixed.h5"))
        XCTAssertEqual(legacy.layers.map(\.name), ["input_1", "conv", "bn", "relu", "avg_pool", "dropout", "bn_head", "predictions"])
        XCTAssertEqual(legacy.layers[2].weights.map(\.name), ["bn/gamma:0", "bn/beta:0", "bn/moving_mean:0", "bn/moving_variance:0"])
        guard case .object(let training)? = legacy.trainingConfig else { return XCTFail("no training_config") }
        XCTAssertEqual(training["loss"], "categorical_crossentropy")
        let keras3 = try KerasWeightsFile.read(fixture("k3_tiny.weights.h5"))
        XCTAssertEqual(keras3.weightedLayers.map(\.name), ["bn", "conv", "predictions", "bn_head"])
        XCTAssertEqual(keras3.weightedLayers.map(\.storageKey), ["batch_normalization", "conv2d", "dense", "batch_normalization_1"])
    }

    func testTfKerasFilesMatchTfKerasPredictions() throws {
        let expected = try readNumpy(kerasFixtures.appendingPathComponent("tiny_pred_tfk.npy"))
        for name in ["tfk_tiny_w.h5", "tfk_tiny_m.h5", "tfk_tiny_m_noopt.h5", "tfk_tiny.weights.h5"] {
            assertClose(try predictions(importing: fixture(name)), expected, tolerance: 1e-5, name)
        }
    }

    func testKeras3FilesMatchKeras3Predictions() throws {
        let expected = try readNumpy(kerasFixtures.appendingPathComponent("tiny_pred_k3.npy"))
        for (name, options) in [("k3_tiny_m.h5", WeightImportOptions()), ("k3_tiny_m.h5", WeightImportOptions(byName: true)),
                                ("k3_tiny.weights.h5", WeightImportOptions()), ("k3_tiny.weights.h5", WeightImportOptions(byName: true))] {
            assertClose(try predictions(importing: fixture(name), options: options), expected, tolerance: 1e-5, "\(name) \(options)")
        }
    }

    /// gamma and beta swapped in weight_names: Keras loads it (names are ignored) and so do we; the output is
    /// then wrong, exactly as in Keras.
    func testSwappedBatchNormOrderLoadsLikeKeras() throws {
        let expected = try readNumpy(kerasFixtures.appendingPathComponent("hw_tiny_ref.npy"))
        let actual = try predictions(importing: fixture("hw_bad_bnorder_w.h5"))
        XCTAssertGreaterThan(actual.maxRelativeDifference(to: expected), 1e-2)
        let file = try KerasWeightsFile.read(fixture("hw_bad_bnorder_w.h5"))
        XCTAssertEqual(file.layers[2].weights.map(\.name).prefix(2), ["bn/beta:0", "bn/gamma:0"])
    }

    func testNestedModelFilesAreReadButRefusedForImport() throws {
        for name in ["tfk_nested_w.h5", "tfk_nested_frozen_w.h5", "k3_nested_m.h5"] {
            let file = try KerasWeightsFile.read(fixture(name))
            XCTAssertEqual(file.weightedLayers.map(\.name), ["base", "predictions"], name)
            XCTAssertEqual(file.weightedLayers[0].weights.count, 12, name)
            assertThrows([fixture(name), "layer 'base' holds the weights of other layers", "nested model"]) {
                try importWeights(from: file, into: try tinyModel())
            }
        }
    }

    /// make_negative_fixtures.py's hw_tiny_legacy.weights.h5: the legacy layout under a .weights.h5 name, which
    /// both Kerases fail to load.
    func testLegacyLayoutWithWeightsSuffixIsRefused() throws {
        let folder = try temporaryFolder(self)
        let renamed = folder.appendingPathComponent("hw_tiny_legacy.weights.h5")
        try FileManager.default.copyItem(at: kerasFixtures.appendingPathComponent("hw_tiny_w_vlen.h5"), to: renamed)
        assertThrows([renamed.path, "named *.weights.h5 but has the legacy Keras 2 layout", "rename it to *.h5"]) {
            _ = try KerasWeightsFile.read(renamed.path)
        }
    }
}
