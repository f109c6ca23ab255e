import Foundation
import KerasHDF5
import Layers
import OneDNN
import Tensors
import XCTest

/// bc-train's own files on the tiny model: checkpoints round-trip with their training state, writes are atomic,
/// and every kind of bad file gives one error naming the file.
final class KerasWriterTests: XCTestCase {
    let backend = OneDNNBackend(threads: 1)
    let input = randomInput()

    static func randomInput() -> Tensor {
        var generator = SplitMix64(seed: 7)
        return Tensor(shape: [3, 8, 8, 3], scalars: (0..<576).map { _ in generator.nextUnitFloat() })
    }

    /// The tiny model after one Adam step, so moving statistics, weights and optimizer slots are all non-trivial.
    func trainedTinyModel() throws -> (Graph, Adam) {
        let model = try tinyModel(seed: 3)
        let optimizer = Adam(learningRate: 0.01)
        let context = RunContext(backend: backend, training: true, sampleKeys: [1, 2, 3])
        let probabilities = try model.forward(input, context: context)
        let loss = CategoricalCrossentropy()
        model.backward(logitGradient: loss.logitGradient(probabilities: probabilities, labels: [0, 3, 1], globalBatchSize: 3),
                       context: context)
        optimizer.apply(to: model.trainableWeights)
        return (model, optimizer)
    }

    func predict(_ model: Graph) throws -> Tensor { try model.forward(input, context: RunContext(backend: backend, training: false)) }

    func testCheckpointRoundTripsWeightsAndTrainingState() throws {
        let path = try temporaryFolder(self).appendingPathComponent("checkpoint.h5").path
        let (model, optimizer) = try trainedTinyModel()
        var state = TrainingState(optimizer: optimizer, json: ["epoch": 4, "step": 17, "world_size": 2, "rng": [1, 2]])
        state.tensors["callbacks/best_loss"] = Tensor(shape: [], scalars: [0.25])
        try writeKerasModel(model, to: path, trainingConfig: kerasTrainingConfig(optimizer: optimizer), state: state)

        let file = try KerasWeightsFile.read(path)
        XCTAssertEqual(file.format, .bcTrainCheckpoint)
        XCTAssertEqual(file.kerasVersion, "2.21.0")
        XCTAssertEqual(file.backend, "tensorflow")
        XCTAssertEqual(file.layers.map(\.name), ["input_1", "conv", "bn", "relu", "avg_pool", "dropout", "bn_head", "predictions"])
        XCTAssertEqual(file.layers[1].weights.map(\.name), ["conv/kernel:0", "conv/bias:0"])
        guard case .object(let config)? = file.modelConfig, case .object(let training)? = file.trainingConfig else {
            return XCTFail("model_config or training_config missing")
        }
        XCTAssertEqual(config["class_name"], "Functional")
        XCTAssertEqual(training["metrics"], ["accuracy"])

        let restored = try tinyModel(seed: 99)
        XCTAssertNotEqual(try predict(restored).scalars, try predict(model).scalars)
        try importWeights(from: file, into: restored)
        XCTAssertEqual(try predict(restored).scalars, try predict(model).scalars)
        for ((path, original), (_, loaded)) in zip(model.namedWeights, restored.namedWeights) {
            XCTAssertEqual(original.value.scalars, loaded.value.scalars, path)
        }

        let (rebuilt, _) = try loadKerasModel(path, seed: 42)
        XCTAssertEqual(try predict(rebuilt).scalars, try predict(model).scalars)

        let readState = try XCTUnwrap(file.trainingState)
        XCTAssertEqual(readState.json, state.json)
        XCTAssertEqual(readState.optimizerIterations, 1)
        XCTAssertEqual(Set(readState.tensors.keys), Set(state.tensors.keys))
        XCTAssertEqual(readState.tensors.count, 2 * model.trainableWeights.count + 1)
        let resumed = Adam(learningRate: 0.01)
        readState.restore(resumed)
        XCTAssertEqual(resumed.iterations, 1)
        for (path, slots) in optimizer.slots {
            XCTAssertEqual(resumed.slots[path]?.map(\.scalars), slots.map(\.scalars), path)
        }
    }

    func testWeightsOnlyFileAndItsRefusedSuffix() throws {
        let folder = try temporaryFolder(self)
        let (model, _) = try trainedTinyModel()
        let path = folder.appendingPathComponent("weights.h5").path
        try writeKerasWeights(model, to: path)
        let file = try KerasWeightsFile.read(path)
        XCTAssertEqual(file.format, .kerasWeights)
        XCTAssertNil(file.modelConfig)
        let restored = try tinyModel(seed: 5)
        try importWeights(from: file, into: restored, options: WeightImportOptions(byName: true))
        XCTAssertEqual(try predict(restored).scalars, try predict(model).scalars)
        let wrongName = folder.appendingPathComponent("model.weights.h5").path
        assertThrows([wrongName, "use a name ending in .h5"]) { try writeKerasWeights(model, to: wrongName) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: wrongName))
    }

    /// A notop backbone file into backbone + head: the backbone loads, the head keeps its initial values.
    func testBackbonePrefixLoadsAndLeavesTheHead() throws {
        let path = try temporaryFolder(self).appendingPathComponent("backbone.h5").path
        let builder = GraphBuilder(seed: 11)
        var x = try builder.input(shape: [8, 8, 3], name: "input_1")
        x = try Conv2D(4, kernelSize: 3, padding: .same, name: "conv")(x)
        x = try BatchNormalization(epsilon: 1.001e-5, name: "bn")(x)
        let backbone = try builder.build(output: try Activation(.relu, name: "relu")(x), name: "backbone")
        try writeKerasWeights(backbone, to: path)

        let model = try tinyModel(seed: 12)
        let headBefore = model.layer(named: "predictions")!.weights.map(\.value.scalars)
        let report = try importWeights(fromFile: path, into: model)
        XCTAssertEqual(report.loaded, ["conv", "bn"])
        XCTAssertEqual(report.notInFile, ["bn_head", "predictions"])
        XCTAssertEqual(model.layer(named: "conv")!.weights[0].value.scalars, backbone.layer(named: "conv")!.weights[0].value.scalars)
        XCTAssertEqual(model.layer(named: "predictions")!.weights.map(\.value.scalars), headBefore)
    }

    func testFailedWriteLeavesPreviousCheckpointIntact() throws {
        let folder = try temporaryFolder(self)
        let path = folder.appendingPathComponent("checkpoint.h5").path
        let (model, optimizer) = try trainedTinyModel()
        try writeKerasModel(model, to: path, state: TrainingState(optimizer: optimizer))
        let before = try Data(contentsOf: URL(fileURLWithPath: path))

        // "a" is a dataset, so "a/b" cannot be created under it: the write fails after the weights are written.
        let clashing = TrainingState(tensors: ["a": Tensor(zeros: [2]), "a/b": Tensor(zeros: [2])])
        model.layer(named: "conv")!.weights[0].value = Tensor(zeros: [3, 3, 3, 4])
        assertThrows(["\(path).tmp.\(getpid())", "bc_train_state/tensors/a/b"]) {
            try writeKerasModel(model, to: path, state: clashing)
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["checkpoint.h5"])

        let missingFolder = folder.appendingPathComponent("no/such/folder/checkpoint.h5").path
        assertThrows([missingFolder, "cannot create the file"]) { try writeKerasModel(model, to: missingFolder) }
    }

    /// The temporary file a killed writer leaves behind is recognised by its name, and nothing else is.
    func testUnfinishedWritesAreRecognisedByName() {
        XCTAssertTrue(isUnfinishedAtomicWrite("last.h5.tmp.12345"))
        for name in ["last.h5", "last.h5.tmp.", "last.h5.tmp.12a", ".tmp.123", "notes.tmp", "previous.h5"] {
            XCTAssertFalse(isUnfinishedAtomicWrite(name), name)
        }
    }

    func testCorruptedWeightBytesAreDetected() throws {
        let folder = try temporaryFolder(self)
        let path = folder.appendingPathComponent("checkpoint.h5").path
        let (model, optimizer) = try trainedTinyModel()
        try writeKerasModel(model, to: path, state: TrainingState(optimizer: optimizer))
        for dataset in ["model_weights/bn/bn/moving_variance:0", "bc_train_state/tensors/optimizer/conv/kernel/1"] {
            let corrupted = folder.appendingPathComponent("corrupted.h5").path
            try? FileManager.default.removeItem(atPath: corrupted)
            try FileManager.default.copyItem(atPath: path, toPath: corrupted)
            let offset = try XCTUnwrap(try HDF5File.openReadOnly(corrupted).root.dataset(dataset).rawDataOffset)
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: corrupted))
            try handle.seek(toOffset: offset + 5)
            let original = try XCTUnwrap(handle.read(upToCount: 1))
            try handle.seek(toOffset: offset + 5)
            handle.write(Data([original[0] ^ 0x5a]))
            try handle.close()
            assertThrows([corrupted, "dataset /\(dataset) is corrupted"]) { _ = try KerasWeightsFile.read(corrupted) }
        }
    }

    func testBadFilesGiveOneClearError() throws {
        let folder = try temporaryFolder(self)
        let good = folder.appendingPathComponent("good.h5")
        let (model, _) = try trainedTinyModel()
        try writeKerasModel(model, to: good.path)
        let bytes = try Data(contentsOf: good)

        let truncated = folder.appendingPathComponent("truncated.h5")
        try bytes.prefix(bytes.count / 2).write(to: truncated)
        assertThrows([truncated.path, "truncated file"]) { _ = try KerasWeightsFile.read(truncated.path) }

        let notHDF5 = folder.appendingPathComponent("notes.h5")
        try Data("these are not weights\n".utf8).write(to: notHDF5)
        assertThrows([notHDF5.path, "cannot open as an HDF5 file", "file signature not found"]) { _ = try KerasWeightsFile.read(notHDF5.path) }

        let emptyHDF5 = folder.appendingPathComponent("empty.h5")
        try HDF5File.create(emptyHDF5.path).close()
        assertThrows([emptyHDF5.path, "not a Keras weights or model file"]) { _ = try KerasWeightsFile.read(emptyHDF5.path) }

        // Wrong shape: the same architecture with 3 classes instead of 5.
        let builder = GraphBuilder(seed: 1)
        var x = try builder.input(shape: [8, 8, 3], name: "input_1")
        x = try Conv2D(4, kernelSize: 3, padding: .same, name: "conv")(x)
        x = try BatchNormalization(epsilon: 1.001e-5, name: "bn")(x)
        x = try GlobalAveragePooling2D(name: "avg_pool")(try Activation(.relu, name: "relu")(x))
        x = try BatchNormalization(name: "bn_head")(x)
        let threeClasses = try builder.build(output: try Dense(3, activation: .softmax, name: "predictions")(x), name: "three")
        assertThrows([good.path, "model layer 'predictions'", "has shape [4, 5] in the file, the model expects [4, 3]"]) {
            try importWeights(fromFile: good.path, into: threeClasses)
        }
        let report = try importWeights(fromFile: good.path, into: threeClasses, options: WeightImportOptions(skipMismatch: true))
        XCTAssertEqual(report.loaded, ["conv", "bn", "bn_head"])
        XCTAssertEqual(report.skipped.count, 1)

        // Wrong layer count: the file has more weighted layers than the model.
        let small = GraphBuilder(seed: 1)
        let convOnly = try small.build(output: try Conv2D(4, kernelSize: 3, padding: .same, name: "conv")(try small.input(shape: [8, 8, 3])),
                                       name: "conv_only")
        assertThrows([good.path, "layer count mismatch", "the file has 4 weighted layers", "model 'conv_only' has 1",
                      "matches no keras.applications backbone"]) {
            try importWeights(fromFile: good.path, into: convOnly)
        }
        // Wrong architecture: a file with fewer layers that is not a prefix of the model.
        let other = GraphBuilder(seed: 1)
        let denseOnly = try other.build(output: try Dense(2, name: "d")(try GlobalAveragePooling2D(name: "g")(try other.input(shape: [8, 8, 3]))),
                                        name: "dense_only")
        let denseFile = folder.appendingPathComponent("dense_only.h5").path
        try writeKerasWeights(denseOnly, to: denseFile)
        assertThrows([denseFile, "layer count mismatch", "not a prefix", "file 'd' vs model 'conv'"]) {
            try importWeights(fromFile: denseFile, into: model)
        }

        // Missing dataset: weight_names lists an array the file does not have.
        let missing = folder.appendingPathComponent("missing.h5").path
        let file = try HDF5File.create(missing)
        try file.root.writeKerasStringList(["conv"], name: "layer_names")
        let conv = try file.root.createGroup("conv")
        try conv.writeKerasStringList(["conv/kernel:0", "conv/bias:0"], name: "weight_names")
        try conv.createFloatDataset("conv/kernel:0", Tensor(zeros: [3, 3, 3, 4]))
        try file.close()
        assertThrows([missing, "layer 'conv': weight 'conv/bias:0' is listed in weight_names but there is no dataset /conv/conv/bias:0"]) {
            _ = try KerasWeightsFile.read(missing)
        }
    }
}
