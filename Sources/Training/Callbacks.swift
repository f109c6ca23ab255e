/// Keras' callbacks that steer training, as value types whose whole state is saved in checkpoints, so a
/// resumed run decides exactly as an uninterrupted one would.

/// Whether a metric improves upwards (accuracy, AUC) or downwards (loss); Keras' "auto" guesses from the name.
func improvesUpwards(_ monitor: String, mode: MonitorMode) -> Bool {
    switch mode {
    case .max: true
    case .min: false
    case .auto: monitor.contains("acc") || monitor.contains("auc")
    }
}

/// ModelCheckpoint(save_best_only=True): remembers the best value seen.
public struct BestCheckpointTracker: Codable, Equatable {
    public let monitor: String
    public let upwards: Bool
    public private(set) var best: Double?

    public init(monitor: String, mode: MonitorMode) {
        (self.monitor, upwards) = (monitor, improvesUpwards(monitor, mode: mode))
    }

    /// True (and remembered) when `value` beats the best so far: then `best.h5` is written.
    public mutating func improves(_ value: Double) -> Bool {
        guard value.isFinite else { return false }
        if let best, upwards ? value <= best : value >= best { return false }
        best = value
        return true
    }
}

/// Keras ReduceLROnPlateau.
public struct ReduceLROnPlateau: Codable, Equatable {
    public let options: ReduceLROnPlateauOptions
    let upwards: Bool
    var best: Double
    var wait = 0
    var cooldownCounter = 0

    public init(_ options: ReduceLROnPlateauOptions) {
        self.options = options
        upwards = improvesUpwards(options.monitor, mode: .auto)
        best = upwards ? -.infinity : .infinity
    }

    /// Called at each epoch end with the monitored value; returns the learning rate to use from now on.
    public mutating func epochEnded(value: Double, learningRate: Float) -> Float {
        let delta = Double(options.minDelta)
        if cooldownCounter > 0 { cooldownCounter -= 1; wait = 0 }
        if upwards ? value > best + delta : value < best - delta {
            best = value
            wait = 0
        } else if cooldownCounter == 0 {
            wait += 1
            if wait >= options.patience && learningRate > options.minLR {
                cooldownCounter = options.cooldown
                wait = 0
                return max(learningRate * options.factor, options.minLR)
            }
        }
        return learningRate
    }
}

/// Keras (3) EarlyStopping without a baseline.
public struct EarlyStopping: Codable, Equatable {
    public let options: EarlyStoppingOptions
    let upwards: Bool
    var best: Double
    var wait = 0

    public init(_ options: EarlyStoppingOptions) {
        self.options = options
        upwards = improvesUpwards(options.monitor, mode: .auto)
        best = upwards ? -.infinity : .infinity
    }

    /// Called at each epoch end (0-based epoch); true when training should stop.
    public mutating func epochEnded(epoch: Int, value: Double) -> Bool {
        wait += 1
        let delta = Double(options.minDelta)
        if upwards ? value - delta > best : value + delta < best {
            best = value
            wait = 0
            return false
        }
        return wait >= options.patience && epoch > 0
    }
}

/// Linear learning-rate warmup: the rate grows from base/steps to base over the first `steps` steps.
public func warmupLearningRate(base: Float, globalStep: Int, warmupSteps: Int) -> Float {
    guard warmupSteps > 0, globalStep < warmupSteps else { return base }
    return base * Float(globalStep + 1) / Float(warmupSteps)
}
