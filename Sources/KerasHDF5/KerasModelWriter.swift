import Foundation
import Layers
import Models
import Tensors

/// The Keras version written into files. The legacy layout written here is tf_keras 2.21's, which Keras 3 reads too
/// (keras-h5-format §8).
let writtenKerasVersion = "2.21.0"

/// Writes a full Keras model `.h5` (keras-h5-format §3 and the checklist §8) that `tf_keras.models.load_model`,
/// `keras.models.load_model` and both `load_weights` paths open: root `keras_version`, `backend`, `model_config`
/// (Keras-2 style, variable-length), optional `training_config`, `/model_weights` with `layer_names` in Keras'
/// `model.layers` order. `state` goes into `/bc_train_state`, which Keras ignores; there is deliberately no
/// `optimizer_weights` group (it breaks `fit()` after `load_model` in Keras 3).
/// The write is atomic: on any failure the previous file at `path` is left as it was.
public func writeKerasModel(_ graph: Graph, to path: String, trainingConfig: JSON? = nil, state: TrainingState? = nil) throws {
    try requireLegacySuffix(path)
    let modelConfig = try encodeJSON(kerasModelConfig(graph))
    let trainingConfigText = try trainingConfig.map(encodeJSON)
    try writeAtomically(to: path) { temporaryPath in
        let file = try HDF5File.create(temporaryPath)
        try writeRoot(of: file, modelConfig: modelConfig, trainingConfig: trainingConfigText, graph: graph, state: state)
        try file.flush()
        try file.close()
    }
}

/// Writes a Keras 2 weights-only `.h5` (`save_weights` layout, keras-h5-format §2), atomically.
public func writeKerasWeights(_ graph: Graph, to path: String) throws {
    try requireLegacySuffix(path)
    try writeAtomically(to: path) { temporaryPath in
        let file = try HDF5File.create(temporaryPath)
        try writeWeightsGroup(file.root, graph: graph)
        try file.flush()
        try file.close()
    }
}

/// The `training_config` Keras needs to compile a loaded model like ours: categorical cross-entropy, accuracy, and
/// the optimizer with its hyperparameters (plain "Adam"/"SGD" class names, which both Kerases keep, §4.5).
public func kerasTrainingConfig(optimizer: Optimizer) -> JSON {
    let className = optimizer is Adam ? "Adam" : "SGD"
    return ["loss": "categorical_crossentropy", "metrics": ["accuracy"], "weighted_metrics": nil, "loss_weights": nil,
            "optimizer_config": ["class_name": .string(className), "config": .object(optimizer.config)]]
}

/// Keras parses `*.weights.h5` as the Keras 3 format, so the legacy layout must never carry that name (§4.2).
private func requireLegacySuffix(_ path: String) throws {
    guard !path.hasSuffix(".weights.h5") else {
        throw KerasFileError(file: path, "bc-train writes the legacy Keras .h5 layout, which Keras cannot load from a file "
                             + "named *.weights.h5: use a name ending in .h5")
    }
}

private func encodeJSON(_ value: JSON) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

/// Group handles opened here are released before the caller closes the file.
private func writeRoot(of file: HDF5File, modelConfig: String, trainingConfig: String?, graph: Graph,
                       state: TrainingState?) throws {
    let root = try file.root
    try root.writeString(writtenKerasVersion, attribute: "keras_version")
    try root.writeString("tensorflow", attribute: "backend")
    try root.writeString(modelConfig, attribute: "model_config")
    if let trainingConfig { try root.writeString(trainingConfig, attribute: "training_config") }
    try writeWeightsGroup(root.createGroup("model_weights"), graph: graph)
    if let state { try writeTrainingState(state, into: root) }
}

/// §2.1: `layer_names` (every layer, Keras order), one group per layer created in name order, `weight_names`
/// `<layer>/<var>:0` in Keras' weight order, `<f4` datasets with a checksum attribute each.
private func writeWeightsGroup(_ group: HDF5Group, graph: Graph) throws {
    let layers = kerasLayerOrder(graph)
    try group.writeKerasStringList(layers.map(\.name), name: "layer_names")
    try group.writeString("tensorflow", attribute: "backend")
    try group.writeString(writtenKerasVersion, attribute: "keras_version")
    for layer in layers.sorted(by: { $0.name < $1.name }) {
        let layerGroup = try group.createGroup(layer.name)
        guard !layer.weights.isEmpty else {
            try layerGroup.writeEmptyFloat64Array(attribute: "weight_names")
            continue
        }
        let weightNames = layer.weights.map { "\(layer.name)/\($0.name):0" }
        try layerGroup.writeKerasStringList(weightNames, name: "weight_names")
        for (name, weight) in zip(weightNames, layer.weights) {
            try layerGroup.createFloatDataset(name, weight.value).writeUInt64(checksum(weight.value), attribute: checksumAttribute)
        }
    }
    try group.createGroup("top_level_model_weights").writeEmptyFloat64Array(attribute: "weight_names")
}
