import Datasets
import Foundation
import KerasHDF5
import Tensors
import XCTest

/// Runs the real `bc-train` executable under real `mpirun`, on a small synthetic BreakHis tree, as users do.
struct MPIRun {
    /// The build folder's `bc-train`, built with the tests (`swift build -c release --build-tests` builds every product).
    /// The test bundle is that folder (Linux) or inside it (macOS).
    static let bcTrain: String = {
        let bundle = Bundle(for: MPITrainingTests.self).bundleURL
        let candidates = [bundle, bundle.deletingLastPathComponent()].map { $0.appendingPathComponent("bc-train").path }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }()

    let folder: URL

    /// A fresh folder holding a synthetic dataset (8 patients x 6 images of `size` x `size`) and a config writing its run
    /// into `folder/runs/test`.
    static func prepare(_ name: String, size: Int = 32) throws -> MPIRun {
        removeEarlierFolders()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bc-mpi-\(name)-\(getpid())")
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        _ = try SyntheticHistology(patients: 8, imagesPerPatient: 6, size: size, seed: 5).write(to: folder.appendingPathComponent("data"))
        return MPIRun(folder: folder)
    }

    /// Removes the folders of earlier tests: this process's (its tests run one at a time) and those of test processes
    /// that have ended. Their checkpoints (~280 MB each for ResNet50 with Adam's slots) would otherwise add up to tens
    /// of GB over a full run; the folder of the last test stays for a look after a failure. The convolution choices of
    /// ended processes go too.
    static func removeEarlierFolders() {
        let temporary = FileManager.default.temporaryDirectory
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? [] {
            let ownFolder = name.hasPrefix("bc-mpi-")
            guard ownFolder || name.hasPrefix("bc-mpi.cache-"),
                  let owner = name.split(separator: "-").last.flatMap({ Int32($0) }) else { continue }
            if (ownFolder && owner == getpid()) || (kill(owner, 0) != 0 && errno == ESRCH) {
                try? FileManager.default.removeItem(at: temporary.appendingPathComponent(name))
            }
        }
    }

    /// The `XDG_CACHE_HOME` of every run this test process starts: `convolution_algorithm: auto` times each shape once
    /// and keeps the choice there, as in a user's cache, rather than in every test's folder (timing ResNet50's shapes
    /// takes seconds). The user's own cache stays untouched.
    static let cacheFolder = FileManager.default.temporaryDirectory.appendingPathComponent("bc-mpi.cache-\(getpid())")

    var runFolder: URL { folder.appendingPathComponent("runs/test") }
    var lastCheckpoint: String { runFolder.appendingPathComponent("last.h5").path }

    /// A config as JSON: ResNet50 at 32x32 with the report's head, 24 training images in batches of 7 (so the last
    /// step has 3 samples: with 4 ranks one rank gets none), one loader thread. `changes` are dotted keys.
    func writeConfig(_ changes: [String: Any] = [:], name: String = "config.json") throws -> String {
        var config: [String: Any] = [
            "run_name": "test", "output_dir": folder.appendingPathComponent("runs").path,
            "model": ["architecture": "resnet50", "input_size": [32, 32], "classes": 2],
            "data": ["root": folder.appendingPathComponent("data").path, "split_fractions": [0.5, 0.25, 0.25],
                     "augmentation": ["horizontal_flip": true, "rotation_range": 10], "loader_threads": 1],
            "training": ["epochs": 2, "batch_size": 7, "seed": 3,
                         "optimizer": ["name": "adam", "learning_rate": 0.001]],
            "callbacks": ["checkpoint_every_minutes": 0],
        ]
        for (key, value) in changes {
            let path = key.split(separator: ".").map(String.init)
            func set(_ object: inout [String: Any], _ keys: ArraySlice<String>) {
                if keys.count == 1 { object[keys.first!] = value; return }
                var child = object[keys.first!] as? [String: Any] ?? [:]
                set(&child, keys.dropFirst())
                object[keys.first!] = child
            }
            set(&config, path[...])
        }
        let url = folder.appendingPathComponent(name)
        try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted]).write(to: url)
        return url.path
    }

    struct Outcome {
        let status: Int32
        let output: String
    }

    /// Starts `mpirun -n ranks bc-train config`; `whileRunning` may signal it. Gives up (and fails) after `limit`.
    /// `ownSession` starts `mpirun` as the leader of a new session and process group, as a shell starts a foreground
    /// job (the group a terminal's Ctrl-C goes to); `setsid -w` passes its exit status on.
    @discardableResult
    /// `rank` is what mpirun starts (`bc-train`, or a wrapper that runs it).
    func launch(ranks: Int, config: String, arguments: [String] = [], environment extra: [String: String] = [:],
                ownSession: Bool = false, rank: [String] = [MPIRun.bcTrain], limit: TimeInterval = 600,
                whileRunning: ((Process) -> Void)? = nil) throws -> Outcome {
        let process = Process()
        let mpirun = ["/usr/bin/mpirun", "-n", "\(ranks)"] + (ranks > 2 ? ["--oversubscribe"] : [])
            + ["--bind-to", "none"] + rank + [config] + arguments
        process.executableURL = URL(fileURLWithPath: ownSession ? "/usr/bin/setsid" : mpirun[0])
        process.arguments = ownSession ? ["-w"] + mpirun : Array(mpirun.dropFirst())
        // Other tests in this process initialise MPI (a singleton world), which sets Open MPI and PMIx variables
        // that would make this mpirun think it runs inside that job: start from an environment without them.
        var environment = ProcessInfo.processInfo.environment.filter { key, _ in
            !["OMPI_", "PMIX_", "OPAL_", "PMI_", "ORTE_"].contains { key.hasPrefix($0) }
        }
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        environment["OMP_NUM_THREADS"] = "1"
        environment["OMP_WAIT_POLICY"] = "passive"
        environment["XDG_CACHE_HOME"] = Self.cacheFolder.path
        process.environment = environment.merging(extra) { $1 }
        let logURL = folder.appendingPathComponent("mpirun-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        process.standardOutput = log
        process.standardError = log
        // mpirun forwards standard input to rank 0; without a readable one (CI has none) it can fail silently.
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(limit)
        whileRunning?(process)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        if process.isRunning {
            XCTFail("mpirun did not finish within \(limit) s")
            process.terminate()
            for rank in rankProcesses(ofParent: process.processIdentifier) { kill(rank, SIGKILL) }
        }
        process.waitUntilExit()
        try log.close()
        return Outcome(status: process.terminationStatus, output: try String(contentsOf: logURL, encoding: .utf8))
    }

    /// Process ids of this run's bc-train ranks (children of `mpirun`, or of the `mpirun` that `parent` started).
    func rankProcesses(of mpirun: Process) -> [Int32] { rankProcesses(ofParent: mpirun.processIdentifier) }

    func rankProcesses(ofParent parent: Int32) -> [Int32] {
        let direct = children(of: parent, matching: "^" + Self.bcTrain)
        if !direct.isEmpty { return direct }
        return children(of: parent, matching: "^/usr/bin/mpirun").flatMap { children(of: $0, matching: "^" + Self.bcTrain) }
    }

    /// The process ids of `parent`'s children whose command line contains `pattern`.
    func children(of parent: Int32, matching pattern: String) -> [Int32] {
        let pgrep = Process(), pipe = Pipe()
        pgrep.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
        pgrep.arguments = ["-P", "\(parent)", "-f", pattern]
        pgrep.standardOutput = pipe
        try? pgrep.run()
        pgrep.waitUntilExit()
        return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .split(separator: "\n").compactMap { Int32($0) }
    }

    /// The MPI rank of one of this run's bc-train processes, from its environment (Open MPI sets OMPI_COMM_WORLD_RANK).
    func rank(ofProcess process: Int32) -> Int? {
        guard let environment = FileManager.default.contents(atPath: "/proc/\(process)/environ") else { return nil }
        let prefix = "OMPI_COMM_WORLD_RANK="
        return environment.split(separator: 0).lazy.map { String(decoding: $0, as: UTF8.self) }
            .first { $0.hasPrefix(prefix) }.flatMap { Int($0.dropFirst(prefix.count)) }
    }

    /// Waits until `path` exists (a checkpoint written) while `mpirun` runs, up to `limit` seconds.
    func wait(for path: String, while mpirun: Process, limit: TimeInterval = 300) -> Bool {
        let deadline = Date().addingTimeInterval(limit)
        while !FileManager.default.fileExists(atPath: path) {
            if Date() > deadline || !mpirun.isRunning { return false }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return true
    }
}

/// "kernel" from Keras' "conv1_conv/kernel:0".
func variableName(_ weightName: String) -> String {
    String(weightName.split(separator: "/").last!).replacingOccurrences(of: ":0", with: "")
}

/// Every weight ("layer/kernel") and optimizer-state tensor ("state/...") of a checkpoint.
func checkpointTensors(_ path: String) throws -> [String: Tensor] {
    let file = try KerasWeightsFile.read(path)
    var tensors: [String: Tensor] = [:]
    for layer in file.layers {
        for weight in layer.weights { tensors["\(layer.name)/\(variableName(weight.name))"] = weight.value }
    }
    for (key, tensor) in file.trainingState?.tensors ?? [:] { tensors["state/\(key)"] = tensor }
    return tensors
}

/// This host's name as bc-train's messages give it.
func hostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    gethostname(&buffer, buffer.count - 1)
    return String(cString: buffer)
}
