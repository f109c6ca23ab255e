import Foundation
import KerasHDF5
import Tensors
import XCTest

/// `bc-train --write-plan` and Keras replaying it: the whole training path (loader, 2-rank sharding, synchronised
/// batch norm, gradient allreduce, class weights, the frozen-then-fine-tuned recipe) against tf_keras and Keras 3
/// training the same initial model on the same files in one process with full batches.
final class PlanReplayTests: XCTestCase {
    func testTwoRanksTrainAsKerasReplayingTheirPlan() throws {
        let run = try MPIRun.prepare("plan")
        let config = try run.writeConfig(["data.augmentation": [String: Any](), "model.dropout": 0, "data.class_weight": "balanced",
                                          "model.freeze_backbone_epochs": 1, "model.fine_tune_learning_rate": 0.0001])
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
        for (name, theirs) in zip(["tf_keras", "Keras 3"], keras) {
            let theirLosses = theirs.losses["epoch_losses"]!
            let frozenLoss = abs(ourLosses[0] - theirLosses[0]) / theirLosses[0]
            let frozenUpdate = updateDifference(ours[0], theirs.epochs[0], from: initial) { !$0.contains("moving_") }
            let fineTunedLoss = abs(ourLosses[1] - theirLosses[1]) / theirLosses[1]
            let fineTuned = updateDifference(ours[1], theirs.epochs[1], from: initial)
            let measured = "vs \(name): epoch losses \(ourLosses) vs \(theirLosses); frozen epoch: loss \(frozenLoss), trainable update "
                + "\(frozenUpdate) of its norm; fine-tuned epoch: loss \(fineTunedLoss), update \(fineTuned) "
                + "(tf_keras vs Keras 3: \(spread.loss), \(spread.weights))"
            print(measured)
            XCTAssertLessThan(frozenLoss, 1e-4, measured)
            XCTAssertLessThan(frozenUpdate, 1e-3, measured)
            XCTAssertLessThan(fineTunedLoss, 2 * spread.loss + 1e-3, measured)
            XCTAssertLessThan(fineTuned, 2 * spread.weights + 1e-3, measured)
        }
    }
}
