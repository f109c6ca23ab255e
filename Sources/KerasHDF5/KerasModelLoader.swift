import Layers
import Models

/// Builds the model a full-model file describes (its `model_config`) and loads the file's weights into it.
public func loadKerasModel(_ path: String, seed: UInt64 = 0) throws -> (graph: Graph, file: KerasWeightsFile) {
    let file = try KerasWeightsFile.read(path)
    guard let config = file.modelConfig else {
        throw KerasFileError(file: path, "has no model_config: it is a weights-only file (\(file.format.rawValue)); build the "
                             + "model in code and use importWeights")
    }
    func build(placeholderWeights: Bool) throws -> Graph {
        do {
            return try buildGraph(fromModelConfig: config, seed: seed, placeholderWeights: placeholderWeights)
        } catch {
            throw KerasFileError(file: path, "cannot build the model from its model_config: \(error)")
        }
    }
    // A full-model file holds every layer's weights; should some be missing, they get Keras' seeded initial values.
    let graph = try build(placeholderWeights: true)
    guard try importWeights(from: file, into: graph).notInFile.isEmpty else {
        let seeded = try build(placeholderWeights: false)
        try importWeights(from: file, into: seeded)
        return (seeded, file)
    }
    return (graph, file)
}

