import CSupport
import Cluster
import Datasets
import Foundation
import Images
import KerasHDF5
import Layers
import Models
import OneDNN
import Tensors

/// `bc-train config.json`: everything between the command line and the trainer's loop. Every rank runs it;
/// any problem found before training starts stops every rank with the same one-line error.
public enum TrainingRun {
    /// Exit status of a run stopped by a signal after writing its checkpoint (sysexits' EX_TEMPFAIL): run again.
    public static let resumableExitCode: Int32 = 75

    /// `profileSteps` > 0: profile that many steps after one warm-up step, write the profile, and end without
    /// changing the run (`--profile`). `planDirectory`: write a fresh run's plan there (`RunPlan`: its config,
    /// split, initial model and batches) instead of training; the run's own folder is not touched (`--write-plan`).
    public static func run(configPath: String, overrides: [String], resume: Bool, dropMissingFiles: Bool = false,
                           profileSteps: Int = 0, planDirectory: URL? = nil) throws -> TrainingOutcome {
        let world = try MPIWorld.shared()
        if world.rank == 0 { csupport_announce_stop_requests(stopAnnouncement) }
        let configPath = URL(fileURLWithPath: configPath).path
        let config = try TrainingConfig.load(from: URL(fileURLWithPath: configPath), overrides: overrides)
        let log = { (line: String) in if world.rank == 0 { print(line); fflush(stdout) } }
        let resume = resume && planDirectory == nil
        let checkpoints = planDirectory.map { CheckpointStore(directory: $0, role: "--write-plan folder") }
            ?? CheckpointStore(directory: config.runDirectory)
        try agree(world) { try checkpoints.checkWritable() }
        var lock: RunLock?
        try agree(world) { if world.rank == 0 { lock = try RunLock(directory: checkpoints.directory) } }
        defer { lock?.release() }
        if let note = lock?.note { log(note) }

        let dataset = try Dataset(root: URL(fileURLWithPath: config.data.root), options: DatasetOptions(
            magnification: config.data.magnification.flatMap(Magnification.init(rawValue:)),
            skipUnparseable: config.data.skipUnparseable))
        guard dataset.classNames.count == config.model.classes else {
            throw ConfigError(file: configPath, key: "model.classes", message: "is \(config.model.classes), but \(config.data.root) "
                              + "has \(dataset.classNames.count) classes (\(dataset.classNames.joined(separator: ", ")))")
        }
        log("bc-train: \(dataset.samples.count) images in \(dataset.layout.rawValue) at \(config.data.root)"
            + (dataset.skippedFiles.isEmpty ? "" : " (\(dataset.skippedFiles.count) unparseable file names skipped)"))

        // Resuming continues the run on its own split; a fresh run makes one.
        let found = resume ? checkpoints.newestValid() : nil
        var state = RunState(config: config, worldSize: world.size, classNames: dataset.classNames)
        let restoredState = try found.map { try RunState(json: $0.state.json) }
        try requireSameCheckpoint(found, restoredState, in: checkpoints, world)
        let split = try agreed(world) { () -> DatasetSplit in
            guard let found, let restored = restoredState else { return try makeSplit(dataset, config) }
            for note in found.skipped { log("warning: skipped a damaged checkpoint: \(note)") }
            try requireCompatible(restored.config, config, configPath: configPath)
            return try storedSplit(of: dataset, for: restored, checkpoint: found.file.path, in: checkpoints,
                                   dropMissing: dropMissingFiles, log: log)
        }
        log(split.summary(of: dataset).description)
        let record = SplitRecord(split: split, of: dataset)
        try agree(world) {
            guard world.rank == 0 else { return }
            for name in try checkpoints.removeUnfinishedWrites() { log("removed an unfinished checkpoint write: \(name)") }
            if !resume { try checkpoints.removeResumable() }
            try writeRunRecord(config, record, checkpoints)
        }
        if let signal = try stopRequestedDuringStartup(world) {
            log("stopped by signal \(signal) during start-up, before training began; "
                + (found == nil ? "nothing was trained yet" : "\(found!.file.path) is unchanged")
                + ": run the same command again to " + (found == nil ? "start" : "resume"))
            return .interrupted(signal: signal)
        }

        // Model, optimizer, loss.
        let model = try buildModel(config.model.architecture, inputShape: config.model.inputSize + [3],
                                   head: HeadOptions(classes: config.model.classes, dropout: config.model.dropout,
                                                     batchNorm: config.model.headBatchNorm),
                                   seed: config.training.seed)
        model.recomputesActivations = config.compute.recomputeActivations.recomputes(
            model, perRankBatch: (config.training.batchSize + world.size - 1) / world.size)
        if model.recomputesActivations {
            log("compute: backward recomputes batch norm + ReLU outputs and concatenations instead of keeping them "
                + "(compute.recompute_activations \(config.compute.recomputeActivations.rawValue))")
        }
        try agree(world) { try requireMemory(for: model, config, world, configPath: configPath) }
        let trainSamples = split.samples("train", of: dataset)!
        let loss = CategoricalCrossentropy(classWeights: try classWeights(config, trainSamples, dataset.classNames))
        let optimizer = makeOptimizer(config.training.optimizer, threads: config.training.threadsPerRank)
        let backend = OneDNNBackend(threads: config.training.threadsPerRank,
                                    convolutionAlgorithm: config.compute.convolutionAlgorithm,
                                    precision: config.compute.precision)
        if config.compute.convolutionAlgorithm == .auto && OneDNNBackend.instructionSet.hasPrefix("avx512") {
            let timed = config.compute.precision == .mixedBFloat16 && OneDNNBackend.hasBFloat16Instructions
                ? "Winograd kernels time them against direct, and bf16 kernels against float32," : "Winograd kernels time them against direct"
            log("compute: convolutions with \(timed) once per shape on this machine; the choices "
                + "are kept in \(backend.algorithmChoices.file.path) (compute.convolution_algorithm auto)")
        }
        if config.compute.precision == .mixedBFloat16 {
            log("compute: mixed_bfloat16 on oneDNN's \(OneDNNBackend.instructionSet) kernels" + (OneDNNBackend.hasBFloat16Instructions ? ""
                : "; this CPU has no bf16 instructions, so convolutions oneDNN can only emulate in bf16 stay float32"))
        }
        let watchdog = StallWatchdog(floorSeconds: config.distributed.stallWarningSeconds,
                                     factor: config.distributed.stallWarningFactor,
                                     abortSeconds: config.distributed.stallAbortSeconds,
                                     rankName: "rank \(world.rank) (\(hostName()))")
        let step = DataParallelStep(model: model, optimizer: optimizer, loss: loss, backend: backend, world: world,
                                    synchronizeBatchNorm: config.distributed.syncBatchNorm.synchronizes(
                                        perRankBatch: (config.training.batchSize + world.size - 1) / world.size),
                                    bucketElements: config.distributed.bucketMegabytes << 18,
                                    overlapCommunication: config.distributed.overlap, watchdog: watchdog)

        if let found, let restored = restoredState {
            _ = try importWeights(from: found.file, into: model)
            found.state.restore(optimizer)
            state = restored
            state.config = config
            log("resuming from \(found.file.path): epoch \(state.epoch + 1), step \(state.step)"
                + (restored.worldSize == world.size ? "" : " (written by \(restored.worldSize) ranks, now \(world.size))"))
            state.worldSize = world.size
            if state.step > 0, let before = state.splitDigests?["train"], before != record.digests?["train"] {
                // Training files were dropped: the epoch in progress has other batches now, so it starts over.
                log("the epoch in progress restarts at its first step: its batches changed with the dropped files")
                (state.step, state.epochLossSum, state.epochCorrect, state.epochSamples) = (0, 0, 0, 0)
            }
        } else if let pretrained = config.model.pretrained {
            let report = try importWeights(fromFile: pretrained, into: model)
            log("pretrained: \(report.loaded.count) layers loaded from \(pretrained), \(report.notInFile.count) initialised here")
        }
        if found == nil { try step.broadcastWeights() }
        state.splitDigests = record.digests

        let size = config.model.inputSize
        let preprocessing = Preprocessing(rawValue: config.model.architecture.preprocessingMode)!
        func loader(_ part: String, augmentation: Augmentation, order: SampleOrder) throws -> Loader? {
            guard let samples = split.samples(part, of: dataset), !samples.isEmpty else { return nil }
            return try Loader(samples: samples, classCount: dataset.classNames.count, configuration: LoaderConfiguration(
                height: size[0], width: size[1], resize: config.data.resize, augmentation: augmentation,
                preprocessing: preprocessing, globalBatchSize: config.training.batchSize, worldSize: world.size,
                rank: world.rank, seed: config.training.seed, order: order, workerThreads: config.data.loaderThreads,
                cacheBytes: config.data.cacheMegabytes << 20))
        }
        let training = try loader("train", augmentation: config.data.augmentation,
                                  order: config.data.balancedSampling ? .classBalanced : .shuffled)!
        let validation = try loader("validation", augmentation: .none, order: .sequential)
        if let planDirectory {
            let plan = RunPlan(config: config, loader: training, model: model, classNames: dataset.classNames, classWeight: loss.classWeights,
                               worldSize: world.size)
            try agree(world) { if world.rank == 0 { try plan.write(to: planDirectory, model: model, optimizer: optimizer) } }
            log("wrote \(planDirectory.path): initial.h5, plan.json (\(config.training.epochs) epochs of "
                + "\(training.stepsPerEpoch) steps), config.json and split.json; nothing was trained")
            return .planned
        }
        let trainer = Trainer(config: config, world: world, step: step, training: LoaderBatchSource(training),
                              validation: validation.map(LoaderBatchSource.init), checkpoints: checkpoints, state: state,
                              headLayers: headLayerNames, watchdog: watchdog)
        if profileSteps > 0 { trainer.profiling = (profileSteps, Profiler(), 0) }
        let outcome: TrainingOutcome
        do { outcome = try trainer.run() } catch { throw FailureDuringTraining(underlying: error) }
        if config.compute.precision == .mixedBFloat16 {
            log("compute: convolution primitives by oneDNN kernel and type: "
                + backend.convolutionKernels.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }.joined(separator: ", "))
        }
        if case .interrupted = outcome { return outcome }
        if outcome == .profiled { return outcome }
        log("done: \(checkpoints.directory.path) holds last.h5, best.h5, history.csv, config.json and split.json")
        return outcome
    }

    /// Written at once by rank 0's signal handler on the first stop request, so that nobody presses Ctrl-C twice.
    static let stopAnnouncement: UnsafePointer<CChar> = {
        let text = "\nbc-train: stop requested: stopping at the next step boundary; rank 0 then writes last.h5 "
            + "(exit status 75)\n"
        return UnsafePointer(strdup(text)!)
    }()

    /// The largest stop signal any rank received so far (start-up agrees on it between its phases), or nil.
    static func stopRequestedDuringStartup(_ world: MPIWorld) throws -> Int32? {
        let signal = try world.maximum([csupport_stop_requested()])[0]
        return signal == 0 ? nil : signal
    }

    /// Refuses an input size and batch whose training step this machine cannot hold, before anything that size
    /// is allocated. Ranks on one node share its memory (Open MPI says how many there are).
    static func requireMemory(for model: Graph, _ config: TrainingConfig, _ world: MPIWorld, configPath: String) throws {
        let perRank = (config.training.batchSize + world.size - 1) / world.size
        let needed = model.estimatedTrainingBytes(batch: perRank)
        let ranksHere = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) ?? 1
        let available = Double(MachineMemory.physicalBytes) / Double(max(ranksHere, 1))
        guard needed > available else { return }
        throw ConfigError(file: configPath, key: "model.input_size", message: "\(config.model.inputSize) with "
                          + "\(perRank) images per rank (training.batch_size \(config.training.batchSize) over \(world.size) "
                          + "rank\(world.size == 1 ? "" : "s")) needs at least \(MachineMemory.describe(needed)) per rank, but this "
                          + "machine has \(MachineMemory.describe(Double(MachineMemory.physicalBytes)))"
                          + (ranksHere > 1 ? " for its \(ranksHere) ranks" : "")
                          + ": use a smaller input size or batch")
    }

    /// The split a resumed run was trained on (`split.json`, checked against the digests in its checkpoint),
    /// matched with the folder as it is now: files added since are left out and counted, files gone are an error
    /// unless `dropMissing`.
    static func storedSplit(of dataset: Dataset, for state: RunState, checkpoint: String, in checkpoints: CheckpointStore,
                            dropMissing: Bool, log: (String) -> Void) throws -> DatasetSplit {
        let url = checkpoints.splitRecord
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw TrainingError("\(url.path) is missing: a run resumes only on the split it was trained with; restore "
                                + "the file, or start over with --no-resume")
        }
        let record = try SplitRecord.read(url)
        if let expected = state.splitDigests, record.digests != expected {
            throw TrainingError("\(url.path) is not the split \(checkpoint) was trained with (the file lists' digests "
                                + "differ): restore the run's split.json, or start over with --no-resume")
        }
        let comparison: SplitRecord.Comparison
        do { comparison = try record.resolve(in: dataset, source: url.path, dropMissing: dropMissing) } catch {
            guard case SplitRecordError.missingFiles = error else { throw error }
            throw TrainingError("\(error); restore them, or run with --drop-missing-files to continue without them")
        }
        for (part, files) in comparison.missing.sorted(by: { $0.key < $1.key }) {
            log("warning: --drop-missing-files: \(files.count) missing file\(files.count == 1 ? "" : "s") left out of the "
                + "'\(part)' part: \(files.joined(separator: ", "))")
        }
        if !comparison.added.isEmpty {
            log("\(comparison.added.count) file\(comparison.added.count == 1 ? "" : "s") in \(dataset.root.path) "
                + "\(comparison.added.count == 1 ? "is" : "are") not in this run's split (added since it was made): "
                + "this run ignores \(comparison.added.count == 1 ? "it" : "them"); a new run_name would use them")
        }
        return comparison.split
    }

    /// The layers that train while the backbone is frozen.
    public static let headLayerNames: Set<String> = ["avg_pool", "dropout", "bn_head", "predictions"]

    /// Runs `body` on every rank; any rank's failure stops all of them before training starts.
    static func agree(_ world: MPIWorld, _ body: () throws -> Void) throws {
        try world.together(TrainingError("another rank failed before training started (its error is in its output)"), body)
    }

    /// `agree` for a body that computes a value.
    static func agreed<Value>(_ world: MPIWorld, _ body: () throws -> Value) throws -> Value {
        var value: Value?
        try agree(world) { value = try body() }
        return value!
    }

    /// Every rank reads the run folder itself, so all must see the same checkpoint (or none): a rank on a node
    /// without the shared folder, or with a stale view of it, would otherwise start afresh while the others resume,
    /// and wait forever in a broadcast they never make. Each rank compares a digest of what it found with the
    /// others', and all stop with one line each saying what they see.
    static func requireSameCheckpoint(_ found: (file: KerasWeightsFile, state: TrainingState, skipped: [String])?,
                                      _ state: RunState?, in checkpoints: CheckpointStore, _ world: MPIWorld) throws {
        var digest: UInt64 = 0
        if let found {
            digest = 0xcbf2_9ce4_8422_2325
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            for byte in try encoder.encode(found.state.json) { digest = (digest ^ UInt64(byte)) &* 0x100_0000_01b3 }
            for layer in found.file.layers { for weight in layer.weights { digest = (digest ^ checksum(weight.value)) &* 0x100_0000_01b3 } }
        }
        // Two 31-bit halves of the digest, and whether there is a checkpoint at all.
        let view: [Int32] = [found == nil ? 0 : 1, Int32(digest >> 33), Int32(digest >> 2 & 0x7fff_ffff)]
        guard try !world.allEqual(view) else { return }
        let seen = found.map { found in
            "\(found.file.path)" + (state.map { " (epoch \($0.epoch + 1), step \($0.step))" } ?? "")
        } ?? "no checkpoint"
        throw TrainingError("the ranks do not see the same checkpoint in \(checkpoints.directory.path); rank \(world.rank) "
                            + "sees \(seen). Every rank reads the run folder: it must be on a filesystem that all nodes "
                            + "share and see alike")
    }

    static func makeSplit(_ dataset: Dataset, _ config: TrainingConfig) throws -> DatasetSplit {
        if dataset.layout == .preSplit { return try dataset.predefinedSplit() }
        let names = ["train", "validation", "test"]
        let fractions = zip(names, config.data.splitFractions).filter { $0.1 > 0 }.map { (name: $0.0, fraction: $0.1) }
        switch config.data.split {
        case .patient, .image:
            return try dataset.split(fractions, seed: config.training.seed, keepPatientsTogether: config.data.split == .patient)
        case .fold:
            let fold = try dataset.officialFoldSplit(foldFile: URL(fileURLWithPath: config.data.foldFile!))
            let validation = config.data.splitFractions[1]
            guard validation > 0 else { return fold }
            return try fold.dividing("train", into: [("train", 1 - validation), ("validation", validation)],
                                     seed: config.training.seed, of: dataset)
        }
    }

    static func classWeights(_ config: TrainingConfig, _ samples: [Sample], _ classNames: [String]) throws -> [Float]? {
        switch config.data.classWeight {
        case .none: nil
        case .balanced: try balancedClassWeights(labels: samples.map(\.label), classNames: classNames).map(Float.init)
        case .explicit(let weights): weights
        }
    }

    static func makeOptimizer(_ options: OptimizerOptions, threads: Int) -> Optimizer {
        switch options.name {
        case .adam: Adam(learningRate: options.learningRate, beta1: options.beta1, beta2: options.beta2, epsilon: options.epsilon,
                         threads: threads)
        case .sgd: SGD(learningRate: options.learningRate, momentum: options.momentum, nesterov: options.nesterov, threads: threads)
        }
    }

    /// The run's config and split, next to its checkpoints, so a run can be audited, resumed on the same split and
    /// evaluated later.
    static func writeRunRecord(_ config: TrainingConfig, _ split: SplitRecord, _ checkpoints: CheckpointStore) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(config).write(to: checkpoints.directory.appendingPathComponent("config.json"), options: .atomic)
        try split.write(to: checkpoints.splitRecord)
    }

    /// Resuming is refused when the config changed in a way that would make the continuation a different run;
    /// epochs may grow, and threads, loader, checkpoint, progress, stall-warning and compute settings may change.
    static func requireCompatible(_ saved: TrainingConfig, _ current: TrainingConfig, configPath: String) throws {
        var comparable = current
        comparable.training.epochs = saved.training.epochs
        comparable.training.threadsPerRank = saved.training.threadsPerRank
        comparable.data.loaderThreads = saved.data.loaderThreads
        comparable.data.cacheMegabytes = saved.data.cacheMegabytes
        comparable.callbacks.checkpointEverySteps = saved.callbacks.checkpointEverySteps
        comparable.callbacks.checkpointEveryMinutes = saved.callbacks.checkpointEveryMinutes
        comparable.callbacks.progress = saved.callbacks.progress
        comparable.distributed.stallWarningSeconds = saved.distributed.stallWarningSeconds
        comparable.distributed.stallWarningFactor = saved.distributed.stallWarningFactor
        comparable.distributed.stallAbortSeconds = saved.distributed.stallAbortSeconds
        comparable.compute = saved.compute
        guard comparable != saved else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let before = try flatten(JSONSerialization.jsonObject(with: encoder.encode(saved)))
        let after = try flatten(JSONSerialization.jsonObject(with: encoder.encode(comparable)))
        let changed = Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }.sorted()
        throw ConfigError(file: configPath, key: changed.joined(separator: ", "),
                          message: "changed since the checkpoint in \(saved.runDirectory.path) was written; resuming would "
                          + "mix two different runs. Restore the old values, use a new run_name, or pass --no-resume")
    }

    private static func flatten(_ value: Any, prefix: String = "") -> [String: String] {
        guard let object = value as? [String: Any] else { return [prefix: "\(value)"] }
        return object.reduce(into: [:]) { result, entry in
            result.merge(flatten(entry.value, prefix: prefix.isEmpty ? entry.key : prefix + "." + entry.key)) { $1 }
        }
    }
}

/// An error after training started: it may have reached one rank only while the others wait in a collective
/// call, so the job must be ended as a whole (MPI_Abort), not by this rank's exit.
public struct FailureDuringTraining: Error, CustomStringConvertible {
    public let underlying: Error
    public var description: String { "\(underlying)" }
}

extension CheckpointStore {
    /// With --no-resume: the old run's resumable checkpoints go, so a crash before the first new checkpoint cannot
    /// resume the old run by mistake.
    func removeResumable() throws {
        for url in [last, previous] where FileManager.default.fileExists(atPath: url.path) {
            try FileManager.default.removeItem(at: url)
        }
    }
}
