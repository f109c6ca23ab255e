import Foundation
import Layers
import Models
import Tensors

public struct WeightImportOptions: Sendable {
    /// Pair layers by name instead of position. Names are compared with '/' read as '_', so tf_keras DenseNet's
    /// `conv1/conv` matches `conv1_conv`.
    public var byName: Bool
    /// Leave layers whose weight count or shapes differ as they are (and list them) instead of failing.
    public var skipMismatch: Bool

    public init(byName: Bool = false, skipMismatch: Bool = false) { (self.byName, self.skipMismatch) = (byName, skipMismatch) }
}

public struct WeightImportReport {
    /// Model layers that received weights.
    public var loaded: [String] = []
    /// Model layers left as they were because of a mismatch (`skipMismatch`), with the reason.
    public var skipped: [String] = []
    /// Weighted model layers the file has nothing for (e.g. the head when importing a notop backbone).
    public var notInFile: [String] = []
}

/// Reads a Keras file and loads its weights into `graph`; see `importWeights(from:into:options:)`.
@discardableResult
public func importWeights(fromFile path: String, into graph: Graph, options: WeightImportOptions = .init()) throws -> WeightImportReport {
    try importWeights(from: KerasWeightsFile.read(path), into: graph, options: options)
}

/// Loads a Keras file's weights into a model, by Keras' rules (keras-h5-format §5.1):
/// - By position (default): the file's weighted layers pair with the model's weighted layers in Keras'
///   `model.layers` order, weights within a layer in order. Names are ignored. In a `.weights.h5` file the
///   position is the snake-case class name plus running index (`conv2d_3`).
/// - Backbone prefix: a file with fewer weighted layers than the model (a notop backbone imported into
///   backbone + head) loads when every file layer has the weight count and shapes of the model layer at the same
///   position; the remaining model layers (the head) keep their initial values and are listed in `notInFile`.
/// - By name (`options.byName`): each model layer takes the file layer of the same name ('/' read as '_').
/// Every shape is checked before anything is assigned, so a failed import leaves the model unchanged.
@discardableResult
public func importWeights(from file: KerasWeightsFile, into graph: Graph, options: WeightImportOptions = .init()) throws -> WeightImportReport {
    try refuseNestedModels(file)
    let order = kerasLayerOrder(graph)
    let modelLayers = order.filter { !$0.weights.isEmpty }
    let pairs: [(file: KerasFileLayer, model: Layer)]
    if options.byName {
        pairs = try pairByName(file, modelLayers, graph: graph)
    } else if file.format == .keras3Weights {
        pairs = try pairByStorageKey(file, order, graph: graph)
    } else {
        pairs = try pairByPosition(file, file.weightedLayers, modelLayers, graph: graph)
    }
    var report = WeightImportReport()
    var assignments: [(Weight, Tensor)] = []
    for (fileLayer, modelLayer) in pairs {
        if let mismatch = weightMismatch(fileLayer, modelLayer) {
            guard options.skipMismatch else {
                throw KerasFileError(file: file.path, "cannot load file layer '\(fileLayer.name)' into model layer '\(modelLayer.name)': \(mismatch)")
            }
            report.skipped.append("\(modelLayer.name): \(mismatch)")
            continue
        }
        assignments += zip(modelLayer.weights, fileLayer.weights.map(\.value)).map { ($0, $1) }
        report.loaded.append(modelLayer.name)
    }
    for (weight, value) in assignments { weight.value = value }
    let paired = Set(pairs.map { ObjectIdentifier($0.model) })
    report.notInFile = modelLayers.filter { !paired.contains(ObjectIdentifier($0)) }.map(\.name)
    return report
}

/// A nested model (a whole Functional used as a layer) is one entry in `layer_names` holding all its layers'
/// weights under their own names (§2.3); bc-train builds flat models only.
private func refuseNestedModels(_ file: KerasWeightsFile) throws {
    for layer in file.weightedLayers where layer.storageKey == nil {
        let foreign = layer.weights.map(\.name).filter { $0.contains("/") && !$0.hasPrefix(layer.name + "/") }
        guard foreign.isEmpty else {
            throw KerasFileError(file: file.path, "layer '\(layer.name)' holds the weights of other layers (\(foreign.prefix(3).joined(separator: ", "))"
                                 + "\(foreign.count > 3 ? ", ..." : "")): it is a nested model; bc-train imports flat functional "
                                 + "models only (save the model with the backbone's layers at top level)")
        }
    }
}

private func pairByPosition(_ file: KerasWeightsFile, _ fileLayers: [KerasFileLayer], _ modelLayers: [Layer],
                            graph: Graph) throws -> [(file: KerasFileLayer, model: Layer)] {
    let pairs = Array(zip(fileLayers, modelLayers)).map { (file: $0, model: $1) }
    if fileLayers.count == modelLayers.count { return pairs }
    if fileLayers.count < modelLayers.count, let firstMismatch = pairs.firstIndex(where: { weightMismatch($0.file, $0.model) != nil }) {
        let (fileLayer, modelLayer) = pairs[firstMismatch]
        throw countMismatch(file, graph: graph, modelLayers: modelLayers, detail: "; it is not a prefix (backbone) of the model either: "
                            + "weighted layer \(firstMismatch) differs: file '\(fileLayer.name)' vs model '\(modelLayer.name)': "
                            + weightMismatch(fileLayer, modelLayer)!)
    }
    guard fileLayers.count < modelLayers.count else { throw countMismatch(file, graph: graph, modelLayers: modelLayers, detail: "") }
    return pairs
}

/// `.weights.h5`: each model layer's storage key is its snake-case class name plus a running index per class,
/// counted over all layers in `model.layers` order.
private func pairByStorageKey(_ file: KerasWeightsFile, _ order: [Layer], graph: Graph) throws -> [(file: KerasFileLayer, model: Layer)] {
    let fileLayers = Dictionary(file.layers.compactMap { layer in layer.storageKey.map { ($0, layer) } }) { first, _ in first }
    var counts: [String: Int] = [:]
    var matched: [KerasFileLayer] = []
    var modelLayers: [Layer] = []
    for layer in order {
        let base = kerasSnakeCase(layer.className)
        let index = counts[base, default: 0]
        counts[base] = index + 1
        guard !layer.weights.isEmpty else { continue }
        modelLayers.append(layer)
        if let fileLayer = fileLayers[index == 0 ? base : "\(base)_\(index)"], !fileLayer.weights.isEmpty { matched.append(fileLayer) }
    }
    guard matched.count == file.weightedLayers.count else {
        throw countMismatch(file, graph: graph, modelLayers: modelLayers, detail: "; only \(matched.count) of the file's layers have the "
                            + "class name and index of a weighted model layer")
    }
    return try pairByPosition(file, matched, modelLayers, graph: graph)
}

private func pairByName(_ file: KerasWeightsFile, _ modelLayers: [Layer], graph: Graph) throws -> [(file: KerasFileLayer, model: Layer)] {
    func normalized(_ name: String) -> String { name.replacingOccurrences(of: "/", with: "_") }
    let fileLayers = Dictionary(file.weightedLayers.map { (normalized($0.name), $0) }) { first, _ in first }
    let pairs = modelLayers.compactMap { layer in fileLayers[normalized(layer.name)].map { (file: $0, model: layer) } }
    guard !pairs.isEmpty else {
        throw KerasFileError(file: file.path, "loading by name matched no layer: the file's weighted layers are named "
                             + "\(file.weightedLayers.prefix(4).map { "'\($0.name)'" }.joined(separator: ", ")), ...; the model's "
                             + "\(modelLayers.prefix(4).map { "'\($0.name)'" }.joined(separator: ", ")), ...")
    }
    return pairs
}

/// Why a file layer cannot go into a model layer, or nil if its weights fit.
private func weightMismatch(_ fileLayer: KerasFileLayer, _ modelLayer: Layer) -> String? {
    guard fileLayer.weights.count == modelLayer.weights.count else {
        return "the file has \(fileLayer.weights.count) weights \(fileLayer.weights.map(\.value.shape)), the model's "
            + "\(modelLayer.className) has \(modelLayer.weights.count) \(modelLayer.weights.map(\.value.shape))"
    }
    for (index, (stored, weight)) in zip(fileLayer.weights, modelLayer.weights).enumerated() where stored.value.shape != weight.value.shape {
        return "weight \(index) ('\(weight.name)', stored as '\(stored.name)') has shape \(stored.value.shape) in the file, the model "
            + "expects \(weight.value.shape)"
    }
    return nil
}

private func countMismatch(_ file: KerasWeightsFile, graph: Graph, modelLayers: [Layer], detail: String) -> KerasFileError {
    let modelShapes = modelLayers.map { $0.weights.map(\.value.shape) }
    return KerasFileError(file: file.path, "layer count mismatch: the file has \(file.weightedLayers.count) weighted layers "
                          + "(\(file.architectureDescription)), model '\(graph.name)' has \(modelLayers.count) "
                          + "(\(describeArchitecture(weightedLayerShapes: modelShapes)))\(detail)")
}

/// Keras' `naming.to_snake_case`: `BatchNormalization` -> `batch_normalization`, `Conv2D` -> `conv2d`.
func kerasSnakeCase(_ name: String) -> String {
    var result = name.filter { $0.isLetter || $0.isNumber || $0 == "_" }
    for pattern in ["(.)([A-Z][a-z]+)", "([a-z])([A-Z])"] {
        let expression = try! NSRegularExpression(pattern: pattern)
        result = expression.stringByReplacingMatches(in: result, range: NSRange(result.startIndex..., in: result), withTemplate: "$1_$2")
    }
    return result.lowercased()
}
