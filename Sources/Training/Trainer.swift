import CSupport
import Cluster
import Evaluation
import Foundation
import KerasHDF5
import Layers
import Tensors

/// How a run ended. `interrupted` means a stop signal was agreed on and `last.h5` written: re-running the same
/// command resumes.
public enum TrainingOutcome: Equatable {
    case finished, stoppedEarly
    case interrupted(signal: Int32)
    /// `--profile`: the profiled steps ran and their profile is written; the run itself is unchanged.
    case profiled
    /// `--write-plan`: the plan is written; nothing was trained.
    case planned
}

/// The epoch/step loop of one rank. Every rank runs the same steps; at each step boundary they agree on stop
/// requests and periodic checkpoints; rank 0 alone writes files and prints.
public final class Trainer {
    let config: TrainingConfig
    let world: MPIWorld
    let step: DataParallelStep
    let training: BatchSource
    let validation: BatchSource?
    let checkpoints: CheckpointStore
    var state: RunState
    private var lastCheckpointTime = Date()
    private let progressOutput: ProgressBar.Output
    /// Names of the head's layers, which stay trainable while the backbone is frozen.
    let headLayers: Set<String>
    let watchdog: StallWatchdog
    /// With `--profile STEPS`: one warm-up step, then STEPS recorded ones, then the profile is written and training
    /// ends without writing checkpoints.
    var profiling: (steps: Int, profiler: Profiler, stepsRun: Int)?

    init(config: TrainingConfig, world: MPIWorld, step: DataParallelStep, training: BatchSource,
         validation: BatchSource?, checkpoints: CheckpointStore, state: RunState, headLayers: Set<String>,
         watchdog: StallWatchdog) {
        (self.config, self.world, self.step, self.training, self.validation) = (config, world, step, training, validation)
        (self.checkpoints, self.state, self.headLayers, self.watchdog) = (checkpoints, state, headLayers, watchdog)
        progressOutput = config.callbacks.progress.resolved()
    }

    func log(_ line: String) {
        guard world.rank == 0 else { return }
        print(line)
        fflush(stdout)
    }

    public func run() throws -> TrainingOutcome {
        watchdog.start()
        defer { watchdog.stop() }
        let warmupSteps = config.callbacks.warmupEpochs * training.stepsPerEpoch
        while state.epoch < config.training.epochs && !state.stoppedEarly {
            freezeBackbone(state.epoch < config.model.freezeBackboneEpochs)
            if state.epoch == config.model.freezeBackboneEpochs && state.epoch > 0 && state.step == 0 && state.fineTuningStarted != true {
                restartForFineTuning()
            }
            log("Epoch \(state.epoch + 1)/\(config.training.epochs)")
            try training.start(epoch: state.epoch, step: state.step)
            let bar = ProgressBar(totalSteps: training.stepsPerEpoch, output: progressOutput)
            let started = Date()
            let firstStep = state.step
            var images = 0
            watchdog.resetWaitedSeconds()
            while state.step < training.stepsPerEpoch {
                if let done = try profileStep() { return done }
                watchdog.stepStarted("step \(state.step + 1) of epoch \(state.epoch + 1)")
                let stepStart = Profiler.current?.microseconds()
                let (stopSignal, checkpointDue) = try Profiler.measure("step agreement", "phase") { try agreeAtStepBoundary() }
                if stopSignal != 0 && profiling != nil {
                    log("\nstopped by signal \(stopSignal) while profiling; the run is unchanged")
                    return .interrupted(signal: stopSignal)
                }
                if stopSignal != 0 {
                    try saveLast()
                    log("\nstopped by signal \(stopSignal) at epoch \(state.epoch + 1), step \(state.step); "
                        + "\(checkpoints.last.path) written: run the same command again to resume")
                    return .interrupted(signal: stopSignal)
                }
                if checkpointDue && profiling == nil { try saveLast() }
                let batch = try Profiler.measure("next batch", "phase") { try watchdog.waiting(for: .trainingBatch) { try training.next() } }
                step.optimizer.learningRate = warmupLearningRate(base: state.learningRate, globalStep: state.globalStep,
                                                                 warmupSteps: warmupSteps)
                let result = try step.run(batch)
                guard result.loss.isFinite else {
                    throw TrainingError("the loss became \(result.loss) at epoch \(state.epoch + 1), step \(state.step + 1): "
                                        + "training stopped; the last good checkpoint is \(checkpoints.last.path) "
                                        + "(try a lower learning rate)")
                }
                state.step += 1
                state.globalStep += 1
                state.epochLossSum += Double(result.loss) * Double(batch.globalCount)
                state.epochCorrect += result.correct
                state.epochSamples += batch.globalCount
                images += batch.globalCount
                if world.rank == 0 { bar.show(step: state.step, elapsed: Date().timeIntervalSince(started), metrics: epochMetrics) }
                watchdog.stepFinished()
                if let stepStart { Profiler.current?.record("step \(state.globalStep)", "step", since: stepStart) }
            }
            if profiling != nil { return try finishProfile() }
            let elapsed = Date().timeIntervalSince(started)
            let timing = EpochTiming(steps: state.step - firstStep, images: images, seconds: elapsed,
                                     waited: watchdog.secondsWaited, peakMemoryBytes: MachineMemory.peakResidentBytes,
                                     peakTensorBytes: TensorStorage.peakBytes)
            try finishEpoch(bar: bar, elapsed: elapsed)
            log(timing.description)
        }
        return state.stoppedEarly ? .stoppedEarly : .finished
    }

    /// Counts the steps of a profiled run: starts recording after the warm-up step (which creates the primitives),
    /// and ends the run once the recorded steps are done.
    private func profileStep() throws -> TrainingOutcome? {
        guard var run = profiling else { return nil }
        if run.stepsRun == 1 { Profiler.current = run.profiler }
        if run.stepsRun == run.steps + 1 { return try finishProfile() }
        run.stepsRun += 1
        profiling = run
        return nil
    }

    private func finishProfile() throws -> TrainingOutcome {
        Profiler.current = nil
        guard let run = profiling else { return .profiled }
        let summary = try TrainingProfile.write(run.profiler, world: world, directory: checkpoints.directory)
        log("\n" + summary)
        return .profiled
    }

    private var epochMetrics: [(String, Double)] {
        let samples = Double(max(state.epochSamples, 1))
        return [("loss", state.epochLossSum / samples), ("accuracy", Double(state.epochCorrect) / samples)]
    }

    /// One allreduce per step: the largest stop signal any rank received, and rank 0's clock saying a periodic
    /// checkpoint is due (ranks' clocks differ, so rank 0 decides for all).
    private func agreeAtStepBoundary() throws -> (stopSignal: Int32, checkpointDue: Bool) {
        var due: Int32 = 0
        if world.rank == 0 {
            let everySteps = config.callbacks.checkpointEverySteps, everyMinutes = config.callbacks.checkpointEveryMinutes
            let bySteps = everySteps > 0 && state.step > 0 && state.step % everySteps == 0
            let byTime = everyMinutes > 0 && Date().timeIntervalSince(lastCheckpointTime) >= everyMinutes * 60
            due = bySteps || byTime ? 1 : 0
        }
        let agreed = try watchdog.waiting(for: .stepAgreement) { try world.maximum([csupport_stop_requested(), due]) }
        return (agreed[0], agreed[1] != 0)
    }

    private func finishEpoch(bar: ProgressBar, elapsed: Double) throws {
        var logs = Dictionary(uniqueKeysWithValues: epochMetrics)
        watchdog.enter("the validation after epoch \(state.epoch + 1)")
        if let validation { logs.merge(try evaluate(validation)) { $1 } }
        let line = [("val_loss", logs["val_loss"]), ("val_accuracy", logs["val_accuracy"])].compactMap { name, value in
            value.map { (name, $0) }
        }
        if world.rank == 0 { bar.finish(elapsed: elapsed, metrics: epochMetrics + line) }
        state.history.rows.append([Double(state.epoch + 1), logs["loss"]!, logs["accuracy"]!, logs["val_loss"] ?? .nan,
                                   logs["val_accuracy"] ?? .nan, Double(state.learningRate)])

        let improved = logs[config.callbacks.monitor].map { state.best.improves($0) } ?? false
        if var reduce = state.reduceLR, let value = logs[reduce.options.monitor] {
            let reduced = reduce.epochEnded(value: value, learningRate: state.learningRate)
            if reduced != state.learningRate { log("ReduceLROnPlateau: learning rate \(state.learningRate) -> \(reduced)") }
            state.learningRate = reduced
            state.reduceLR = reduce
        }
        if var stop = state.earlyStopping, let value = logs[stop.options.monitor] {
            state.stoppedEarly = stop.epochEnded(epoch: state.epoch, value: value)
            state.earlyStopping = stop
            if state.stoppedEarly { log("EarlyStopping: no improvement of \(stop.options.monitor); stopping") }
        }
        let finishedEpoch = state.epoch + 1
        watchdog.enter("the end of epoch \(finishedEpoch)")
        state.epoch += 1
        state.step = 0
        (state.epochLossSum, state.epochCorrect, state.epochSamples) = (0, 0, 0)
        try saveLast()
        if improved {
            try onRankZero { try checkpoints.write(step.model, to: checkpoints.best, trainingConfig: trainingConfig, state: trainingState) }
            log("\(config.callbacks.monitor) improved to \(String(format: "%.4f", state.best.best!)): \(checkpoints.best.path) written")
        }
        if config.callbacks.saveEveryEpoch {
            try onRankZero {
                try checkpoints.write(step.model, to: checkpoints.epoch(finishedEpoch), trainingConfig: trainingConfig, state: trainingState)
            }
        }
        try onRankZero {
            try state.history.csv.write(to: checkpoints.directory.appendingPathComponent("history.csv"), atomically: true, encoding: .utf8)
        }
    }

    /// Loss and accuracy over a whole split, every rank evaluating its share, sums combined over ranks.
    private func evaluate(_ source: BatchSource) throws -> [String: Double] {
        try source.start(epoch: 0, step: 0)
        var totals = [0.0, 0.0, 0.0]  // loss sum, correct, samples
        let context = RunContext(backend: step.backend, training: false)
        for _ in 0..<source.stepsPerEpoch {
            let batch = try watchdog.waiting(for: .validationBatch) { try source.next() }
            guard !batch.labels.isEmpty else { continue }
            let probabilities = try step.model.forward(batch.images, context: context)
            totals[0] += Double(CategoricalCrossentropy().loss(probabilities: probabilities, labels: batch.labels,
                                                               globalBatchSize: 1))
            totals[1] += Double(correctCount(probabilities, batch.labels))
            totals[2] += Double(batch.labels.count)
            TensorStorage.trimPool()
        }
        try watchdog.waiting(for: .validationMetrics) { try totals.withUnsafeMutableBufferPointer { try world.sum($0) } }
        return ["val_loss": totals[0] / max(totals[2], 1), "val_accuracy": totals[1] / max(totals[2], 1)]
    }

    /// In the backbone-frozen epochs only the head trains (and frozen batch norms use their moving statistics,
    /// as in Keras).
    private func freezeBackbone(_ frozen: Bool) {
        for layer in step.model.layers { layer.trainable = !frozen || headLayers.contains(layer.name) }
    }

    /// Keras' recipe recompiles the model once the backbone is unfrozen and calls `fit` again, so the optimizer
    /// starts over (fresh slots, bias correction from step 1) at the fine-tuning rate, and ReduceLROnPlateau and
    /// EarlyStopping forget the frozen epochs (the best checkpoint's record stays, as a ModelCheckpoint kept across
    /// both fits does). Before the epoch's first step, once per run.
    private func restartForFineTuning() {
        state.learningRate = config.model.fineTuneLearningRate ?? state.learningRate
        step.optimizer.restart(learningRate: state.learningRate)
        state.startPlateauCallbacksAfresh()
        state.fineTuningStarted = true
        log("Backbone unfrozen: the optimizer and the plateau and early-stopping counters start over (as a Keras "
            + "recompile and second fit) at learning rate \(state.learningRate)")
    }

    var trainingConfig: JSON { kerasTrainingConfig(optimizer: step.optimizer) }

    var trainingState: TrainingState {
        get throws { TrainingState(optimizer: step.optimizer, json: try state.json) }
    }

    private func saveLast() throws {
        try onRankZero { try checkpoints.writeLast(step.model, trainingConfig: trainingConfig, state: trainingState) }
        lastCheckpointTime = Date()
    }

    /// Runs `write` on rank 0; every rank learns whether it worked, so that all fail together.
    private func onRankZero(_ write: () throws -> Void) throws {
        try watchdog.waiting(for: .checkpointWrite) {
            try world.together(TrainingError("rank 0 could not write a checkpoint (its error is in rank 0's output)")) {
                if world.rank == 0 { try write() }
            }
        }
    }
}
