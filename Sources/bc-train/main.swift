import ArgumentParser
import BuildInfo
import CSupport
import Cluster
import Foundation
import Training

/// `mpirun -n 8 bc-train config.json`: trains data-parallel over the MPI ranks, resuming by itself from the run's
/// newest valid checkpoint. Exit status 0 when training finished, 75 when a stop signal was honoured (the
/// checkpoint is written: run the same command again), 1 on errors.
@main
struct BCTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bc-train",
        abstract: "Train a histopathology classifier data-parallel over MPI ranks, resuming after preemption.",
        discussion: "Launch with mpirun (see Launch/). SIGTERM, SIGINT, SIGUSR1 or SIGUSR2 stop all ranks at the next "
            + "step boundary after rank 0 wrote last.h5; exit status 75 means: run the same command again to resume.",
        version: BuildInfo.describe(tool: "bc-train"))

    @Argument(help: "The run's config.json (see Launch/*.json).") var config: String
    @Option(name: .customLong("set"), help: "Override a config key, e.g. --set training.epochs=5 (repeatable).")
    var overrides: [String] = []
    @Flag(help: "Start over instead of resuming from the run's checkpoint.") var noResume = false
    @Flag(help: ArgumentHelp("On resume, leave out files of the run's split that are no longer in the data folder "
          + "(named in the log) instead of refusing to continue."))
    var dropMissingFiles = false
    @Option(help: ArgumentHelp("Profile this many training steps (after one warm-up step) on every rank: writes "
            + "profile.json (Chrome trace, one track per rank) and profile.txt to the run folder, prints the summary, "
            + "and ends without changing the run.", valueName: "steps"))
    var profile = 0
    @Option(help: ArgumentHelp("Write what a fresh run of this config starts from to this folder, and train nothing: "
            + "initial.h5 (the initial model, loadable by Keras), plan.json (every step's files, labels, ranks and "
            + "augmentation keys), config.json and split.json. The run's own folder is not touched.", valueName: "folder"))
    var writePlan: String?

    func validate() throws {
        guard profile >= 0 else { throw ValidationError("--profile must be a number of steps, 1 or more") }
        guard profile == 0 || writePlan == nil else { throw ValidationError("--write-plan trains nothing, so it cannot --profile") }
    }

    func run() throws {
        // First of all: a preemption signal may come while MPI, the data and the model load.
        csupport_install_stop_handlers()
        let world: MPIWorld
        do { world = try MPIWorld.shared() } catch {
            FileHandle.standardError.write(Data("bc-train: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        // The first line of every training log: what ran, for reproducing a cluster run.
        if world.rank == 0 { print(BuildInfo.describe(tool: "bc-train")); fflush(stdout) }
        do {
            switch try TrainingRun.run(configPath: config, overrides: overrides, resume: !noResume,
                                       dropMissingFiles: dropMissingFiles, profileSteps: profile,
                                       planDirectory: writePlan.map { URL(fileURLWithPath: $0) }) {
            case .finished, .stoppedEarly, .profiled, .planned: return
            case .interrupted:
                if world.rank == 0 {
                    print("bc-train: the ranks exit with status \(TrainingRun.resumableExitCode), the planned stop after a signal, "
                          + "not a crash" + (world.size > 1 ? " (mpirun reports a non-zero exit code and an aborted job)" : "")
                          + ": run the same command again to resume")
                    fflush(stdout)
                }
                throw ExitCode(TrainingRun.resumableExitCode)
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            let rank = world.size > 1 ? " (rank \(world.rank))" : ""
            FileHandle.standardError.write(Data("bc-train: error\(rank): \(error)\n".utf8))
            if error is FailureDuringTraining && world.size > 1 { world.abort(code: 1) }
            throw ExitCode(1)
        }
    }
}
