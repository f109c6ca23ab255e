import Datasets
import Foundation
import KerasHDF5
import Layers

/// `bc-train --write-plan DIR`: what a fresh run starts from and what it will feed each step, so that an independent
/// trainer (Keras) can replay it: `initial.h5` (the model after initialisation and any pretrained import, with its
/// optimizer in `training_config`) and `plan.json` (every epoch's steps: the global batch's files and labels in
/// order, each rank's share of it, and each sample's augmentation and dropout key).
struct RunPlan: Encodable {
    struct Step: Encodable {
        let files: [String]
        let labels: [Int]
        /// Images per rank, in rank order: rank r takes the next `ranks[r]` files.
        let ranks: [Int]
        /// Per sample, hex: the key its augmentation parameters and dropout masks are drawn from.
        let keys: [String]
    }

    let classNames: [String]
    let classWeight: [Float]?
    let worldSize: Int
    let globalBatchSize: Int
    let preprocessing: String
    let inputSize: [Int]
    let augmentation: Bool
    let dropout: Float
    /// Layers that train while the backbone is frozen, for the first `freezeBackboneEpochs` epochs.
    let headLayers: [String]
    let freezeBackboneEpochs: Int
    let fineTuneLearningRate: Float?
    /// Steps of each epoch.
    let epochs: [[Step]]

    enum CodingKeys: String, CodingKey {
        case classNames = "class_names", classWeight = "class_weight", worldSize = "world_size"
        case globalBatchSize = "global_batch_size", preprocessing, inputSize = "input_size", augmentation, dropout
        case headLayers = "head_layers", freezeBackboneEpochs = "freeze_backbone_epochs"
        case fineTuneLearningRate = "fine_tune_learning_rate", epochs
    }

    init(config: TrainingConfig, loader: Loader, classNames: [String], classWeight: [Float]?, worldSize: Int) {
        let schedule = loader.schedule
        epochs = (0..<config.training.epochs).map { epoch in
            let order = loader.order(epoch: epoch)
            return (0..<schedule.stepsPerEpoch).map { step in
                let positions = schedule.globalPositions(step: step)
                let indices = positions.map { order.sampleIndices[$0] }
                return Step(files: indices.map { loader.samples[$0].path }, labels: indices.map { loader.samples[$0].label },
                            ranks: (0..<worldSize).map { schedule.positions(step: step, rank: $0).count },
                            keys: positions.map { String(order.keys[$0], radix: 16) })
            }
        }
        (self.classNames, self.classWeight, self.worldSize) = (classNames, classWeight, worldSize)
        globalBatchSize = config.training.batchSize
        preprocessing = config.model.architecture.preprocessingMode
        inputSize = config.model.inputSize
        augmentation = config.data.augmentation != .none
        dropout = config.model.dropout
        headLayers = TrainingRun.headLayerNames.sorted()
        (freezeBackboneEpochs, fineTuneLearningRate) = (config.model.freezeBackboneEpochs, config.model.fineTuneLearningRate)
    }

    func write(to directory: URL, model: Graph, optimizer: Optimizer) throws {
        try writeKerasModel(model, to: directory.appendingPathComponent("initial.h5").path,
                            trainingConfig: kerasTrainingConfig(optimizer: optimizer))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(self).write(to: directory.appendingPathComponent("plan.json"), options: .atomic)
    }
}
