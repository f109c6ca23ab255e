public struct CallbackOptions: Codable, Equatable {
    /// ModelCheckpoint: `best.h5` by this metric; `last.h5` every epoch and every `every_steps` / `every_minutes`.
    public var monitor = "val_accuracy"
    public var mode = MonitorMode.auto
    public var checkpointEverySteps = 0
    public var checkpointEveryMinutes: Double = 10
    public var saveEveryEpoch = false
    public var reduceLROnPlateau: ReduceLROnPlateauOptions?
    public var earlyStopping: EarlyStoppingOptions?
    /// Linear learning-rate warmup over this many epochs.
    public var warmupEpochs = 0
    public var progress = ProgressStyle.auto

    enum CodingKeys: String, CodingKey, CaseIterable {
        case monitor, mode, checkpointEverySteps = "checkpoint_every_steps"
        case checkpointEveryMinutes = "checkpoint_every_minutes", saveEveryEpoch = "save_every_epoch"
        case reduceLROnPlateau = "reduce_lr_on_plateau", earlyStopping = "early_stopping", warmupEpochs = "warmup_epochs"
        case progress
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        monitor = try c.decodeIfPresent(String.self, forKey: .monitor) ?? monitor
        mode = try c.decodeChoice(MonitorMode.self, forKey: .mode) ?? mode
        checkpointEverySteps = try c.decodeIfPresent(Int.self, forKey: .checkpointEverySteps) ?? checkpointEverySteps
        checkpointEveryMinutes = try c.decodeIfPresent(Double.self, forKey: .checkpointEveryMinutes) ?? checkpointEveryMinutes
        saveEveryEpoch = try c.decodeIfPresent(Bool.self, forKey: .saveEveryEpoch) ?? saveEveryEpoch
        reduceLROnPlateau = try c.decodeIfPresent(ReduceLROnPlateauOptions.self, forKey: .reduceLROnPlateau)
        earlyStopping = try c.decodeIfPresent(EarlyStoppingOptions.self, forKey: .earlyStopping)
        warmupEpochs = try c.decodeIfPresent(Int.self, forKey: .warmupEpochs) ?? warmupEpochs
        progress = try c.decodeChoice(ProgressStyle.self, forKey: .progress) ?? progress
    }
}

/// Keras' `mode`: whether the monitored metric should go up ("max") or down ("min"); "auto" infers it from the
/// name (accuracy, auc: max; loss: min).
public enum MonitorMode: String, Codable, Equatable, CaseIterable {
    case auto, min, max
}

public struct ReduceLROnPlateauOptions: Codable, Equatable {
    public var monitor = "val_loss"
    public var factor: Float = 0.1
    public var patience = 10
    public var minDelta: Float = 1e-4
    public var cooldown = 0
    public var minLR: Float = 0

    enum CodingKeys: String, CodingKey, CaseIterable {
        case monitor, factor, patience, minDelta = "min_delta", cooldown, minLR = "min_lr"
    }

    public init(monitor: String = "val_loss", factor: Float = 0.1, patience: Int = 10, minDelta: Float = 1e-4,
                cooldown: Int = 0, minLR: Float = 0) {
        (self.monitor, self.factor, self.patience, self.minDelta, self.cooldown, self.minLR) =
            (monitor, factor, patience, minDelta, cooldown, minLR)
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        monitor = try c.decodeIfPresent(String.self, forKey: .monitor) ?? monitor
        factor = try c.decodeIfPresent(Float.self, forKey: .factor) ?? factor
        patience = try c.decodeIfPresent(Int.self, forKey: .patience) ?? patience
        minDelta = try c.decodeIfPresent(Float.self, forKey: .minDelta) ?? minDelta
        cooldown = try c.decodeIfPresent(Int.self, forKey: .cooldown) ?? cooldown
        minLR = try c.decodeIfPresent(Float.self, forKey: .minLR) ?? minLR
    }
}

public struct EarlyStoppingOptions: Codable, Equatable {
    public var monitor = "val_loss"
    public var patience = 0
    public var minDelta: Float = 0

    enum CodingKeys: String, CodingKey, CaseIterable { case monitor, patience, minDelta = "min_delta" }

    public init(monitor: String = "val_loss", patience: Int = 0, minDelta: Float = 0) {
        (self.monitor, self.patience, self.minDelta) = (monitor, patience, minDelta)
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        monitor = try c.decodeIfPresent(String.self, forKey: .monitor) ?? monitor
        patience = try c.decodeIfPresent(Int.self, forKey: .patience) ?? patience
        minDelta = try c.decodeIfPresent(Float.self, forKey: .minDelta) ?? minDelta
    }
}

