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

    public static func run(configPath: String, overrides: [String], resume: Bool) throws -> TrainingOutcome {
        let world = try MPIWorld.shared()
        let config = try TrainingConfig.load(from: URL(fileURLWithPath: configPath), overrides: overrides)
        let log = { (line: String) in if world.rank == 0 { print(line); fflush(stdout) } }
        let checkpoints = CheckpointStore(directory: config.runDirectory)
        try agree(world) { try checkpoints.checkWritable() }

        // Data: every rank reads the folder and computes the same split.
        let dataset = try Dataset(root: URL(fileURLWithPath: config.data.root), options: DatasetOptions(
            magnification: config.data.magnification.flatMap(Magnification.init(rawValue:)),
            skipUnparseable: config.data.skipUnparseable))
        guard dataset.classNames.count == config.model.classes else {
            throw ConfigError(file: configPath, key: "model.classes", message: "is \(config.model.classes), but \(config.data.root) "
                              + "has \(dataset.classNames.count) classes (\(dataset.classNames.joined(separator: ", ")))")
        }
        let split = try makeSplit(dataset, config)
        log("bc-train: \(dataset.samples.count) images in \(dataset.layout.rawValue) at \(config.data.root)"
            + (dataset.skippedFiles.isEmpty ? "" : " (\(dataset.skippedFiles.count) unparseable file names skipped)"))
        log(split.summary(of: dataset).description)
        try agree(world) {
            guard world.rank == 0 else { return }
            for name in try checkpoints.removeUnfinishedWrites() { log("removed an unfinished checkpoint write: \(name)") }
            try writeRunRecord(config, dataset, split, checkpoints)
        }

        // Model, optimizer, loss.
        let model = try buildModel(config.model.architecture, inputShape: config.model.inputSize + [3],
                                   head: HeadOptions(classes: config.model.classes, dropout: config.model.dropout,
                                                     batchNorm: config.model.headBatchNorm),
                                   seed: config.training.seed)
        let trainSamples = split.samples("train", of: dataset)!
        let loss = CategoricalCrossentropy(classWeights: try classWeights(config, trainSamples, dataset.classNames))
        let optimizer = makeOptimizer(config.training.optimizer)
        let backend = OneDNNBackend(threads: config.training.threadsPerRank)
        let watchdog = StallWatchdog(floorSeconds: config.distributed.stallWarningSeconds,
                                     factor: config.distributed.stallWarningFactor,
                                     rankName: "rank \(world.rank) (\(hostName()))")
        let step = DataParallelStep(model: model, optimizer: optimizer, loss: loss, backend: backend, world: world,
                                    synchronizeBatchNorm: config.distributed.syncBatchNorm,
                                    bucketElements: config.distributed.bucketMegabytes << 18, watchdog: watchdog)

        var state = RunState(config: config, worldSize: world.size, classNames: dataset.classNames)
        if resume, let found = checkpoints.newestValid() {
            for note in found.skipped { log("warning: skipped a damaged checkpoint: \(note)") }
            let restored = try RunState(json: found.state.json)
            try requireCompatible(restored.config, config, configPath: configPath)
            _ = try importWeights(from: found.file, into: model)
            found.state.restore(optimizer)
            state = restored
            state.config = config
            log("resuming from \(found.file.path): epoch \(state.epoch + 1), step \(state.step)"
                + (restored.worldSize == world.size ? "" : " (written by \(restored.worldSize) ranks, now \(world.size))"))
            state.worldSize = world.size
        } else {
            if !resume { try agree(world) { if world.rank == 0 { try checkpoints.removeResumable() } } }
            if let pretrained = config.model.pretrained {
                let report = try importWeights(fromFile: pretrained, into: model)
                log("pretrained: \(report.loaded.count) layers loaded from \(pretrained), \(report.notInFile.count) initialised here")
            }
            try step.broadcastWeights()
        }

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
        let trainer = Trainer(config: config, world: world, step: step, training: LoaderBatchSource(training),
                              validation: validation.map(LoaderBatchSource.init), checkpoints: checkpoints, state: state,
                              headLayers: headLayerNames, watchdog: watchdog)
        let outcome: TrainingOutcome
        do { outcome = try trainer.run() } catch { throw FailureDuringTraining(underlying: error) }
        if case .interrupted = outcome { return outcome }
        log("done: \(checkpoints.directory.path) holds last.h5, best.h5, history.csv, config.json and split.json")
        return outcome
    }

    static let headLayerNames: Set<String> = ["avg_pool", "dropout", "bn_head", "predictions"]

    /// Runs `body` on every rank; any rank's failure stops all of them before training starts.
    static func agree(_ world: MPIWorld, _ body: () throws -> Void) throws {
        try world.together(TrainingError("another rank failed before training started (its error is in its output)"), body)
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

    static func makeOptimizer(_ options: OptimizerOptions) -> Optimizer {
        switch options.name {
        case .adam: Adam(learningRate: options.learningRate, beta1: options.beta1, beta2: options.beta2, epsilon: options.epsilon)
        case .sgd: SGD(learningRate: options.learningRate, momentum: options.momentum, nesterov: options.nesterov)
        }
    }

    /// The run's config and split, next to its checkpoints, so a run can be audited and evaluated later.
    static func writeRunRecord(_ config: TrainingConfig, _ dataset: Dataset, _ split: DatasetSplit,
                               _ checkpoints: CheckpointStore) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(config).write(to: checkpoints.directory.appendingPathComponent("config.json"), options: .atomic)
        let parts = Dictionary(uniqueKeysWithValues: split.parts.map { part in (part.name, part.indices.map { dataset.samples[$0].path }) })
        let record = SplitRecord(classNames: dataset.classNames, parts: parts)
        try encoder.encode(record).write(to: checkpoints.directory.appendingPathComponent("split.json"), options: .atomic)
    }

    /// Resuming is refused when the config changed in a way that would make the continuation a different run;
    /// epochs may grow, and threads, loader, checkpoint, progress and stall-warning settings may change.
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

/// `split.json`: which files went into which part.
struct SplitRecord: Codable {
    let classNames: [String]
    let parts: [String: [String]]
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
