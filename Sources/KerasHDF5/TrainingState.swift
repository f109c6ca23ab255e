import Foundation
import Layers
import Tensors

/// What a checkpoint needs besides the model to resume training exactly: optimizer slots and iteration count,
/// plus any tensors and JSON the trainer wants back (epoch, step, RNG state, callback state, config, world size).
/// Stored in the root group `bc_train_state`, which Keras ignores.
public struct TrainingState {
    /// Keyed by path; '/' nests groups (e.g. "optimizer/conv1_conv/kernel/0").
    public var tensors: [String: Tensor]
    public var json: JSON
    public var optimizerIterations: Int

    public init(tensors: [String: Tensor] = [:], json: JSON = [:], optimizerIterations: Int = 0) {
        (self.tensors, self.json, self.optimizerIterations) = (tensors, json, optimizerIterations)
    }

    /// The optimizer's slots (`optimizer/<layer>/<weight>/<slot index>`) and iteration count, plus `json`.
    public init(optimizer: Optimizer, json: JSON = [:]) {
        var tensors: [String: Tensor] = [:]
        for (path, slots) in optimizer.slots {
            for (index, slot) in slots.enumerated() { tensors["\(optimizerPrefix)\(path)/\(index)"] = slot }
        }
        self.init(tensors: tensors, json: json, optimizerIterations: optimizer.iterations)
    }

    /// Puts the stored slots and iteration count back into an optimizer of the same kind.
    public func restore(_ optimizer: Optimizer) {
        var slots: [String: [(Int, Tensor)]] = [:]
        for (key, tensor) in tensors where key.hasPrefix(optimizerPrefix) {
            let path = key.dropFirst(optimizerPrefix.count)
            guard let separator = path.lastIndex(of: "/"), let index = Int(path[path.index(after: separator)...]) else { continue }
            slots[String(path[..<separator]), default: []].append((index, tensor))
        }
        optimizer.slots = slots.mapValues { $0.sorted { $0.0 < $1.0 }.map(\.1) }
        optimizer.iterations = optimizerIterations
    }
}

private let optimizerPrefix = "optimizer/"
let trainingStateGroup = "bc_train_state"

func writeTrainingState(_ state: TrainingState, into root: HDF5Group) throws {
    let group = try root.createGroup(trainingStateGroup)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    try group.writeString(String(decoding: try encoder.encode(state.json), as: UTF8.self), attribute: "json",
                          encoding: HDF5StringEncoding(.variableLength, .utf8))
    try group.createInt64ScalarDataset("optimizer_iterations", Int64(state.optimizerIterations))
    let tensors = try group.createGroup("tensors")
    for key in state.tensors.keys.sorted() {
        guard !key.isEmpty, !key.split(separator: "/", omittingEmptySubsequences: false).contains(where: \.isEmpty) else {
            throw KerasFileError(file: root.file.path, "training state key '\(key)' has an empty path component")
        }
        let tensor = state.tensors[key]!
        try tensors.createFloatDataset(key, tensor).writeUInt64(checksum(tensor), attribute: checksumAttribute)
    }
}

func readTrainingState(_ group: HDF5Group) throws -> TrainingState {
    let json = try JSONDecoder().decode(JSON.self, from: Data(try group.readString(attribute: "json").utf8))
    var tensors: [String: Tensor] = [:]
    func collect(_ folder: HDF5Group, prefix: String) throws {
        for name in try folder.memberNames() {
            switch folder.kind(of: name) {
            case .group: try collect(folder.group(name), prefix: prefix + name + "/")
            case .dataset: tensors[prefix + name] = try readVerifiedFloats(folder.dataset(name))
            case nil: break
            }
        }
    }
    try collect(group.group("tensors"), prefix: "")
    let iterations = try group.dataset("optimizer_iterations").readInt64Scalar()
    return TrainingState(tensors: tensors, json: json, optimizerIterations: Int(iterations))
}
