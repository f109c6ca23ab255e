import Foundation
import KerasHDF5
import Tensors
import XCTest

/// `bc-train --write-plan` and Keras replaying it: the whole training path (loader, augmentation, dropout, 2-rank
/// sharding, synchronised batch norm, gradient allreduce, class weights, the frozen-then-fine-tuned recipe) against
/// tf_keras and Keras 3 training the same initial model on the same files in one process with full batches,
/// each sample warped by `ImageDataGenerator.apply_transform` with the parameters bc-train drew for it and the
/// head's dropout given bc-train's masks.
final class PlanReplayTests: XCTestCase {
    /// ResNet50 at 64x64 (KerasTrainingParityTests has it at 32x32 and 64x64 on one rank).
    func testTwoRanksTrainAsKerasReplayingTheirPlan() throws {
        try replay("resnet50", size: 64, features: 2048)
    }

    /// DenseNet121 at 32x32, whose step recomputes its activations (`compute.recompute_activations` auto).
    func testTwoRanksTrainADenseNetAsKerasReplayingTheirPlan() throws {
        try replay("densenet121", size: 32, features: 1024)
    }

    /// `features`: the backbone's output width, where the head's dropout masks apply. The images are `size` x `size`,
    /// as the model's input.
    func replay(_ architecture: String, size: Int, features: Int) throws {
        let run = try MPIRun.prepare("plan-\(architecture)", size: size)
        let augmentation: [String: Any] = ["rotation_range": 20, "width_shift_range": 0.1, "height_shift_range": 0.1, "shear_range": 5,
                                           "zoom_range": [0.9, 1.1], "horizontal_flip": true, "vertical_flip": true, "fill_mode": "reflect"]
        let config = try run.writeConfig(["model.architecture": architecture, "model.input_size": [size, size],
                                          "data.augmentation": augmentation, "data.resize": "nearest",
                                          "model.dropout": 0.5, "data.class_weight": "balanced", "model.freeze_backbone_epochs": 1,
                                          "model.fine_tune_learning_rate": 0.0001, "compute.convolution_algorithm": "direct"])
        let planFolder = run.folder.appendingPathComponent("plan")
        let planned = try run.launch(ranks: 2, config: config, arguments: ["--write-plan", planFolder.path])
        XCTAssertEqual(planned.status, 0, planned.output)
        XCTAssertTrue(planned.output.contains("wrote \(planFolder.path): initial.h5, plan.json (2 epochs of 4 steps)"), planned.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.runFolder.path), "--write-plan must not touch the run's folder")
        let plan = try JSONSerialization.jsonObject(with: Data(contentsOf: planFolder.appendingPathComponent("plan.json"))) as! [String: Any]
        let epochs = try XCTUnwrap(plan["epochs"] as? [[[String: Any]]])
        XCTAssertEqual(epochs.map(\.count), [4, 4])
        for steps in epochs {
            // 24 training images in global batches of 7, each cut into the two ranks' contiguous shares.
            XCTAssertEqual(steps.map { $0["ranks"] as! [Int] }, [[4, 3], [4, 3], [4, 3], [2, 1]])
            XCTAssertEqual(Set(steps.flatMap { $0["files"] as! [String] }).count, 24)
        }
        XCTAssertNotEqual(epochs[0].map { $0["files"] as! [String] }, epochs[1].map { $0["files"] as! [String] }, "a new order each epoch")
        XCTAssertEqual((plan["class_weight"] as? [Double])?.count, 2)
        // Each sample's transform and dropout mask, as bc-train draws them.
        XCTAssertEqual(plan["keras_transforms"] as? Bool, true)
        let dropoutLayers = try XCTUnwrap(plan["dropout_layers"] as? [[String: Any]])
        XCTAssertEqual(dropoutLayers.count, 1)
        XCTAssertEqual(dropoutLayers.first?["name"] as? String, "dropout")
        XCTAssertEqual(dropoutLayers.first?["rate"] as? Double, 0.5)
        XCTAssertEqual(dropoutLayers.first?["features"] as? Int, features)
        let steps = epochs.joined()
        let transforms = steps.flatMap { $0["transforms"] as! [[String: Any]] }
        XCTAssertEqual(transforms.count, 48)
        XCTAssertGreaterThan(Set(transforms.map { $0["theta"] as! Double }).count, 40, "every sample its own rotation")
        XCTAssertTrue(transforms.contains { $0["flip_horizontal"] as! Bool } && transforms.contains { !($0["flip_vertical"] as! Bool) })
        let masks = steps.flatMap { ($0["dropout_masks"] as! [String: [String]])["dropout"]! }
        XCTAssertEqual(masks.count, 48)
        XCTAssertEqual(Set(masks.map(\.count)), [features / 4])
        let kept = masks.joined().compactMap { $0.hexDigitValue }.map { $0.nonzeroBitCount }.reduce(0, +)
        XCTAssertEqual(Double(kept) / Double(48 * features), 0.5, accuracy: 0.02)

        let trained = try run.launch(ranks: 2, config: config)
        XCTAssertEqual(trained.status, 0, trained.output)
        let ourLosses = try String(contentsOf: run.runFolder.appendingPathComponent("history.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().map { Double($0.split(separator: ",")[1])! }
        let prefix = run.folder.appendingPathComponent("keras").path
        try runReferee(["replay-plan", planFolder.path, prefix])
        let initial = try checkpointTensors(planFolder.appendingPathComponent("initial.h5").path).filter { !$0.key.hasPrefix("state/") }
        let ours = [try checkpointTensors(run.runFolder.appendingPathComponent("previous.h5").path), try checkpointTensors(run.lastCheckpoint)]
        let keras = try ["tfk", "k3"].map { flavour in
            (losses: try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(prefix)_\(flavour).json")))
                as! [String: [Double]],
             epochs: try (1...2).map { try checkpointTensors("\(prefix)_\(flavour)_epoch\($0).h5") })
        }
        let spread = (loss: abs(keras[0].losses["epoch_losses"]![1] - keras[1].losses["epoch_losses"]![1]) / keras[1].losses["epoch_losses"]![1],
                      weights: updateDifference(keras[0].epochs[1], keras[1].epochs[1], from: initial))
        // The fine-tuned epoch's first step, from the progress lines (4 decimals), before rounding differences grow.
        let progress = trained.output.components(separatedBy: "Epoch 2/2").last!.split(separator: "\n")
        let firstLine = try XCTUnwrap(progress.first { $0.hasPrefix("1/4 ") }, trained.output)
        let firstFineTunedLoss = try XCTUnwrap(Double(firstLine.components(separatedBy: "loss: ")[1].prefix(6)), String(firstLine))
        for (name, theirs) in zip(["tf_keras", "Keras 3"], keras) {
            let theirLosses = theirs.losses["epoch_losses"]!
            let frozenLoss = abs(ourLosses[0] - theirLosses[0]) / theirLosses[0]
            let frozenUpdate = updateDifference(ours[0], theirs.epochs[0], from: initial) { !$0.contains("moving_") }
            let fineTunedLoss = abs(ourLosses[1] - theirLosses[1]) / theirLosses[1]
            let firstStep = abs(firstFineTunedLoss - theirs.losses["step_losses"]![4]) / theirs.losses["step_losses"]![4]
            let fineTuned = updateDifference(ours[1], theirs.epochs[1], from: initial)
            let measured = "\(architecture) vs \(name): epoch losses \(ourLosses) vs \(theirLosses); frozen epoch: loss \(frozenLoss), trainable update "
                + "\(frozenUpdate) of its norm; fine-tuned epoch: first step's loss \(firstFineTunedLoss) vs "
                + "\(theirs.losses["step_losses"]![4]), epoch loss \(fineTunedLoss), update \(fineTuned) "
                + "(tf_keras vs Keras 3: \(spread.loss), \(spread.weights))"
            print(measured)
            XCTAssertLessThan(frozenLoss, 1e-4, measured)
            XCTAssertLessThan(frozenUpdate, 1e-3, measured)
            // Then every weight trains. The first step's forward pass runs the whole from-scratch backbone in training
            // mode (batch statistics of 7 images through 53 batch norms), which grows rounding differences to ~1e-4
            // (measured: 2e-4 from bc-train, 5e-5 between the two Keras); a wrong transform, mask or weight moves it by
            // percents. Then Adam's first steps turn rounding differences into updates of their own: after four steps
            // tf_keras and Keras 3 differ by 9% of the update, so the epoch's update must be as close to each Keras as
            // they are to each other.
            XCTAssertLessThan(firstStep, 1e-3, measured)
            XCTAssertLessThan(fineTuned, 2 * spread.weights + 1e-3, measured)
        }
    }
}
