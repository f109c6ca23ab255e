import Foundation
import Layers
import Tensors

/// A problem with a file's content: names the file and says what is wrong.
public struct KerasFileError: Error, CustomStringConvertible {
    public let file: String
    public let message: String
    public init(file: String, _ message: String) { (self.file, self.message) = (file, message) }
    public var description: String { "\(file): \(message)" }
}

/// The layouts bc-train reads (keras-h5-format §2, §3, §4.2).
public enum KerasFileFormat: String, Sendable {
    case kerasWeights = "Keras 2 weights (.h5, save_weights layout)"
    case kerasModel = "Keras full model (.h5, model.save layout)"
    case keras3Weights = "Keras 3 weights (.weights.h5)"
    case bcTrainCheckpoint = "bc-train checkpoint (Keras full model .h5 with bc_train_state)"
}

public struct KerasFileWeight {
    /// The name as stored (`conv/kernel:0`, `conv/kernel`, or the index in a `.weights.h5` file).
    public let name: String
    public let value: Tensor
}

public struct KerasFileLayer {
    /// The layer name from `layer_names`; in a `.weights.h5` file the `vars` group's `name` attribute (Keras 3),
    /// or the storage key when that is absent (tf_keras).
    public let name: String
    /// `.weights.h5` only: the group under `/layers`, snake-case class name plus a running index (`conv2d_3`).
    public let storageKey: String?
    public let weights: [KerasFileWeight]
}

/// Everything a Keras weights or model file holds that bc-train uses, read into memory.
public struct KerasWeightsFile {
    public let path: String
    public let format: KerasFileFormat
    public let kerasVersion: String?
    public let backend: String?
    public let modelConfig: JSON?
    public let trainingConfig: JSON?
    /// Layers in file order: `layer_names` order (Keras' `model.layers` order) for `.h5`; storage-key order for
    /// `.weights.h5`, whose pairing goes by key (see `importWeights`).
    public let layers: [KerasFileLayer]
    public let trainingState: TrainingState?

    public var weightedLayers: [KerasFileLayer] { layers.filter { !$0.weights.isEmpty } }
    public var parameterCount: Int { layers.reduce(0) { $0 + $1.weights.reduce(0) { $0 + $1.value.count } } }

    /// Reads a Keras 2 weights `.h5`, a full-model `.h5` (tf_keras or Keras 3), a Keras 3 `.weights.h5`, or a
    /// bc-train checkpoint. Arrays carrying a bc-train checksum are verified.
    public static func read(_ path: String) throws -> KerasWeightsFile {
        let file = try HDF5File.openReadOnly(path)
        defer { try? file.close() }
        let root = try file.root
        let namedAsKeras3Weights = path.hasSuffix(".weights.h5")
        if root.kind(of: "layers") == .group {
            guard namedAsKeras3Weights else {
                throw KerasFileError(file: path, "has the Keras 3 .weights.h5 layout (a /layers group) but its name does not end in "
                                     + ".weights.h5; Keras chooses the parser by suffix and would fail on it: rename it to *.weights.h5")
            }
            return KerasWeightsFile(path: path, format: .keras3Weights, kerasVersion: nil, backend: nil, modelConfig: nil,
                                    trainingConfig: nil, layers: try readKeras3Layers(root.group("layers")), trainingState: nil)
        }
        let weightsGroup: HDF5Group
        if root.hasAttribute("layer_names") || root.hasAttribute("layer_names0") {
            weightsGroup = root
        } else if root.kind(of: "model_weights") == .group {
            weightsGroup = try root.group("model_weights")
        } else {
            throw KerasFileError(file: path, "not a Keras weights or model file: no layer_names attribute, no /model_weights "
                                 + "and no /layers group")
        }
        guard !namedAsKeras3Weights else {
            throw KerasFileError(file: path, "is named *.weights.h5 but has the legacy Keras 2 layout (layer_names); Keras parses "
                                 + "*.weights.h5 as the Keras 3 format and fails on it: rename it to *.h5")
        }
        let state = root.kind(of: trainingStateGroup) == .group ? try readTrainingState(root.group(trainingStateGroup)) : nil
        let format: KerasFileFormat = state != nil ? .bcTrainCheckpoint : weightsGroup === root ? .kerasWeights : .kerasModel
        return KerasWeightsFile(
            path: path, format: format,
            kerasVersion: try optionalString(root, "keras_version") ?? optionalString(weightsGroup, "keras_version"),
            backend: try optionalString(root, "backend") ?? optionalString(weightsGroup, "backend"),
            modelConfig: try optionalJSON(root, "model_config"), trainingConfig: try optionalJSON(root, "training_config"),
            layers: try readLegacyLayers(weightsGroup), trainingState: state)
    }
}

private func optionalString(_ object: HDF5Object, _ name: String) throws -> String? {
    object.hasAttribute(name) ? try object.readString(attribute: name) : nil
}

private func optionalJSON(_ object: HDF5Object, _ name: String) throws -> JSON? {
    guard let text = try optionalString(object, name) else { return nil }
    do {
        return try JSONDecoder().decode(JSON.self, from: Data(text.utf8))
    } catch {
        throw KerasFileError(file: object.file.path, "attribute '\(name)' is not valid JSON: \(error)")
    }
}

/// §2: `layer_names` on the weights group, one group per layer with `weight_names`, datasets found relative to
/// the layer group.
private func readLegacyLayers(_ weightsGroup: HDF5Group) throws -> [KerasFileLayer] {
    try weightsGroup.readKerasStringList("layer_names").map { layerName in
        guard weightsGroup.kind(of: layerName) == .group else {
            throw KerasFileError(file: weightsGroup.file.path, "layer '\(layerName)' is listed in layer_names of \(weightsGroup.path) "
                                 + "but has no group")
        }
        let layerGroup = try weightsGroup.group(layerName)
        let weights = try layerGroup.readKerasStringList("weight_names").map { weightName in
            guard layerGroup.kind(of: weightName) == .dataset else {
                throw KerasFileError(file: weightsGroup.file.path, "layer '\(layerName)': weight '\(weightName)' is listed in "
                                     + "weight_names but there is no dataset \(joined(layerGroup.path, weightName))")
            }
            return KerasFileWeight(name: weightName, value: try readVerifiedFloats(layerGroup.dataset(weightName)))
        }
        return KerasFileLayer(name: layerName, storageKey: nil, weights: weights)
    }
}

/// §4.2: `/layers/<key>/vars/0..n`, the layer name (Keras 3 only) in the `vars` group's `name` attribute.
/// Layers come in (running index, class key) order, so each class's layers are in `model.layers` order.
private func readKeras3Layers(_ layersGroup: HDF5Group) throws -> [KerasFileLayer] {
    try layersGroup.memberNames().sorted { keras3KeyOrder($0) < keras3KeyOrder($1) }.map { key in
        guard layersGroup.kind(of: "\(key)/vars") == .group else {
            throw KerasFileError(file: layersGroup.file.path, "layer group \(joined(layersGroup.path, key)) has no vars group")
        }
        let variables = try layersGroup.group("\(key)/vars")
        var weights: [KerasFileWeight] = []
        while variables.kind(of: String(weights.count)) == .dataset {
            weights.append(KerasFileWeight(name: String(weights.count),
                                           value: try readVerifiedFloats(variables.dataset(String(weights.count)))))
        }
        let name = variables.hasAttribute("name") ? try variables.readString(attribute: "name") : key
        return KerasFileLayer(name: name, storageKey: key, weights: weights)
    }
}

/// Reads a float dataset and, if bc-train wrote it, checks its checksum.
func readVerifiedFloats(_ dataset: HDF5Dataset) throws -> Tensor {
    let values = try dataset.readFloats()
    if dataset.hasAttribute(checksumAttribute) {
        let stored = try dataset.readUInt64(attribute: checksumAttribute)
        guard checksum(values) == stored else {
            throw KerasFileError(file: dataset.file.path, "dataset \(dataset.path) is corrupted: its values do not match the "
                                 + "checksum stored when it was written")
        }
    }
    return values
}

/// `conv2d_3` -> (3, "conv2d"); `conv2d` -> (0, "conv2d").
func keras3KeyOrder(_ key: String) -> (Int, String) {
    if let separator = key.lastIndex(of: "_"), let index = Int(key[key.index(after: separator)...]) {
        return (index, String(key[..<separator]))
    }
    return (0, key)
}
