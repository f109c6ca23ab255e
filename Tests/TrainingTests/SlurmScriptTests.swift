import Foundation
import TestSupport
import XCTest

/// `Launch/slurm.sbatch`'s logic with stand-ins for `srun`, `mpirun` and `scontrol` on PATH (no Slurm here): a run
/// that stopped for preemption (75) or was ended by the stall abort (76) is requeued exactly once, a finished one is
/// not, a failed one fails the job.
final class SlurmScriptTests: XCTestCase {
    struct Result {
        let status: Int32
        let launches: [String]
        let scontrol: [String]
    }

    func runScript(launcherStatus: Int32, launcher: String = "srun") throws -> Result {
        let folder = try temporaryFolder(self)
        let log = folder.appendingPathComponent("calls.log")
        for name in ["srun", "mpirun", "scontrol"] {
            let stub = folder.appendingPathComponent(name)
            let status = name == "scontrol" ? 0 : launcherStatus
            try "#!/bin/sh\necho \"\(name) $*\" >> '\(log.path)'\nexit \(status)\n".write(to: stub, atomically: true, encoding: .utf8)
            chmod(stub.path, 0o755)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [repositoryRoot.appendingPathComponent("Launch/slurm.sbatch").path, "run.json", "--no-resume"]
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = folder.path + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        environment["SLURM_JOB_ID"] = "4711"
        environment["SLURM_CPUS_PER_TASK"] = "4"
        environment["BC_LAUNCHER"] = launcher
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let calls = ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        return Result(status: process.terminationStatus, launches: calls.filter { !$0.hasPrefix("scontrol") },
                      scontrol: calls.filter { $0.hasPrefix("scontrol") })
    }

    func testAStoppedRunIsRequeuedOnceAndOthersAreNot() throws {
        let stopped = try runScript(launcherStatus: 75)
        XCTAssertEqual(stopped.status, 0)
        XCTAssertEqual(stopped.scontrol, ["scontrol requeue 4711"])
        XCTAssertEqual(stopped.launches, ["srun --mpi=pmix --cpu-bind=cores .build/release/bc-train run.json "
                                          + "--set training.threads_per_rank=4 --set callbacks.progress=lines --no-resume"])

        let stuck = try runScript(launcherStatus: 76)
        XCTAssertEqual(stuck.scontrol, ["scontrol requeue 4711"], "a job ended by the stall abort is requeued too")

        let finished = try runScript(launcherStatus: 0)
        XCTAssertEqual(finished.status, 0)
        XCTAssertEqual(finished.scontrol, [])

        let failed = try runScript(launcherStatus: 1)
        XCTAssertEqual(failed.status, 1, "a failed run fails the job")
        XCTAssertEqual(failed.scontrol, [])

        let viaMpirun = try runScript(launcherStatus: 75, launcher: "mpirun")
        XCTAssertEqual(viaMpirun.scontrol, ["scontrol requeue 4711"])
        XCTAssertEqual(viaMpirun.launches.first?.hasPrefix("mpirun --map-by slot:PE=4 --bind-to core .build/release/bc-train run.json"),
                       true, "\(viaMpirun.launches)")
    }
}
