import Foundation
import Layers
import OneDNN
import Tensors
import XCTest

/// The tiny reference model of Tests/Fixtures/keras-reference: Conv2D+BN+ReLU+GAP+Dropout+BN+Dense softmax, built the
/// way Keras builds it, loaded with weights Keras wrote, must predict what Keras predicted on the same input.
final class KerasTinyModelTests: XCTestCase {
    /// Loads every weight from a Keras weights file laid out as `/<layer>/<layer>/<weight>:0` under `root`.
    func load(_ model: Graph, from file: URL, root: String) throws {
        for (path, weight) in model.namedWeights {
            let layer = path.split(separator: "/")[0]
            let values = try readHDF5Dataset(file, path: "\(root)/\(layer)/\(path):0")
            weight.value = Tensor(shape: weight.value.shape, scalars: values)
        }
    }

    func predictions(file: String, root: String, backend: Backend) throws -> Tensor {
        let model = try tinyModel()
        try load(model, from: kerasFixtures.appendingPathComponent(file), root: root)
        let input = try readNumpy(kerasFixtures.appendingPathComponent("tiny_X.npy"))
        return try model.forward(input, context: RunContext(backend: backend, training: false))
    }

    func testTfKerasPredictionsOnBothBackends() throws {
        let expected = try readNumpy(kerasFixtures.appendingPathComponent("tiny_pred_tfk.npy"))
        for backend: Backend in [ReferenceBackend(), OneDNNBackend(threads: 1)] {
            let actual = try predictions(file: "tfk_tiny_w.h5", root: "", backend: backend)
            assertClose(actual, expected, tolerance: 1e-5, "\(backend.name) vs tf_keras")
        }
    }

    func testKeras3FullModelFileMatchesKeras3Predictions() throws {
        let expected = try readNumpy(kerasFixtures.appendingPathComponent("tiny_pred_k3.npy"))
        // Keras 3 names weights without ":0"; read them through the same helper by stripping the suffix.
        let model = try tinyModel()
        let file = kerasFixtures.appendingPathComponent("k3_tiny_m.h5")
        for (path, weight) in model.namedWeights {
            let layer = path.split(separator: "/")[0]
            weight.value = Tensor(shape: weight.value.shape,
                                  scalars: try readHDF5Dataset(file, path: "/model_weights/\(layer)/\(path)"))
        }
        let input = try readNumpy(kerasFixtures.appendingPathComponent("tiny_X.npy"))
        let actual = try model.forward(input, context: RunContext(backend: OneDNNBackend(threads: 1), training: false))
        assertClose(actual, expected, tolerance: 1e-5, "oneDNN vs Keras 3")
    }

    func testHandWrittenFileMatchesIndependentNumpyForward() throws {
        let expected = try readNumpy(kerasFixtures.appendingPathComponent("hw_tiny_ref.npy"))
        let actual = try predictions(file: "hw_tiny_w_vlen.h5", root: "", backend: OneDNNBackend(threads: 1))
        assertClose(actual, expected, tolerance: 1e-5, "oneDNN vs numpy reference")
    }

    func testParameterCountAndWeightOrderMatchKeras() throws {
        let model = try tinyModel()
        // conv 3*3*3*4+4, bn 4*4, bn_head 4*4, predictions 4*5+5 (as Keras' model.count_params()).
        XCTAssertEqual(model.parameterCount, 112 + 16 + 16 + 25)
        XCTAssertEqual(model.namedWeights.map(\.path), [
            "conv/kernel", "conv/bias", "bn/gamma", "bn/beta", "bn/moving_mean", "bn/moving_variance",
            "bn_head/gamma", "bn_head/beta", "bn_head/moving_mean", "bn_head/moving_variance",
            "predictions/kernel", "predictions/bias",
        ])
    }
}
