import Foundation
import Models

/// A config problem, stated once with the file and the key: "config.json: training.batch_size: must be positive".
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let key: String
    public let message: String
    public var description: String { key.isEmpty ? "\(file): \(message)" : "\(file): \(key): \(message)" }
}

extension TrainingConfig {
    /// Reads and validates a config file. `overrides` are "key.path=value" pairs (from `--set`), applied to
    /// the JSON before decoding, so they are checked exactly like keys in the file.
    public static func load(from url: URL, overrides: [String] = []) throws -> TrainingConfig {
        let file = url.path
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ConfigError(file: file, key: "", message: FileManager.default.fileExists(atPath: file)
                              ? "cannot read the file" : "no such file")
        }
        var json: Any
        do { json = try JSONSerialization.jsonObject(with: data) } catch {
            throw ConfigError(file: file, key: "", message: "not valid JSON (\(error.localizedDescription))")
        }
        for override in overrides { json = try applying(override, to: json, file: file) }
        let config: TrainingConfig
        do {
            config = try JSONDecoder().decode(TrainingConfig.self, from: try JSONSerialization.data(withJSONObject: json))
        } catch let error as DecodingError {
            throw ConfigError(decoding: error, file: file, json: json)
        }
        try config.validate(file: file)
        return config
    }

    private static func applying(_ override: String, to json: Any, file: String) throws -> Any {
        guard let equals = override.firstIndex(of: "="), var root = json as? [String: Any] else {
            throw ConfigError(file: file, key: override, message: "overrides look like key.path=value")
        }
        let path = override[..<equals].split(separator: ".").map(String.init)
        let text = String(override[override.index(after: equals)...])
        // A value is JSON when it parses as JSON (numbers, true, null, lists), a plain string otherwise.
        let value = (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)) ?? text
        func set(_ object: inout [String: Any], _ keys: ArraySlice<String>) {
            guard let first = keys.first else { return }
            if keys.count == 1 { object[first] = value; return }
            var child = object[first] as? [String: Any] ?? [:]
            set(&child, keys.dropFirst())
            object[first] = child
        }
        set(&root, path[...])
        return root
    }

    /// Range checks the types cannot express, each naming its key.
    public func validate(file: String) throws {
        func require(_ condition: Bool, _ key: String, _ message: String) throws {
            if !condition { throw ConfigError(file: file, key: key, message: message) }
        }
        try require(!runName.isEmpty && !runName.contains("/"), "run_name", "must be a non-empty name without '/'")
        try require(model.inputSize.count == 2 && model.inputSize.allSatisfy { $0 >= 32 }, "model.input_size",
                    "must be [height, width], each at least 32")
        try require(model.classes >= 2, "model.classes", "must be at least 2")
        try require(model.dropout >= 0 && model.dropout < 1, "model.dropout", "must be in [0, 1)")
        try require(model.freezeBackboneEpochs >= 0, "model.freeze_backbone_epochs", "must not be negative")
        if let rate = model.fineTuneLearningRate {
            try require(rate > 0 && rate.isFinite, "model.fine_tune_learning_rate", "must be a positive number")
            try require(model.freezeBackboneEpochs > 0, "model.fine_tune_learning_rate",
                        "applies when the backbone is unfrozen: set model.freeze_backbone_epochs too")
        }
        try require(data.splitFractions.count == 3 && data.splitFractions.allSatisfy { $0 >= 0 }
                    && abs(data.splitFractions.reduce(0, +) - 1) < 1e-6 && data.splitFractions[0] > 0,
                    "data.split_fractions", "must be [train, validation, test], non-negative, summing to 1, train > 0")
        try require(data.split != .fold || data.foldFile != nil, "data.fold_file", "is required when data.split is \"fold\"")
        try require(data.magnification.map { [40, 100, 200, 400].contains($0) } ?? true, "data.magnification",
                    "BreakHis magnifications are 40, 100, 200 and 400")
        if case .explicit(let weights) = data.classWeight {
            try require(weights.count == model.classes && weights.allSatisfy { $0 > 0 }, "data.class_weight",
                        "needs one positive weight per class (\(model.classes))")
        }
        try require(data.cacheMegabytes >= 0, "data.cache_megabytes", "must not be negative")
        try require(data.loaderThreads >= 1, "data.loader_threads", "must be at least 1")
        try require(training.epochs >= 1, "training.epochs", "must be at least 1")
        try require(training.batchSize >= 1, "training.batch_size", "must be at least 1")
        try require(training.threadsPerRank >= 1, "training.threads_per_rank", "must be at least 1")
        try require(training.optimizer.learningRate > 0, "training.optimizer.learning_rate", "must be positive")
        try require(callbacks.checkpointEverySteps >= 0, "callbacks.checkpoint_every_steps", "must not be negative")
        try require(callbacks.checkpointEveryMinutes >= 0, "callbacks.checkpoint_every_minutes", "must not be negative")
        try require(callbacks.warmupEpochs >= 0, "callbacks.warmup_epochs", "must not be negative")
        try require(distributed.bucketMegabytes >= 1, "distributed.bucket_megabytes", "must be at least 1")
        try require(distributed.stallWarningSeconds >= 0, "distributed.stall_warning_seconds",
                    "must not be negative (0 turns the stall warnings off)")
        try require(distributed.stallWarningFactor >= 1, "distributed.stall_warning_factor", "must be at least 1")
        try require(distributed.stallAbortSeconds >= 0, "distributed.stall_abort_seconds",
                    "must not be negative (0, the default, never ends the job)")
    }
}

extension ConfigError {
    /// One line naming the key, what was found there and what is allowed.
    init(decoding error: DecodingError, file: String, json: Any) {
        func path(_ codingPath: [CodingKey]) -> String {
            codingPath.reduce("") { text, key in
                key.intValue.map { text + "[\($0)]" } ?? (text.isEmpty ? key.stringValue : text + "." + key.stringValue)
            }
        }
        func found(_ codingPath: [CodingKey]) -> String {
            let value = codingPath.reduce(Optional(json)) { value, key in
                key.intValue.map { index in (value as? [Any]).flatMap { index < $0.count ? $0[index] : nil } }
                    ?? (value as? [String: Any])?[key.stringValue]
            }
            return value.map(Self.describe(value:)) ?? "nothing"
        }
        switch error {
        case .keyNotFound(let key, let context):
            self.init(file: file, key: path(context.codingPath + [key]), message: "is required")
        case .typeMismatch(let type, let context):
            self.init(file: file, key: path(context.codingPath),
                      message: "expected \(Self.describe(type)), found \(found(context.codingPath))")
        case .valueNotFound(let type, let context):
            self.init(file: file, key: path(context.codingPath), message: "expected \(Self.describe(type)), found null")
        case .dataCorrupted(let context):
            self.init(file: file, key: path(context.codingPath), message: context.debugDescription)
        @unknown default:
            self.init(file: file, key: "", message: "\(error)")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is UInt64.Type: "an integer"
        case is Float.Type, is Double.Type: "a number"
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is [Int].Type: "a list of integers"
        case is [Double].Type, is [Float].Type: "a list of numbers"
        case is [Any].Type: "a list"
        case is [String: Any].Type: "an object"
        default: "\(type)"
        }
    }

    /// A JSON value as an error shows it: a string ("224"), a number (224), a list, an object, true, null.
    private static func describe(value: Any) -> String {
        switch value {
        case let text as String: "a string (\"\(text)\")"
        case let number as NSNumber where String(cString: number.objCType) == "c": "\(number.boolValue)"
        case let number as NSNumber: "a number (\(number))"
        case let list as [Any]: "a list of \(list.count)"
        case is [String: Any]: "an object"
        case is NSNull: "null"
        default: "\(value)"
        }
    }
}
