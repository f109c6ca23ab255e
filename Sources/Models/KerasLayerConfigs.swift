import Layers
import Tensors

// Reading one layer's Keras config: the classes bc-train mirrors, with the config keys Keras 2 and Keras 3 write.
// Keys that only matter for creating weights (initializers) are ignored: weights come from `seed` or a file.

/// Creates the layer an entry describes, for inputs of `inputShapes` (batch axis excluded).
func makeLayer(_ reader: ConfigReader, inputShapes: [[Int]]) throws -> Layer {
    let name = reader.name
    switch reader.className {
    case "Conv2D":
        try reader.requireChannelsLast()
        try reader.require("dilation_rate", isOneOf: [1, [1, 1]], default: 1)
        try reader.require("groups", isOneOf: [1], default: 1)
        return Conv2D(try reader.int("filters"), kernelSize: try reader.pair("kernel_size"),
                      strides: try reader.pair("strides", default: (1, 1)), padding: try reader.padding(),
                      useBias: try reader.bool("use_bias", default: true), activation: try reader.activation(), name: name)
    case "BatchNormalization":
        try reader.requireLastAxis(inputShapes, default: -1)
        try reader.require("renorm", isOneOf: [false], default: false)
        try reader.require("synchronized", isOneOf: [false], default: false)
        try reader.require("virtual_batch_size", isOneOf: [.null], default: .null)
        try reader.require("adjustment", isOneOf: [.null], default: .null)
        return BatchNormalization(momentum: try reader.float("momentum", default: 0.99),
                                  epsilon: try reader.float("epsilon", default: 1e-3),
                                  center: try reader.bool("center", default: true), scale: try reader.bool("scale", default: true),
                                  name: name)
    case "Activation":
        return Activation(try reader.activation(), name: name)
    case "ZeroPadding2D":
        try reader.requireChannelsLast()
        return ZeroPadding2D(try reader.zeroPadding(), name: name)
    case "MaxPooling2D", "AveragePooling2D":
        try reader.requireChannelsLast()
        let poolSize = try reader.pair("pool_size", default: (2, 2))
        let strides = try reader.pair("strides", default: poolSize)  // Keras: null means pool_size
        return Pooling2D(reader.className == "MaxPooling2D" ? .max : .average, poolSize: poolSize, strides: strides,
                         padding: try reader.padding(), name: name)
    case "GlobalAveragePooling2D":
        try reader.requireChannelsLast()
        try reader.require("keepdims", isOneOf: [false], default: false)
        return GlobalAveragePooling2D(name: name)
    case "Add":
        return Add(name: name)
    case "Concatenate":
        try reader.requireLastAxis(inputShapes, default: -1)
        return Concatenate(name: name)
    case "Dropout":
        // `seed` is ignored: bc-train's masks come from per-sample keys, the same however a batch is split.
        try reader.require("noise_shape", isOneOf: [.null], default: .null)
        return Dropout(try reader.float("rate"), name: name)
    case "Dense":
        try reader.require("lora_rank", isOneOf: [.null], default: .null)
        try reader.require("quantization_config", isOneOf: [.null], default: .null)
        return Dense(try reader.int("units"), activation: try reader.activation(),
                     useBias: try reader.bool("use_bias", default: true), name: name)
    case "InputLayer":
        throw KerasConfigError(layer: name, "a second InputLayer (bc-train models have one input)")
    default:
        throw KerasConfigError(layer: name, "unsupported layer class '\(reader.className)' (bc-train supports "
            + "InputLayer, Conv2D, BatchNormalization, Activation, ZeroPadding2D, MaxPooling2D, AveragePooling2D, "
            + "GlobalAveragePooling2D, Add, Concatenate, Dropout, Dense)")
    }
}

/// Typed access to one layer's config, with errors naming the layer and the key.
struct ConfigReader {
    let className: String
    let name: String
    let config: [String: JSON]

    init(_ entry: LayerEntry) { (className, name, config) = (entry.className, entry.name, entry.config) }

    private func error(_ key: String, _ message: String) -> KerasConfigError {
        KerasConfigError(layer: name, "\(className) config key '\(key)': \(message)")
    }

    /// What every layer must satisfy: float32 or mixed_bfloat16 (a string, or Keras 3's DTypePolicy object), and no regularizers or
    /// constraints, which bc-train does not apply.
    func checkCommonKeys() throws {
        let dtype = config["dtype"] ?? .null
        var dtypeName = dtype
        if case .object(let policy) = dtype, case .object(let policyConfig)? = policy["config"] {
            dtypeName = policyConfig["name"] ?? .null
        }
        // A model trained under Keras' mixed_bfloat16 policy keeps float32 weights: it loads like a float32 one
        // (how bc-train computes is its own compute.precision).
        guard dtypeName == .null || dtypeName == "float32" || dtypeName == "mixed_bfloat16" else {
            throw error("dtype", "only float32 and mixed_bfloat16 (float32 weights) are supported, got \(dtype.compactText)")
        }
        for (key, value) in config where (key.hasSuffix("_regularizer") || key.hasSuffix("_constraint")) && value != .null {
            throw error(key, "regularizers and constraints are not supported, got \(value.compactText)")
        }
    }

    func int(_ key: String, default fallback: Int? = nil) throws -> Int {
        switch config[key] {
        case .number(let value)? where value.rounded() == value && abs(value) < 1e9: return Int(value)
        case nil where fallback != nil, .null? where fallback != nil: return fallback!
        case nil: throw error(key, "missing")
        case let other?: throw error(key, "expected an integer, got \(other.compactText)")
        }
    }

    func float(_ key: String, default fallback: Float? = nil) throws -> Float {
        switch config[key] {
        case .number(let value)?: return Float(value)
        case nil where fallback != nil: return fallback!
        case nil: throw error(key, "missing")
        case let other?: throw error(key, "expected a number, got \(other.compactText)")
        }
    }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        switch config[key] {
        case .bool(let value)?: return value
        case nil: return fallback
        case let other?: throw error(key, "expected true or false, got \(other.compactText)")
        }
    }

    /// An integer or a list of two (Keras' `kernel_size`, `strides`, `pool_size`).
    func pair(_ key: String, default fallback: (Int, Int)? = nil) throws -> (Int, Int) {
        switch config[key] {
        case .number?: let value = try int(key); return (value, value)
        case .array(let items)? where items.count == 2:
            if case .number(let first) = items[0], case .number(let second) = items[1],
               first.rounded() == first, second.rounded() == second { return (Int(first), Int(second)) }
        case nil where fallback != nil, .null? where fallback != nil: return fallback!
        case nil: throw error(key, "missing")
        default: break
        }
        throw error(key, "expected an integer or a list of two, got \(config[key]!.compactText)")
    }

    func padding() throws -> Padding {
        let value = config["padding"] ?? "valid"
        guard case .string(let text) = value, let padding = Padding(rawValue: text.lowercased()) else {
            throw error("padding", "only 'valid' and 'same' are supported, got \(value.compactText)")
        }
        return padding
    }

    /// ZeroPadding2D's `padding`: an integer, (height, width), or ((top, bottom), (left, right)).
    func zeroPadding() throws -> Padding2D {
        let value = config["padding"] ?? 1
        if case .number = value { let p = try int("padding"); return Padding2D(top: p, bottom: p, left: p, right: p) }
        if case .array(let axes) = value, axes.count == 2 {
            if case .array = axes[0] {
                let pairs = try axes.map { axis -> (Int, Int) in
                    guard case .array(let sides) = axis, sides.count == 2, case .number(let before) = sides[0],
                          case .number(let after) = sides[1] else { throw error("padding", "malformed \(value.compactText)") }
                    return (Int(before), Int(after))
                }
                return Padding2D(top: pairs[0].0, bottom: pairs[0].1, left: pairs[1].0, right: pairs[1].1)
            }
            let (height, width) = try pair("padding")
            return Padding2D(top: height, bottom: height, left: width, right: width)
        }
        throw error("padding", "expected an integer, two integers or two pairs, got \(value.compactText)")
    }

    /// A Keras activation name bc-train implements (`null` means linear, as in Keras).
    func activation() throws -> Activation.Function {
        switch config["activation"] {
        case nil, .null?: return .linear
        case .string(let text)?:
            guard let function = Activation.Function(rawValue: text) else {
                throw error("activation", "unsupported activation '\(text)' (bc-train supports linear, relu, softmax)")
            }
            return function
        case let other?: throw error("activation", "expected an activation name, got \(other.compactText)")
        }
    }

    /// The model's input shape without the batch axis: Keras 2 `batch_input_shape`, Keras 3 `batch_shape`.
    func inputShape() throws -> [Int] {
        try require("sparse", isOneOf: [false], default: false)
        try require("ragged", isOneOf: [false], default: false)
        let key = config["batch_shape"] != nil ? "batch_shape" : "batch_input_shape"
        guard case .array(let dimensions)? = config[key], dimensions.count >= 2, dimensions[0] == .null else {
            throw error(key, "expected [null, dimensions...], got \((config[key] ?? .null).compactText)")
        }
        return try dimensions.dropFirst().map { dimension in
            guard case .number(let value) = dimension, value.rounded() == value, value > 0 else {
                throw error(key, "every dimension but the batch must be a positive integer, got \(JSON.array(dimensions).compactText)")
            }
            return Int(value)
        }
    }

    func requireChannelsLast() throws {
        try require("data_format", isOneOf: [.null, "channels_last"], default: .null)
    }

    /// `axis` must be the inputs' last (channel) axis: -1, or its index counting the batch axis (3 for images), as an
    /// integer or a one-item list (tf_keras writes BatchNormalization's as [3]).
    func requireLastAxis(_ inputShapes: [[Int]], default fallback: JSON) throws {
        let lastAxis = inputShapes.first?.count ?? 0
        var axis = config["axis"] ?? fallback
        if case .array(let items) = axis, items.count == 1 { axis = items[0] }
        guard axis == -1 || axis == .number(Double(lastAxis)) else {
            throw error("axis", "only the last axis (-1 or \(lastAxis)) is supported, got \((config["axis"] ?? fallback).compactText)")
        }
    }

    func require(_ key: String, isOneOf allowed: [JSON], default fallback: JSON) throws {
        let value = config[key] ?? fallback
        guard allowed.contains(value) else {
            throw error(key, "unsupported value \(value.compactText) (bc-train supports \(allowed.map(\.compactText).joined(separator: " or ")))")
        }
    }
}

extension JSON {
    /// Compact JSON-like text for error messages.
    var compactText: String {
        switch self {
        case .null: "null"
        case .bool(let value): String(value)
        case .number(let value): value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        case .string(let value): "'\(value)'"
        case .array(let items): "[" + items.map(\.compactText).joined(separator: ", ") + "]"
        case .object(let members):
            "{" + members.keys.sorted().map { key in "\(key): \(members[key]!.compactText)" }.joined(separator: ", ") + "}"
        }
    }
}
