import Foundation
import KerasHDF5
import Layers
import Models
import OneDNN
import Tensors
import XCTest

/// bc-train -> Keras: bc-train writes full-model checkpoints (with a training-state group) and weights-only files
/// of ResNet50 + head and DenseNet201 + head; Tests/Python/keras_hdf5_referee.py opens them with
/// `tf_keras.models.load_model`, `keras.models.load_model`, and `load_weights` (topological and by_name) into
/// models Keras builds itself, compares Keras' predictions with bc-train's, and runs one `fit()` step on each
/// loaded model.
final class KerasExportRefereeTests: XCTestCase {
    func testKerasOpensBcTrainCheckpoints() throws {
        let folder = try temporaryFolder(self)
        let exported = try KerasImportRefereeTests.exported.get()
        let input = try readNumpy(exported.appendingPathComponent("x.npy"))
        try writeNumpy(input, to: folder.appendingPathComponent("x.npy"))
        let backend = OneDNNBackend(threads: 2)
        for (architecture, name) in KerasImportRefereeTests.architectures {
            // A backbone with Keras' well-conditioned random weights (see the referee) and a random head.
            let model = try buildModel(architecture, inputShape: [64, 64, 3], head: HeadOptions(classes: 3), seed: 21)
            try importWeights(fromFile: exported.appendingPathComponent("tfk_\(name)_w.h5").path, into: model)
            var generator = SplitMix64(seed: 5)
            for weight in model.layer(named: "bn_head")!.weights {
                weight.value = Tensor(shape: weight.value.shape, scalars: (0..<weight.value.count).map { _ in 0.5 + generator.nextUnitFloat() })
            }
            let predictions = try model.forward(input, context: RunContext(backend: backend, training: false))
            try writeNumpy(predictions, to: folder.appendingPathComponent("bc_\(name)_pred.npy"))

            // Full-size Adam state (m and v for every trainable weight), as a resumable checkpoint holds.
            let optimizer = Adam(learningRate: 0.0005)
            optimizer.iterations = 120
            for (path, weight) in model.trainableWeights {
                optimizer.slots[path] = [Tensor(shape: weight.value.shape, repeating: 0.01), Tensor(shape: weight.value.shape, repeating: 0.001)]
            }
            let state = TrainingState(optimizer: optimizer, json: ["epoch": 3, "step": 120, "rng": ["seed": 42, "epoch_key": 7], "world_size": 2])
            let checkpoint = folder.appendingPathComponent("bc_\(name)_head.h5").path
            let started = Date()
            try writeKerasModel(model, to: checkpoint, trainingConfig: kerasTrainingConfig(optimizer: optimizer), state: state)
            print("\(name): wrote \(checkpoint) in \(Date().timeIntervalSince(started)) s")
            try writeKerasWeights(model, to: folder.appendingPathComponent("bc_\(name)_head_w.h5").path)

            // And bc-train reads its own checkpoint back into an equal model.
            let reread = try KerasWeightsFile.read(checkpoint)
            XCTAssertEqual(reread.trainingState?.json, state.json)
            XCTAssertEqual(reread.trainingState?.tensors.count, 2 * model.trainableWeights.count)
            XCTAssertEqual(reread.trainingState?.optimizerIterations, 120)
            XCTAssertEqual(reread.architectureDescription, "looks like \(architecture.kerasName) + a head of 2 weighted layers: 3 classes")
        }
        let names = (0..<701).map { String(format: "layer_%03d_", $0) + String(repeating: "x", count: 90) }
        let chunks = try HDF5File.create(folder.appendingPathComponent("chunks.h5").path)
        try chunks.root.writeKerasStringList(names, name: "layer_names")
        try chunks.root.writeString(String(decoding: try JSONEncoder().encode(names), as: UTF8.self), attribute: "expected")
        try chunks.close()

        // One referee process per Keras, at once: each is mostly single-threaded Python.
        let flavours = ["tf_keras", "keras"]
        try runConcurrently(flavours.map { flavour in {
            try runPython("keras_hdf5_referee.py", ["check", folder.path, flavour] + KerasImportRefereeTests.architectures.map(\.1))
        } })
        let results = try flavours.reduce(into: [String: Double]()) { results, flavour in
            let file = folder.appendingPathComponent("results-\(flavour).json")
            results.merge(try JSONDecoder().decode([String: Double].self, from: Data(contentsOf: file))) { $1 }
        }
        for (_, name) in KerasImportRefereeTests.architectures {
            for flavour in flavours {
                for how in ["load_model", "load_weights topological", "load_weights by_name", "load_weights weights-only"] {
                    let difference = try XCTUnwrap(results["\(name)/\(flavour) \(how)"], "\(name)/\(flavour) \(how)")
                    XCTAssertLessThanOrEqual(difference, 1e-4, "\(name)/\(flavour) \(how)")
                }
                // training_config's Adam hyperparameters survive (plain "Adam", keras-h5-format §4.5).
                XCTAssertEqual(try XCTUnwrap(results["\(name)/\(flavour) learning_rate"]), 0.0005, accuracy: 1e-9)
                let loss = try XCTUnwrap(results["\(name)/\(flavour) fit loss"])
                XCTAssertTrue(loss.isFinite && loss > 0, "\(name)/\(flavour) fit loss \(loss)")
            }
        }
        XCTAssertEqual(results["chunks/keras"], 1)
        XCTAssertEqual(results["chunks/tf_keras"], 1)
        print(results.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "\n"))
    }
}
