import Layers

// A functional model's Keras `model_config` JSON, both ways. Writing uses the minimal Keras-2 style that tf_keras
// 2.21 and Keras 3.15 both load (keras-h5-format.md §3.2, §4.6, §8); reading accepts what either writes (§4.4).

/// The `model_config` of `graph` in minimal Keras-2 style: `class_name` "Functional", layers in Keras' derived
/// order with their configs, nested-list `inbound_nodes` (merge inputs in call order), no "module" or
/// "registered_name" on layer entries.
public func kerasModelConfig(_ graph: Graph) -> JSON {
    let nodeOfLayer = Dictionary(uniqueKeysWithValues: graph.nodes.map { (ObjectIdentifier($0.layer), $0) })
    let layers: [JSON] = kerasLayerOrder(graph).map { layer in
        let inbound: [JSON] = nodeOfLayer[ObjectIdentifier(layer)]!.inputs.map {
            [.string(graph.nodes[$0].layer.name), 0, 0, [:]]
        }
        return ["class_name": .string(layer.className), "config": .object(layer.config), "name": .string(layer.name),
                "inbound_nodes": inbound.isEmpty ? [] : [.array(inbound)]]
    }
    return ["class_name": "Functional",
            "config": ["name": .string(graph.name), "trainable": true, "layers": .array(layers),
                       "input_layers": [[.string(graph.nodes[0].layer.name), 0, 0]],
                       "output_layers": [[.string(graph.outputLayer.name), 0, 0]]]]
}

/// A `model_config` bc-train cannot build, naming the layer (when there is one) and what is wrong with it.
public struct KerasConfigError: Error, CustomStringConvertible, Equatable {
    public let layer: String?
    public let message: String

    public init(layer: String? = nil, _ message: String) { (self.layer, self.message) = (layer, message) }

    public var description: String { "model_config: " + (layer.map { "layer '\($0)': " } ?? "") + message }
}

/// Builds the functional model a Keras `model_config` describes, written by tf_keras ("Keras 2" style) or Keras 3
/// (`batch_shape`, DTypePolicy dtypes, `__keras_tensor__` inbound nodes, "module" keys), with fresh weights
/// from `seed`. Layers are created in the JSON's order when it is topological, else in a topological order
/// closest to it; layers that do not feed the output are left out, as Keras leaves them out of the model.
/// Throws `KerasConfigError` (or `LayerError` from a layer's own checks) naming the layer: an unsupported class
/// or option, or a malformed config.
/// `placeholderWeights`: zero kernels instead of Keras' seeded initial values, for a model whose weights a file
/// supplies next (drawing ResNet50's 23 M random values only to overwrite them is most of a model's load time).
public func buildGraph(fromModelConfig modelConfig: JSON, seed: UInt64, placeholderWeights: Bool = false) throws -> Graph {
    guard case .object(let top) = modelConfig, case .string(let className)? = top["class_name"],
          case .object(let config)? = top["config"] else {
        throw KerasConfigError("expected an object with \"class_name\" and \"config\"")
    }
    guard className == "Functional" || className == "Model" else {
        throw KerasConfigError("unsupported model class '\(className)' (bc-train reads functional models: Functional or Model)")
    }
    guard case .array(let layerEntries)? = config["layers"] else { throw KerasConfigError("\"config\" has no \"layers\" list") }
    let entries = try layerEntries.map(LayerEntry.init)
    var indexOfName: [String: Int] = [:]
    for (index, entry) in entries.enumerated() {
        guard indexOfName.updateValue(index, forKey: entry.name) == nil else {
            throw KerasConfigError(layer: entry.name, "appears twice in \"layers\"")
        }
    }
    func endpoint(_ key: String) throws -> Int {
        let name = try singleEndpoint(config[key], key: key)
        guard let index = indexOfName[name] else { throw KerasConfigError("\"\(key)\" names '\(name)', which is not in \"layers\"") }
        return index
    }
    let (input, output) = (try endpoint("input_layers"), try endpoint("output_layers"))
    let inputIndices = try entries.map { entry in
        try entry.inputs.map { name in
            guard let index = indexOfName[name] else {
                throw KerasConfigError(layer: entry.name, "its input '\(name)' is not in \"layers\"")
            }
            return index
        }
    }
    let order = try creationOrder(inputIndices, output: output)
    guard order.first == input, entries[input].className == "InputLayer" else {
        throw KerasConfigError(layer: entries[order[0]].name,
                               "the model must have exactly one input, the InputLayer named in \"input_layers\"")
    }

    // A model saved with `trainable = False` freezes every layer, as Keras does when loading it.
    let modelTrainable = config["trainable"] != .bool(false)
    let builder = placeholderWeights ? GraphBuilder(initializer: .placeholder) : GraphBuilder(seed: seed)
    var tensors: [Int: SymbolicTensor] = [:]
    for index in order {
        let entry = entries[index]
        let reader = ConfigReader(entry)
        try reader.checkCommonKeys()
        let tensor: SymbolicTensor
        if index == input {
            tensor = try builder.input(shape: try reader.inputShape(), name: entry.name)
        } else {
            let inputs = inputIndices[index].map { tensors[$0]! }
            guard !inputs.isEmpty else { throw KerasConfigError(layer: entry.name, "has no inputs (a second model input?)") }
            let layer = try makeLayer(reader, inputShapes: inputs.map(\.shape))
            layer.trainable = try reader.bool("trainable", default: true) && modelTrainable
            tensor = try inputs.count == 1 ? layer(inputs[0]) : layer(inputs)
        }
        tensors[index] = tensor
    }
    let name = if case .string(let name)? = config["name"] { name } else { "model" }
    return try builder.build(output: tensors[output]!, name: name)
}

/// One entry of `config.layers`: its class, config, and the names of its inputs in call order.
struct LayerEntry {
    let className: String
    /// The layer name, with '/' replaced by '_': tf_keras' DenseNet names its stem `conv1/conv`, which Keras 3
    /// (and GraphBuilder) refuse; Keras 3 calls that layer `conv1_conv`.
    let name: String
    let config: [String: JSON]
    let inputs: [String]

    init(_ json: JSON) throws {
        guard case .object(let entry) = json, case .string(let className)? = entry["class_name"],
              case .object(let config)? = entry["config"] else {
            throw KerasConfigError("every entry of \"layers\" needs \"class_name\" and a \"config\" object")
        }
        let rawName: String
        if case .string(let name)? = entry["name"] { rawName = name }
        else if case .string(let name)? = config["name"] { rawName = name }
        else { throw KerasConfigError("a \(className) entry has no \"name\"") }
        (self.className, self.name, self.config) = (className, kerasThreeName(rawName), config)
        inputs = try Self.inboundLayerNames(entry["inbound_nodes"] ?? [], layer: name)
    }

    /// The layers feeding this one. Keras 2 writes `[[[name, 0, 0, {kwargs}], ...]]`; Keras 3 writes
    /// `[{"args": [tensor or [tensors]], "kwargs": {...}}]` with tensors `{"class_name": "__keras_tensor__",
    /// "config": {"keras_history": [name, 0, 0]}}`. One node only: a layer applied twice (shared) is not supported.
    static func inboundLayerNames(_ inboundNodes: JSON, layer: String) throws -> [String] {
        guard case .array(let nodes) = inboundNodes else {
            throw KerasConfigError(layer: layer, "\"inbound_nodes\" must be a list")
        }
        guard nodes.count <= 1 else {
            throw KerasConfigError(layer: layer, "is called \(nodes.count) times (shared layers are not supported)")
        }
        guard let node = nodes.first else { return [] }
        var histories: [JSON] = []
        switch node {
        case .array(let references):  // Keras 2
            histories = references
        case .object(let call):  // Keras 3
            func collect(_ value: JSON) {
                switch value {
                case .array(let items): items.forEach(collect)
                case .object(let object):
                    if object["class_name"] == "__keras_tensor__", case .object(let tensor)? = object["config"] {
                        histories.append(tensor["keras_history"] ?? .null)
                    }
                default: break
                }
            }
            collect(call["args"] ?? [])
        default:
            throw KerasConfigError(layer: layer, "malformed \"inbound_nodes\" entry \(node.compactText)")
        }
        return try histories.map { history in
            guard case .array(let parts) = history, parts.count >= 3, case .string(let source) = parts[0] else {
                throw KerasConfigError(layer: layer, "malformed inbound reference \(history.compactText) in \"inbound_nodes\"")
            }
            guard parts[1] == 0, parts[2] == 0 else {
                throw KerasConfigError(layer: layer, "inbound reference \(history.compactText): only node 0, tensor 0 is supported (no shared or multi-output layers)")
            }
            return kerasThreeName(source)
        }
    }
}

private func kerasThreeName(_ name: String) -> String { name.replacingOccurrences(of: "/", with: "_") }

/// The single layer named by "input_layers" / "output_layers": `[[name, 0, 0]]` (Keras 2) or `[name, 0, 0]`
/// (Keras 3 for a single tensor).
private func singleEndpoint(_ value: JSON?, key: String) throws -> String {
    switch value {
    case .array(let items)? where items.count == 1:
        if case .array(let reference) = items[0], case .string(let name)? = reference.first { return kerasThreeName(name) }
    case .array(let items)? where items.count == 3:
        if case .string(let name) = items[0] { return kerasThreeName(name) }
    default: break
    }
    throw KerasConfigError("\"\(key)\" must name exactly one layer (bc-train models have one input and one output), got \((value ?? .null).compactText)")
}

/// The ancestors of `output` (itself included) in a topological order that keeps the JSON order wherever it
/// already is topological: repeatedly the earliest layer in the JSON whose inputs all exist.
private func creationOrder(_ inputs: [[Int]], output: Int) throws -> [Int] {
    var needed = Set<Int>(), pending = [output]
    while let index = pending.popLast() {
        if needed.insert(index).inserted { pending += inputs[index] }
    }
    var created = Set<Int>(), order: [Int] = []
    var remaining = needed.sorted()
    while !remaining.isEmpty {
        guard let next = remaining.firstIndex(where: { inputs[$0].allSatisfy(created.contains) }) else {
            throw KerasConfigError("the layers' inbound nodes form a cycle")
        }
        created.insert(remaining[next])
        order.append(remaining.remove(at: next))
    }
    return order
}
