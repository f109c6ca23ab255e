import Datasets
import Foundation
import Images
import KerasHDF5
import Layers

/// `bc-train --write-plan DIR`: what a fresh run starts from and what it will feed each step, so that an independent
/// trainer (Keras) can replay it: `initial.h5` (the model after initialisation and any pretrained import, with its
/// optimizer in `training_config`) and `plan.json` (every epoch's steps: the global batch's files and labels in
/// order, each rank's share of it, each sample's augmentation and dropout key, and what those keys draw: the
/// sample's transform in Keras' `apply_transform` terms and its dropout masks).
struct RunPlan: Encodable {
    struct Step: Encodable {
        let files: [String]
        let labels: [Int]
        /// Images per rank, in rank order: rank r takes the next `ranks[r]` files.
        let ranks: [Int]
        /// Per sample, hex: the key its augmentation parameters and dropout masks are drawn from.
        let keys: [String]
        /// With augmentation, per sample: its transform.
        let transforms: [Transform]?
        /// Per dropout layer, per sample: the kept values as bits (1 kept, scaled by 1 / (1 - rate); 0 dropped) in
        /// row-major order, 8 to a byte from its high bit (numpy's `packbits`), in hex.
        let dropoutMasks: [String: [String]]?

        enum CodingKeys: String, CodingKey { case files, labels, ranks, keys, transforms, dropoutMasks = "dropout_masks" }
    }

    /// One sample's augmentation: Keras' `apply_transform` parameters (degrees and pixels, flips after the warp),
    /// then bc-train's own (quarter turns after the flips, colour factors; neutral unless configured).
    struct Transform: Encodable {
        let theta, tx, ty, shear, zx, zy: Double
        let flipHorizontal, flipVertical: Bool
        let quarterTurns: Int
        let brightness, contrast, saturation, hueDegrees: Double

        init(_ geometry: AffineParameters, _ color: ColorJitter) {
            (theta, tx, ty, shear, zx, zy) = (geometry.theta, geometry.tx, geometry.ty, geometry.shear, geometry.zx, geometry.zy)
            (flipHorizontal, flipVertical, quarterTurns) = (geometry.flipHorizontal, geometry.flipVertical, geometry.quarterTurns)
            (brightness, contrast, saturation, hueDegrees) = (color.brightness, color.contrast, color.saturation, color.hueDegrees)
        }

        enum CodingKeys: String, CodingKey {
            case theta, tx, ty, shear, zx, zy, flipHorizontal = "flip_horizontal", flipVertical = "flip_vertical"
            case quarterTurns = "quarter_turns", brightness, contrast, saturation, hueDegrees = "hue_degrees"
        }
    }

    struct DropoutLayer: Encodable {
        let name: String
        let rate: Float
        /// Values per sample.
        let features: Int
    }

    let classNames: [String]
    let classWeight: [Float]?
    let worldSize: Int
    let globalBatchSize: Int
    let preprocessing: String
    let inputSize: [Int]
    let augmentation: Bool
    /// Whether every transform is one Keras' `apply_transform` makes (no quarter turns or colour changes).
    let kerasTransforms: Bool
    let resize: String
    let fillMode: String
    let cval: Double
    let dropout: Float
    let dropoutLayers: [DropoutLayer]
    /// Layers that train while the backbone is frozen, for the first `freezeBackboneEpochs` epochs.
    let headLayers: [String]
    let freezeBackboneEpochs: Int
    let fineTuneLearningRate: Float?
    /// Steps of each epoch.
    let epochs: [[Step]]

    enum CodingKeys: String, CodingKey {
        case classNames = "class_names", classWeight = "class_weight", worldSize = "world_size"
        case globalBatchSize = "global_batch_size", preprocessing, inputSize = "input_size", augmentation, dropout
        case kerasTransforms = "keras_transforms", resize, fillMode = "fill_mode", cval, dropoutLayers = "dropout_layers"
        case headLayers = "head_layers", freezeBackboneEpochs = "freeze_backbone_epochs"
        case fineTuneLearningRate = "fine_tune_learning_rate", epochs
    }

    init(config: TrainingConfig, loader: Loader, model: Graph, classNames: [String], classWeight: [Float]?, worldSize: Int) {
        let schedule = loader.schedule, options = config.data.augmentation, size = config.model.inputSize
        let dropouts = model.nodes.compactMap { node in
            (node.layer as? Dropout).flatMap { $0.rate > 0 ? ($0, node.outputShape.reduce(1, *)) : nil }
        }
        func maskBits(_ mask: [Float]) -> String {
            stride(from: 0, to: mask.count, by: 8).map { start in
                let byte = (start..<min(start + 8, mask.count)).reduce(0) { $0 | (mask[$1] != 0 ? 0x80 >> ($1 - start) : 0) }
                return String(format: "%02x", byte)
            }.joined()
        }
        epochs = (0..<config.training.epochs).map { epoch in
            let order = loader.order(epoch: epoch)
            return (0..<schedule.stepsPerEpoch).map { step in
                let positions = schedule.globalPositions(step: step)
                let indices = positions.map { order.sampleIndices[$0] }
                let keys = positions.map { order.keys[$0] }
                return Step(files: indices.map { loader.samples[$0].path }, labels: indices.map { loader.samples[$0].label },
                            ranks: (0..<worldSize).map { schedule.positions(step: step, rank: $0).count },
                            keys: keys.map { String($0, radix: 16) },
                            transforms: options == .none ? nil : keys.map { key in
                                let drawn = options.parameters(key: key, height: size[0], width: size[1])
                                return Transform(drawn.geometry, drawn.color)
                            },
                            dropoutMasks: dropouts.isEmpty ? nil : Dictionary(uniqueKeysWithValues: dropouts.map { layer, features in
                                (layer.name, keys.map { maskBits(layer.mask(sampleKey: $0, count: features)) })
                            }))
            }
        }
        (self.classNames, self.classWeight, self.worldSize) = (classNames, classWeight, worldSize)
        globalBatchSize = config.training.batchSize
        preprocessing = config.model.architecture.preprocessingMode
        inputSize = config.model.inputSize
        augmentation = options != .none
        kerasTransforms = !options.randomRotation90 && options.brightnessRange == nil && options.contrastRange == nil
            && options.saturationRange == nil && options.hueShiftRange == 0
        (resize, fillMode, cval) = (config.data.resize.rawValue, options.fillMode.rawValue, options.cval)
        dropout = config.model.dropout
        dropoutLayers = dropouts.map { DropoutLayer(name: $0.0.name, rate: $0.0.rate, features: $0.1) }
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
