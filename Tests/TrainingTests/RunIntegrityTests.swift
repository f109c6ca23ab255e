import Datasets
import Foundation
import TestSupport
import XCTest

/// What keeps a run whole under real `mpirun`: its split for its whole life, one run per folder, stop signals at
/// any time (during start-up, Ctrl-C at the terminal) ending with a checkpoint to resume from.
final class RunIntegrityTests: XCTestCase {
    /// A lab adds images (new patients, new images of existing ones) between two sessions of a run. The resumed run
    /// keeps its stored split (recomputing it would move patients between parts: checked here on the same folder),
    /// says how many files it ignores, and `bc-eval --split test` evaluates exactly the stored test files. A file of
    /// the split that disappears stops the run with one line naming it, unless `--drop-missing-files` is given.
    func testResumeKeepsTheRunsSplitWhenTheDataFolderChanges() throws {
        let run = try MPIRun.prepare("keepsplit")
        let config = try run.writeConfig(["training.epochs": 1])
        XCTAssertEqual(try run.launch(ranks: 2, config: config).status, 0)
        let splitFile = run.runFolder.appendingPathComponent("split.json")
        let stored = try Data(contentsOf: splitFile)
        let record = try SplitRecord.read(splitFile)

        let data = run.folder.appendingPathComponent("data")
        let more = run.folder.appendingPathComponent("more")
        _ = try SyntheticHistology(patients: 12, imagesPerPatient: 7, size: 32, seed: 9).write(to: more)
        var added = 0
        for case let file as URL in FileManager.default.enumerator(at: more, includingPropertiesForKeys: nil)!
        where file.pathExtension == "png" {
            let target = data.appendingPathComponent(String(file.path.dropFirst(more.path.count + 1)))
            guard !FileManager.default.fileExists(atPath: target.path) else { continue }
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: file, to: target)
            added += 1
        }
        XCTAssertGreaterThan(added, 20)
        let grown = try Dataset(root: data)
        let resplit = SplitRecord(split: try grown.split([("train", 0.5), ("validation", 0.25), ("test", 0.25)], seed: 3), of: grown)
        XCTAssertNotEqual(Set(resplit.parts["test"]!).intersection(record.parts["test"]!).count, record.parts["test"]!.count,
                          "the grown folder must re-split differently for this test to mean anything")

        let resumed = try run.launch(ranks: 2, config: try run.writeConfig(["training.epochs": 2]))
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("resuming from"), resumed.output)
        XCTAssertTrue(resumed.output.contains("\(added) files in \(data.path) are not in this run's split (added since it was made): "
                                              + "this run ignores them"), resumed.output)
        XCTAssertEqual(try Data(contentsOf: splitFile), stored, "split.json must not change on resume")

        let evaluation = run.folder.appendingPathComponent("evaluation")
        let eval = try runProduct("bc-eval", ["--model", run.lastCheckpoint, "--data", data.path, "--split", "test",
                                              "--output", evaluation.path])
        XCTAssertEqual(eval.status, 0, eval.errors)
        let rows = try String(contentsOf: evaluation.appendingPathComponent("predictions.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().map { String($0.split(separator: ",")[0]) }
        XCTAssertEqual(Set(rows), Set(record.parts["test"]!.map { data.appendingPathComponent($0).path }))

        let gone = try XCTUnwrap(record.parts["train"]?.first)
        try FileManager.default.moveItem(at: data.appendingPathComponent(gone), to: run.folder.appendingPathComponent("away.png"))
        let refused = try run.launch(ranks: 2, config: try run.writeConfig(["training.epochs": 3]))
        XCTAssertEqual(refused.status, 1, refused.output)
        let errors = refused.output.split(separator: "\n").filter { $0.hasPrefix("bc-train: error") }
        XCTAssertEqual(errors.count, 2, refused.output)
        XCTAssertTrue(errors.allSatisfy { $0.contains("1 file of the run's split") && $0.contains(gone) && $0.contains("--drop-missing-files") },
                      refused.output)
        let dropped = try run.launch(ranks: 2, config: try run.writeConfig(["training.epochs": 3]), arguments: ["--drop-missing-files"])
        XCTAssertEqual(dropped.status, 0, dropped.output)
        XCTAssertTrue(dropped.output.contains("1 missing file left out of the 'train' part: \(gone)"), dropped.output)
        XCTAssertEqual(try SplitRecord.read(splitFile).parts["train"], record.parts["train"]!.filter { $0 != gone })
        XCTAssertEqual(try SplitRecord.read(splitFile).parts["test"], record.parts["test"])
    }

    /// A run folder has one run at a time: a second launch while the first trains stops with one line naming the
    /// holder; a lock left by a dead process of this host, or not refreshed for minutes by another host, is taken over.
    func testASecondRunOfTheSameFolderIsRefusedWhileTheFirstTrains() throws {
        let run = try MPIRun.prepare("lock")
        let config = try run.writeConfig(["training.epochs": 3, "model.input_size": [64, 64]])
        let lock = run.runFolder.appendingPathComponent("run.lock")
        var second: MPIRun.Outcome?
        let first = try run.launch(ranks: 1, config: config) { mpirun in
            XCTAssertTrue(run.wait(for: lock.path, while: mpirun), "no run.lock appeared")
            second = try? run.launch(ranks: 1, config: config)
            XCTAssertTrue(mpirun.isRunning, "the first run must still train while the second is refused")
        }
        XCTAssertEqual(first.status, 0, first.output)
        let refused = try XCTUnwrap(second)
        XCTAssertEqual(refused.status, 1, refused.output)
        let errors = refused.output.split(separator: "\n").filter { $0.hasPrefix("bc-train: error") }
        XCTAssertEqual(errors.count, 1, refused.output)
        XCTAssertTrue(errors[0].contains("\(run.runFolder.path) is in use by another bc-train run: host \(hostName()), PID "), refused.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: lock.path), "a finished run releases its lock")

        // A dead process of this host: its flock is gone.
        let dead = Process()
        dead.executableURL = URL(fileURLWithPath: "/bin/true")
        try dead.run()
        dead.waitUntilExit()
        try #"{"host":"\#(hostName())","pid":\#(dead.processIdentifier),"started":"2026-01-02T03:04:05Z"}"#.write(to: lock, atomically: true, encoding: .utf8)
        let afterDeath = try run.launch(ranks: 1, config: config)
        XCTAssertEqual(afterDeath.status, 0, afterDeath.output)
        XCTAssertTrue(afterDeath.output.contains("took over the lock of a run that is no longer running (host \(hostName()), "
                                                 + "PID \(dead.processIdentifier)"), afterDeath.output)

        // Another host's lock: refused while it is fresh, taken over once it has not been refreshed for minutes.
        try #"{"host":"node-elsewhere","pid":4242,"started":"2026-01-02T03:04:05Z"}"#.write(to: lock, atomically: true, encoding: .utf8)
        let fresh = try run.launch(ranks: 1, config: config)
        XCTAssertEqual(fresh.status, 1, fresh.output)
        XCTAssertTrue(fresh.output.contains("in use by another bc-train run: host node-elsewhere, PID 4242"), fresh.output)
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-600)], ofItemAtPath: lock.path)
        let stale = try run.launch(ranks: 1, config: config)
        XCTAssertEqual(stale.status, 0, stale.output)
        XCTAssertTrue(stale.output.contains("took over the lock of a run that is no longer running (host node-elsewhere, PID 4242"),
                      stale.output)
    }

    /// A preemption signal can come while MPI, the data and the model load: SIGTERM to a rank, or SIGUSR1 to
    /// `mpirun`, moments after the ranks start ends the run with status 75 (before, the default action killed them:
    /// 143 and 138), and the same command then trains.
    func testAStopSignalDuringStartUpEndsTheRunForAResume() throws {
        let run = try MPIRun.prepare("startup")
        let config = try run.writeConfig(["training.epochs": 1])
        let toRank = try run.launch(ranks: 2, config: config) { mpirun in
            var ranks: [Int32] = []
            while ranks.count < 2 && mpirun.isRunning { ranks = run.rankProcesses(of: mpirun); Thread.sleep(forTimeInterval: 0.02) }
            Thread.sleep(forTimeInterval: 0.3)
            if let rank = ranks.first { kill(rank, SIGTERM) }
        }
        XCTAssertEqual(toRank.status, 75, toRank.output)
        XCTAssertTrue(toRank.output.contains("bc-train: the ranks exit with status 75, the planned stop after a signal, not a crash"),
                      toRank.output)
        let toMpirun = try run.launch(ranks: 2, config: config) { mpirun in
            while run.rankProcesses(of: mpirun).count < 2 && mpirun.isRunning { Thread.sleep(forTimeInterval: 0.02) }
            Thread.sleep(forTimeInterval: 0.3)
            kill(mpirun.processIdentifier, SIGUSR1)
        }
        XCTAssertEqual(toMpirun.status, 75, toMpirun.output)
        let trained = try run.launch(ranks: 2, config: config)
        XCTAssertEqual(trained.status, 0, trained.output)
        XCTAssertTrue(trained.output.contains("Epoch 1/1"), trained.output)
    }

    /// Ctrl-C at the terminal: SIGINT to the foreground process group, here `mpirun` started as a shell starts it,
    /// with the sigkill timeout the Launch scripts set. Open MPI sends the ranks SIGCONT at once and SIGTERM and
    /// SIGKILL later; the ranks stop at the next step boundary right away, rank 0 writes `last.h5` long before the
    /// SIGKILL, and the run resumes from it. (`mpirun` itself exits 1 after a Ctrl-C whatever the ranks did.)
    func testCtrlCAtTheTerminalStopsAfterTheStepAndKeepsTheCheckpoint() throws {
        let setup = try String(contentsOf: repositoryRoot.appendingPathComponent("Launch/setup.sh"), encoding: .utf8)
        let key = "OMPI_MCA_odls_base_sigkill_timeout:-"
        let timeout = try XCTUnwrap(setup.range(of: key).map { setup[$0.upperBound...].prefix { $0.isNumber } })
        let run = try MPIRun.prepare("ctrlc")
        let config = try run.writeConfig(["training.epochs": 50, "training.batch_size": 16, "model.input_size": [96, 96],
                                          "callbacks.progress": "lines"])
        var interrupted = Date()
        let stopped = try run.launch(ranks: 2, config: config, environment: ["OMPI_MCA_odls_base_sigkill_timeout": String(timeout)],
                                     ownSession: true) { launcher in
            XCTAssertTrue(run.wait(for: run.lastCheckpoint, while: launcher), "the first epoch never ended")
            Thread.sleep(forTimeInterval: 1.5)
            let mpirun = run.children(of: launcher.processIdentifier, matching: "^/usr/bin/mpirun").first ?? launcher.processIdentifier
            interrupted = Date()
            killpg(getpgid(mpirun), SIGINT)
        }
        XCTAssertTrue(stopped.output.contains("bc-train: stop requested: stopping at the next step boundary"), stopped.output)
        XCTAssertTrue(stopped.output.contains("/last.h5 written: run the same command again to resume"), stopped.output)
        let written = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: run.lastCheckpoint)[.modificationDate] as? Date)
        XCTAssertGreaterThan(written, interrupted, "last.h5 must be written after the Ctrl-C")
        XCTAssertLessThan(written.timeIntervalSince(interrupted), Double(timeout)!,
                          "the checkpoint must follow the step, not wait for the SIGTERM")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: run.runFolder.path).filter { $0.contains(".tmp.") }
        XCTAssertEqual(leftovers, [], "no half-written checkpoint")
        XCTAssertFalse(try checkpointTensors(run.lastCheckpoint).isEmpty)
        let resumed = try run.launch(ranks: 2, config: try run.writeConfig(["training.epochs": 2, "training.batch_size": 16,
                                                                             "model.input_size": [96, 96]]))
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("resuming from \(run.lastCheckpoint)"), resumed.output)
    }

    /// Ranks on nodes that do not share the run folder (here: rank 1 in a mount namespace of its own, an empty folder
    /// mounted over the run folder) do not see the checkpoint rank 0 resumes from. Before, rank 1 started afresh and
    /// waited in a broadcast rank 0 never made: the job hung. Now every rank stops at once, saying what it sees.
    func testRanksThatSeeDifferentCheckpointsStopTogetherInsteadOfHanging() throws {
        let run = try MPIRun.prepare("unshared")
        let config = try run.writeConfig(["training.epochs": 1])
        XCTAssertEqual(try run.launch(ranks: 2, config: config).status, 0)
        let empty = run.folder.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let wrapper = run.folder.appendingPathComponent("private-view.sh")
        try """
            #!/bin/sh
            # Rank 1 sees an empty run folder, as on a node without the shared filesystem.
            if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then
                exec unshare --mount sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' sh "\(empty.path)" "\(run.runFolder.path)" "$@"
            fi
            exec "$@"
            """.write(to: wrapper, atomically: true, encoding: .utf8)
        chmod(wrapper.path, 0o755)
        let outcome = try run.launch(ranks: 2, config: try run.writeConfig(["training.epochs": 2]),
                                     rank: [wrapper.path, MPIRun.bcTrain], limit: 180)
        XCTAssertEqual(outcome.status, 1, outcome.output)
        let errors = outcome.output.split(separator: "\n").filter { $0.hasPrefix("bc-train: error") }
        XCTAssertEqual(errors.count, 2, outcome.output)
        XCTAssertTrue(errors.contains { $0.contains("rank 0 sees \(run.lastCheckpoint) (epoch 2, step 0)") }, outcome.output)
        XCTAssertTrue(errors.contains { $0.contains("rank 1 sees no checkpoint") }, outcome.output)
        XCTAssertTrue(errors.allSatisfy { $0.contains("the ranks do not see the same checkpoint in \(run.runFolder.path)") }, outcome.output)
    }
}
