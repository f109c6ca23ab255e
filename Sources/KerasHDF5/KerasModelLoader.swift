import Layers
import Models

/// Builds the model a full-model file describes (its `model_config`) and loads the file's weights into it.
public func loadKerasModel(_ path: String, seed: UInt64 = 0) throws -> (graph: Graph, file: KerasWeightsFile) {
    let file = try KerasWeightsFile.read(path)
    guard let config = file.modelConfig else {
        throw KerasFileError(file: path, "has no model_config: it is a weights-only file (\(file.format.rawValue)); build the "
                             + "model in code and use importWeights")
    }
    let graph: Graph
    do {
        graph = try buildGraph(fromModelConfig: config, seed: seed)
    } catch {
        throw KerasFileError(file: path, "cannot build the model from its model_config: \(error)")
    }
    try importWeights(from: file, into: graph)
    return (graph, file)
}

