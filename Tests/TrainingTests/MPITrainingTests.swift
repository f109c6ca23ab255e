import Foundation
import KerasHDF5
import Layers
import Models
import OneDNN
import Tensors
import XCTest

/// bc-train under real `mpirun`: world-size independence, exact resume after a stop signal, a killed rank,
/// pretrained import, Keras opening the checkpoints, and bad inputs stopping every rank before training.
final class MPITrainingTests: XCTestCase {
    /// 1, 2 and 4 ranks train DenseNet121 (batch norm everywhere) from the same initial weights for one step of
    /// 24 images at 64x64 (24, 12+12, 6+6+6+6); the weight updates must agree. A rank without samples is covered in-process by
    /// TwoParticipantBatchNormTests. Synchronised batch norm sums each rank's statistics and weight-gradient sums in
    /// Double, so what remains is Float rounding in the convolutions and the gradient allreduce (measured: 5.9e-6 of
    /// the update's norm, every weight within 6e-8; when these sums were Float, from oneDNN's primitives, the split
    /// alone moved the update by 1.6% of its norm). Tolerances: 1e-4 of the update's norm, every weight within 1e-6.
    /// Convolutions are `direct`: each world size gives them another batch, for which `auto` may keep other kernels
    /// (measured: Winograd's rounding for some moved the update by 0.3% of its norm).
    func testOneTwoAndFourRanksTrainTheSameModel() throws {
        let run = try MPIRun.prepare("worldsize")
        var finals: [Int: [String: Tensor]] = [:]
        for ranks in [1, 2, 4] {
            let config = try run.writeConfig(["run_name": "ranks\(ranks)", "training.epochs": 1, "training.batch_size": 24,
                                              "model.input_size": [64, 64], "model.architecture": "densenet121",
                                              "training.optimizer": ["name": "sgd", "learning_rate": 0.001],
                                              "compute.convolution_algorithm": "direct"])
            let outcome = try run.launch(ranks: ranks, config: config)
            XCTAssertEqual(outcome.status, 0, outcome.output)
            finals[ranks] = try checkpointTensors(run.folder.appendingPathComponent("runs/ranks\(ranks)/last.h5").path)
        }
        let initial = try buildModel(.densenet121, inputShape: [64, 64, 3], head: .init(classes: 2), seed: 3)
        let trained = initial.trainableWeights.map(\.path)
        func update(_ ranks: Int) throws -> [Float] {
            let final = try XCTUnwrap(finals[ranks])
            return initial.trainableWeights.flatMap { entry in zip(final[entry.path]!.scalars, entry.weight.value.scalars).map { $0 - $1 } }
        }
        let reference = try update(1)
        let norm = reference.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        XCTAssertGreaterThan(norm, 1e-3, "training must have moved the weights for the comparison to mean anything")
        for ranks in [2, 4] {
            let other = try update(ranks)
            let difference = zip(other, reference).reduce(0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
            let worstWeight = trained.map { finals[ranks]![$0]!.maxRelativeDifference(to: finals[1]![$0]!) }.max()!
            print("world size \(ranks) vs 1: update difference \(difference / norm) of its norm, largest weight difference \(worstWeight)")
            XCTAssertLessThan(difference / norm, 1e-4, "\(ranks) ranks' updates differ from 1 rank's")
            XCTAssertLessThan(worstWeight, 1e-6, "\(ranks) ranks' weights differ from 1 rank's")
        }
    }

    /// A rank without samples adds zeros to the gradient sums, not what its buffer held from the step before:
    /// 24 images in steps of 21 and 3 leave the fourth of 4 ranks without samples in the second step. Only the last
    /// layer trains (frozen backbone, no head batch norm or dropout), a linear model on fixed features: a step of 3
    /// samples through trainable batch norms would be too ill-conditioned to compare (measured: 1 rank on 1 and 2
    /// threads end 46% of the update apart), while here the previous step's sums counted again would double the
    /// second update. Convolutions are `direct`, as in the world-size test above.
    func testARankWithoutSamplesAddsNothingToTheGradients() throws {
        let run = try MPIRun.prepare("emptyrank")
        var finals: [Int: [String: Tensor]] = [:]
        for ranks in [1, 4] {
            let config = try run.writeConfig(["run_name": "ranks\(ranks)", "training.epochs": 1, "training.batch_size": 21,
                                              "model.freeze_backbone_epochs": 1, "model.dropout": 0, "model.head_batch_norm": false,
                                              "data.augmentation": [String: Any](), "compute.convolution_algorithm": "direct",
                                              "training.optimizer": ["name": "sgd", "learning_rate": 0.1]], name: "ranks\(ranks).json")
            let outcome = try run.launch(ranks: ranks, config: config)
            XCTAssertEqual(outcome.status, 0, outcome.output)
            finals[ranks] = try checkpointTensors(run.folder.appendingPathComponent("runs/ranks\(ranks)/last.h5").path)
        }
        let initial = try buildModel(.resnet50, inputShape: [32, 32, 3], head: .init(classes: 2, dropout: 0, batchNorm: false), seed: 3)
        let trained = ["predictions/kernel", "predictions/bias"]
        func update(_ ranks: Int) throws -> [Float] {
            let final = try XCTUnwrap(finals[ranks])
            return initial.namedWeights.filter { trained.contains($0.path) }
                .flatMap { entry in zip(final[entry.path]!.scalars, entry.weight.value.scalars).map { $0 - $1 } }
        }
        let reference = try update(1), other = try update(4)
        let norm = reference.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        XCTAssertGreaterThan(norm, 1e-3, "training must have moved the weights for the comparison to mean anything")
        let difference = zip(other, reference).reduce(0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
        print("4 ranks, one without samples in the second step, vs 1 rank: update difference \(difference / norm) of its norm")
        XCTAssertLessThan(difference / norm, 1e-4)
    }

    /// Gradient buckets summed while backward runs (`distributed.overlap`, the default) and after it give
    /// bit-identical weights and optimizer state on 2 and 4 ranks (one rank makes no MPI calls): the buckets and
    /// the order of the calls depend only on the model and the bucket size. 1 MB buckets make ResNet50's gradients ~100 buckets; the
    /// epoch's last step leaves one of 4 ranks without samples (its buckets start only after its backward).
    func testOverlappedGradientAllreduceIsBitIdenticalToTheSequentialOne() throws {
        let run = try MPIRun.prepare("overlap")
        for ranks in [2, 4] {
            var results: [Bool: [String: Tensor]] = [:]
            for overlap in [true, false] {
                let name = "ranks\(ranks)-overlap-\(overlap)"
                let config = try run.writeConfig(["run_name": name, "training.epochs": 1, "distributed.overlap": overlap,
                                                  "distributed.bucket_megabytes": 1], name: "\(name).json")
                let outcome = try run.launch(ranks: ranks, config: config)
                XCTAssertEqual(outcome.status, 0, outcome.output)
                results[overlap] = try checkpointTensors(run.folder.appendingPathComponent("runs/\(name)/last.h5").path)
            }
            let (on, off) = (try XCTUnwrap(results[true]), try XCTUnwrap(results[false]))
            XCTAssertEqual(Set(on.keys), Set(off.keys))
            XCTAssertGreaterThan(on.count, 300, "weights and optimizer slots")
            for (path, tensor) in off { XCTAssertEqual(on[path]?.scalars, tensor.scalars, "\(ranks) ranks: \(path) differs with overlap") }
        }
    }

    /// A run stopped by SIGTERM to one rank, then re-run, ends bit-identical to an uninterrupted run.
    /// With the backbone frozen for the first epoch, so that the stop lands before or after the optimizer's
    /// restart for fine-tuning, and the resume must restart it exactly once.
    func testResumeAfterSIGTERMToOneRankIsBitExact() throws {
        try assertResumeAfterSIGTERMIsBitExact(precision: "float32", changes: ["model.freeze_backbone_epochs": 1,
                                                                                "model.fine_tune_learning_rate": 0.0003])
    }

    /// The same in mixed_bfloat16 (two epochs): the bf16 kernels are as deterministic, and the checkpoints hold float32.
    /// With `direct` convolutions, so that every convolution runs in bf16 (`auto` may keep float32 for some).
    func testMixedBFloat16ResumeAfterSIGTERMToOneRankIsBitExact() throws {
        let output = try assertResumeAfterSIGTERMIsBitExact(precision: "mixed_bfloat16", epochs: 2,
                                                            changes: ["compute.convolution_algorithm": "direct"])
        let kernels = try XCTUnwrap(output.split(separator: "\n").last { $0.hasPrefix("compute: convolution primitives") })
        let hasBFloat16 = OneDNNBackend.hasBFloat16Instructions
        XCTAssertTrue(kernels.contains(hasBFloat16 ? " bf16 x" : " f32 x"), String(kernels))
        XCTAssertFalse(kernels.contains(hasBFloat16 ? " f32 x" : " bf16 x"), String(kernels))
    }

    /// Returns the resumed run's output.
    @discardableResult
    private func assertResumeAfterSIGTERMIsBitExact(precision: String, epochs: Int = 3, changes: [String: Any] = [:]) throws -> String {
        let run = try MPIRun.prepare("resume-\(precision)")
        let uninterrupted = try run.writeConfig(changes.merging(["run_name": "whole", "training.epochs": epochs, "compute.precision": precision]) { $1 },
                                                name: "whole.json")
        XCTAssertEqual(try run.launch(ranks: 2, config: uninterrupted).status, 0)
        let expected = try checkpointTensors(run.folder.appendingPathComponent("runs/whole/last.h5").path)

        let interrupted = try run.writeConfig(changes.merging(["training.epochs": epochs, "callbacks.checkpoint_every_steps": 2,
                                                               "compute.precision": precision]) { $1 })
        let stopped = try run.launch(ranks: 2, config: interrupted) { mpirun in
            XCTAssertTrue(run.wait(for: run.lastCheckpoint, while: mpirun), "no periodic checkpoint appeared")
            Thread.sleep(forTimeInterval: Double.random(in: 0...1.5))
            let ranks = run.rankProcesses(of: mpirun)
            XCTAssertEqual(ranks.count, 2)
            if let victim = ranks.randomElement() { kill(victim, SIGTERM) }
        }
        XCTAssertEqual(stopped.status, 75, "a stopped run exits with 75 (resumable):\n\(stopped.output)")
        XCTAssertTrue(stopped.output.contains("run the same command again to resume"), stopped.output)
        let resumed = try run.launch(ranks: 2, config: interrupted)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("resuming from"), resumed.output)
        let actual = try checkpointTensors(run.lastCheckpoint)
        XCTAssertEqual(Set(actual.keys), Set(expected.keys))
        for (path, tensor) in expected { XCTAssertEqual(actual[path]?.scalars, tensor.scalars, "\(path) differs after resume") }
        return resumed.output
    }

    /// SIGUSR1 to mpirun itself (what Slurm's --signal=USR1 does) stops every rank cleanly; resuming on a different
    /// world size continues the run.
    func testSIGUSR1ToMpirunStopsAndResumesOnAnotherWorldSize() throws {
        let run = try MPIRun.prepare("usr1")
        let config = try run.writeConfig(["training.epochs": 3, "callbacks.checkpoint_every_steps": 1])
        let stopped = try run.launch(ranks: 2, config: config) { mpirun in
            XCTAssertTrue(run.wait(for: run.lastCheckpoint, while: mpirun))
            kill(mpirun.processIdentifier, SIGUSR1)
        }
        XCTAssertEqual(stopped.status, 75, stopped.output)
        let resumed = try run.launch(ranks: 1, config: config)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("(written by 2 ranks, now 1)"), resumed.output)
        let history = try String(contentsOf: run.runFolder.appendingPathComponent("history.csv"), encoding: .utf8)
        XCTAssertEqual(history.split(separator: "\n").count, 4, "a header and 3 epochs:\n\(history)")
    }

    /// kill -9 of a rank ends the whole job (no hang); the re-run resumes from the last periodic checkpoint.
    func testKilledRankEndsTheJobAndTheRerunResumes() throws {
        let run = try MPIRun.prepare("kill")
        let config = try run.writeConfig(["training.epochs": 3, "callbacks.checkpoint_every_steps": 1])
        let started = Date()
        let killed = try run.launch(ranks: 2, config: config, limit: 120) { mpirun in
            XCTAssertTrue(run.wait(for: run.lastCheckpoint, while: mpirun))
            if let victim = run.rankProcesses(of: mpirun).last { kill(victim, SIGKILL) }
        }
        XCTAssertNotEqual(killed.status, 0)
        XCTAssertLessThan(Date().timeIntervalSince(started), 120)
        let resumed = try run.launch(ranks: 2, config: config)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("resuming from"), resumed.output)
    }

    /// One rank stopped (SIGSTOP) for 20 s leaves the other waiting in a collective call; with a 3 s floor its stall
    /// watchdog prints a line naming the waiting rank, its host, the step or place and what it waits for, and a line
    /// when the wait ends, at least 15 s later: longer than any normal wait here (the longest, rank 0 writing a
    /// 280 MB checkpoint, took up to 7.4 s on a machine loaded with other builds), so it is the stall's. After SIGCONT
    /// the run finishes and ends bit-identical to a run that did not stall: the watchdog only watches.
    func testStallWatchdogReportsARankLeftWaitingByAStoppedRank() throws {
        let run = try MPIRun.prepare("stall")
        let watched: [String: Any] = ["training.epochs": 3, "distributed.stall_warning_seconds": 3,
                                      "distributed.stall_warning_factor": 1]
        let reference = try run.writeConfig(watched.merging(["run_name": "reference"]) { $1 }, name: "reference.json")
        let undisturbed = try run.launch(ranks: 2, config: reference)
        XCTAssertEqual(undisturbed.status, 0, undisturbed.output)
        let expected = try checkpointTensors(run.folder.appendingPathComponent("runs/reference/last.h5").path)

        var stoppedRank: Int?
        let stalled = try run.launch(ranks: 2, config: try run.writeConfig(watched)) { mpirun in
            // last.h5 appears at the end of epoch 1; two epochs remain.
            XCTAssertTrue(run.wait(for: run.lastCheckpoint, while: mpirun), "no checkpoint appeared")
            guard let victim = run.rankProcesses(of: mpirun).randomElement() else { return XCTFail("no rank processes") }
            stoppedRank = run.rank(ofProcess: victim)
            kill(victim, SIGSTOP)
            Thread.sleep(forTimeInterval: 20)
            kill(victim, SIGCONT)
        }
        XCTAssertEqual(stalled.status, 0, stalled.output)
        let waiting = 1 - (try XCTUnwrap(stoppedRank, "the stopped process's rank"))
        let prefix = "bc-train: rank \(waiting) (\(hostName())): "
        let lines = stalled.output.split(separator: "\n").map(String.init).filter { $0.hasPrefix(prefix) }
        let warnings = lines.filter { $0.contains(" has waited ") }
        XCTAssertFalse(warnings.isEmpty, "no stall warning from rank \(waiting):\n\(stalled.output)")
        for warning in warnings {
            XCTAssertNotNil(warning.range(of: #"^bc-train: rank \d \(.+\): (step \d+ of epoch \d+|the validation after epoch \d|the end of epoch \d) has waited [0-9.]+ s in .+ \((steps usually take [0-9.]+ s|no step has finished yet)\); .+ may be .+$"#,
                                           options: .regularExpression), warning)
        }
        let waits = lines.compactMap { line in
            line.range(of: #"went on after waiting [0-9.]+ s"#, options: .regularExpression).flatMap {
                Double(line[$0].split(separator: " ")[4])
            }
        }
        XCTAssertGreaterThanOrEqual(waits.max() ?? 0, 15, "rank \(waiting) should report the end of a long wait:\n\(stalled.output)")

        let actual = try checkpointTensors(run.lastCheckpoint)
        XCTAssertEqual(Set(actual.keys), Set(expected.keys))
        for (path, tensor) in expected { XCTAssertEqual(actual[path]?.scalars, tensor.scalars, "\(path) differs after the stall") }
    }

    /// With `distributed.stall_abort_seconds`, a rank left waiting by a stopped one ends the job after that long, with
    /// exit status 76 and one line naming itself and what it waited for, instead of holding the allocation forever.
    func testStallAbortEndsAJobWhoseRankIsStuck() throws {
        let run = try MPIRun.prepare("stallabort")
        let config = try run.writeConfig(["training.epochs": 3, "distributed.stall_abort_seconds": 8])
        var stopped: Int32?
        let started = Date()
        let outcome = try run.launch(ranks: 2, config: config, limit: 120) { mpirun in
            XCTAssertTrue(run.wait(for: run.lastCheckpoint, while: mpirun), "no checkpoint appeared")
            stopped = run.rankProcesses(of: mpirun).randomElement()
            if let stopped { kill(stopped, SIGSTOP) }
        }
        if let stopped { kill(stopped, SIGKILL) }
        XCTAssertEqual(outcome.status, 76, outcome.output)
        XCTAssertLessThan(Date().timeIntervalSince(started), 100)
        let lines = outcome.output.split(separator: "\n").filter { $0.contains("longer than distributed.stall_abort_seconds (8.0 s)") }
        // The waiting rank says so; the stopped one may too, in the moment between mpirun's SIGCONT and its SIGTERM.
        XCTAssertFalse(lines.isEmpty, outcome.output)
        for line in lines {
            XCTAssertTrue(line.hasPrefix("bc-train: rank ") && line.contains("Ending the job with exit status 76"), outcome.output)
        }
    }

    /// kill -9 of rank 0 while it writes last.h5 (every step writes one; the kill lands while the temporary file is
    /// being written: an optimizer-laden ResNet50 checkpoint is ~280 MB, about 100 ms of writing here, and the test
    /// kills within a millisecond of the temporary file appearing) leaves previous.h5 complete and no last.h5
    /// (it was moved to previous.h5 before the write). The half-written temporary file is never taken for a
    /// checkpoint: the re-run (without the per-step checkpoints, a setting a resume may change) resumes from
    /// previous.h5, removes the leftover, and finishes.
    func testKillingRankZeroDuringACheckpointWriteKeepsThePreviousOne() throws {
        let run = try MPIRun.prepare("killwrite")
        let config = try run.writeConfig(["training.epochs": 2, "callbacks.checkpoint_every_steps": 1])
        let previous = run.runFolder.appendingPathComponent("previous.h5").path
        func temporaryFiles() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: run.runFolder.path)) ?? []).filter { $0.contains(".h5.tmp.") }
        }
        var killedDuringWrite = false
        let killed = try run.launch(ranks: 2, config: config, limit: 120) { mpirun in
            XCTAssertTrue(run.wait(for: run.lastCheckpoint, while: mpirun), "no first checkpoint appeared")
            guard let rankZero = run.rankProcesses(of: mpirun).first(where: { run.rank(ofProcess: $0) == 0 }) else {
                return XCTFail("rank 0's process not found")
            }
            let deadline = Date().addingTimeInterval(60)
            while mpirun.isRunning && Date() < deadline {
                if temporaryFiles().contains(where: { $0.hasPrefix("last.h5.tmp.") }) {
                    kill(rankZero, SIGKILL)
                    killedDuringWrite = true
                    return
                }
                usleep(500)
            }
        }
        XCTAssertTrue(killedDuringWrite, "rank 0 was never seen writing last.h5:\n\(killed.output)")
        XCTAssertNotEqual(killed.status, 0)
        XCTAssertEqual(temporaryFiles().count, 1, "the half-written file stays behind: the kill landed inside the write")
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.lastCheckpoint), "last.h5 was moved away before the write")
        XCTAssertNotNil(try KerasWeightsFile.read(previous).trainingState, "previous.h5 is a complete checkpoint")

        let resumed = try run.launch(ranks: 2, config: config, arguments: ["--set", "callbacks.checkpoint_every_steps=0"])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("resuming from \(previous)"), resumed.output)
        XCTAssertTrue(resumed.output.contains("removed an unfinished checkpoint write"), resumed.output)
        XCTAssertEqual(temporaryFiles(), [])
        let history = try String(contentsOf: run.runFolder.appendingPathComponent("history.csv"), encoding: .utf8)
        XCTAssertEqual(history.split(separator: "\n").count, 3, "a header and 2 epochs:\n\(history)")
    }

    /// mpirun writing to a file (as in a batch job) gives each rank a pseudo-terminal; `auto` progress must still come
    /// as plain lines (no carriage returns), here one per step of the 4-step epoch, the last with the validation metrics,
    /// then rank 0's timing line.
    func testProgressUnderMpirunWritingToAFileComesAsPlainLines() throws {
        let run = try MPIRun.prepare("progress")
        let outcome = try run.launch(ranks: 2, config: try run.writeConfig(["training.epochs": 1]))
        XCTAssertEqual(outcome.status, 0, outcome.output)
        XCTAssertFalse(outcome.output.contains("\r"), outcome.output)
        let progress = outcome.output.split(separator: "\n").filter { $0.range(of: #"^\d/4 \["#, options: .regularExpression) != nil }
        XCTAssertEqual(progress.map { $0.prefix(3) }, ["1/4", "2/4", "3/4", "4/4"], outcome.output)
        XCTAssertTrue(progress.last?.contains(" - val_accuracy: ") ?? false, outcome.output)
        XCTAssertEqual(outcome.output.split(separator: "\n").filter { $0.hasPrefix("timing: 4 steps in ") }.count, 1, outcome.output)
    }

    /// Bad configs (each line naming the key, what was found and what is allowed; an input size the machine's
    /// memory cannot hold), a missing data folder, an unwritable checkpoint folder and an unreadable pretrained file
    /// stop every rank before training with one clear line, and write no checkpoint.
    func testBadInputsStopEveryRankBeforeTraining() throws {
        let run = try MPIRun.prepare("bad")
        let notAFolder = run.folder.appendingPathComponent("plain-file")
        try Data("x".utf8).write(to: notAFolder)
        let garbage = run.folder.appendingPathComponent("garbage.h5")
        try Data(repeating: 7, count: 4096).write(to: garbage)
        let cases: [([String: Any], String)] = [
            (["training.epoch": 2], "unknown key 'training.epoch'; did you mean 'epochs'?"),
            (["training.batch_size": 0], "training.batch_size: must be at least 1"),
            (["data.root": run.folder.appendingPathComponent("missing").path], "no such folder"),
            (["output_dir": notAFolder.path], "is not writable"),
            (["model.pretrained": garbage.path], garbage.path),
            (["model.architecture": "resnet51"], "model.architecture: is \"resnet51\"; allowed: resnet50, resnet101, resnet152, "
             + "densenet121, densenet169, densenet201"),
            (["model.input_size": "224"], "model.input_size: expected a list, found a string (\"224\")"),
            (["model.input_size": [100_000, 100_000]], "model.input_size: [100000, 100000] with 4 images per rank "
             + "(training.batch_size 7 over 2 ranks) needs at least "),
        ]
        for (change, message) in cases {
            let outcome = try run.launch(ranks: 2, config: try run.writeConfig(change))
            XCTAssertEqual(outcome.status, 1, "\(change): \(outcome.output)")
            let errors = outcome.output.split(separator: "\n").filter { $0.hasPrefix("bc-train: error") }
            XCTAssertEqual(errors.count, 2, "one error line per rank for \(change):\n\(outcome.output)")
            XCTAssertTrue(errors.allSatisfy { $0.contains(message) }, "\(change): expected '\(message)' in\n\(outcome.output)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: run.lastCheckpoint), "\(change) must not train")
        }
    }

    /// A notop file written by Keras is imported from the config; with the backbone frozen for the first epoch,
    /// that epoch's checkpoint (previous.h5 once the second is written) holds the file's backbone exactly. The
    /// second epoch fine-tunes as Keras' recipe does after recompiling: the optimizer starts over at
    /// `fine_tune_learning_rate`. Then Keras (both flavours) opens the checkpoint and predicts what bc-train predicts.
    func testPretrainedImportFineTuningAndKerasOpensTheCheckpoint() throws {
        let run = try MPIRun.prepare("pretrained")
        let notop = run.folder.appendingPathComponent("resnet50_notop.h5").path
        try runReferee(["notop", notop])
        let config = try run.writeConfig(["training.epochs": 2, "model.pretrained": notop, "model.freeze_backbone_epochs": 1,
                                          "model.fine_tune_learning_rate": 0.0001])
        let outcome = try run.launch(ranks: 2, config: config)
        XCTAssertEqual(outcome.status, 0, outcome.output)
        XCTAssertTrue(outcome.output.contains("pretrained: 106 layers loaded"), outcome.output)
        XCTAssertTrue(outcome.output.contains("Backbone unfrozen: the optimizer and the plateau and early-stopping counters start over "
                                              + "(as a Keras recompile and second fit) at learning rate 0.0001"), outcome.output)
        let history = try String(contentsOf: run.runFolder.appendingPathComponent("history.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().map { $0.split(separator: ",").map { Double($0)! } }
        XCTAssertEqual(history.map { Float($0.last!) }, [0.001, 0.0001], "the learning rate of each epoch")
        let fineTuned = try KerasWeightsFile.read(run.lastCheckpoint).trainingState
        let frozen = try KerasWeightsFile.read(run.runFolder.appendingPathComponent("previous.h5").path).trainingState
        let stepsPerEpoch = try XCTUnwrap(frozen?.optimizerIterations)
        XCTAssertGreaterThan(stepsPerEpoch, 0)
        XCTAssertEqual(fineTuned?.optimizerIterations, stepsPerEpoch, "Adam counts its steps from the unfreezing on")
        let file = try KerasWeightsFile.read(notop)
        let checkpoint = try checkpointTensors(run.runFolder.appendingPathComponent("previous.h5").path)
        var compared = 0
        for layer in file.weightedLayers {
            for weight in layer.weights {
                let name = variableName(weight.name)
                XCTAssertEqual(checkpoint["\(layer.name)/\(name)"]?.scalars, weight.value.scalars, "\(layer.name)/\(name)")
                compared += 1
            }
        }
        XCTAssertEqual(compared, 318)

        let model = try loadKerasModel(run.lastCheckpoint).graph
        let input = randomInput([3, 32, 32, 3])
        let ours = try model.forward(input, context: RunContext(backend: OneDNNBackend(threads: 1), training: false))
        let inputFile = run.folder.appendingPathComponent("x.npy").path
        try writeNumpy(input, to: URL(fileURLWithPath: inputFile))
        let prefix = run.folder.appendingPathComponent("keras").path
        try runReferee(["predict", run.lastCheckpoint, inputFile, prefix])
        for flavour in ["tfk", "k3"] {
            let theirs = try readNumpy(URL(fileURLWithPath: "\(prefix)_\(flavour).npy"))
            XCTAssertLessThanOrEqual(ours.maxRelativeDifference(to: theirs), 1e-4, flavour)
        }
    }
}
