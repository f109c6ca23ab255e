import Evaluation
import Foundation
import Layers

/// Where a run is and everything its callbacks remember, saved in every checkpoint (as JSON in the training
/// state group) so that re-running the same command continues exactly.
struct RunState: Codable, Equatable {
    /// The epoch in progress (0-based) and the number of its steps already done.
    var epoch = 0
    var step = 0
    var globalStep = 0
    /// The rate after plateau reductions; warmup scales it per step.
    var learningRate: Float
    /// Running sums of the epoch in progress, so a resumed epoch reports the same totals.
    var epochLossSum = 0.0
    var epochCorrect = 0
    var epochSamples = 0
    var best: BestCheckpointTracker
    var reduceLR: ReduceLROnPlateau?
    var earlyStopping: EarlyStopping?
    var stoppedEarly = false
    var history = TrainingHistory(columns: ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"])
    /// The world size that wrote the checkpoint (resuming on another is allowed, and said).
    var worldSize: Int
    var config: TrainingConfig
    /// The dataset's class names in label order, so predictions can be named without the dataset.
    var classNames: [String]
    /// Digests of the run's split (`SplitRecord.digests`): a resume checks that `split.json` is still this split.
    /// Absent in checkpoints written before the split was kept.
    var splitDigests: [String: String]?
    /// Whether the optimizer restarted for fine-tuning (the backbone's unfreezing): it happens once per run, even
    /// when a resume starts that epoch over. Absent (nil) in checkpoints written before it was kept.
    var fineTuningStarted: Bool?

    init(config: TrainingConfig, worldSize: Int, classNames: [String]) {
        learningRate = config.training.optimizer.learningRate
        best = BestCheckpointTracker(monitor: config.callbacks.monitor, mode: config.callbacks.mode)
        self.worldSize = worldSize
        self.config = config
        self.classNames = classNames
        startPlateauCallbacksAfresh()
    }

    /// ReduceLROnPlateau and EarlyStopping as a Keras `fit` starts them: nothing waited yet, no best value.
    mutating func startPlateauCallbacksAfresh() {
        reduceLR = config.callbacks.reduceLROnPlateau.map(ReduceLROnPlateau.init)
        earlyStopping = config.callbacks.earlyStopping.map(EarlyStopping.init)
    }

    var json: JSON {
        get throws { try JSONDecoder().decode(JSON.self, from: Self.encoder.encode(self)) }
    }

    init(json: JSON) throws {
        self = try Self.decoder.decode(RunState.self, from: JSONEncoder().encode(json))
    }

    /// History and callback values may be NaN or infinite (a diverged validation loss); JSON has no such numbers.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }()

    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }()
}
