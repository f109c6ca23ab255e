import Cluster
import Foundation
import KerasHDF5
import Layers
import Models
import OneDNN
import Tensors
import Training
import XCTest

/// Whole training steps against Keras training: the same initial model (written by bc-train, loaded by Keras) on the
/// same batches, with the same optimizer and loss, in tf_keras and in Keras 3 (`train_on_batch`). The pieces
/// (layers, batch norm, loss, optimizers) are checked one by one elsewhere; this checks that together they make
/// Keras' training step. Dropout is 0 (Keras draws its own masks); batch norm trains on batch statistics and moves
/// its moving averages, as in Keras.
///
/// What agreement to expect was measured: the first step's loss agrees to about 1e-5, and at 32x32 with SGD its
/// update to about 1e-4 of its norm (the whole backward pass against TensorFlow). After that, float rounding grows fast
/// in a from-scratch ResNet or DenseNet at a few images per step (batch norm over 8 values in the last blocks):
/// tf_keras and Keras 3, on the same model and batches, differ after three steps by up to half the update's norm (Adam
/// also turns rounding-level gradients near zero into updates of the learning rate's size at its first step). So
/// later steps are held to a rounding yardstick: bc-train may differ from each Keras at most twice as much as rounding
/// alone carries runs apart, measured as the larger of the two Kerases' distance and bc-train's own on 1 and 2
/// threads (the same arithmetic summed in another order). A wrong optimizer, loss weight or batch-norm step moves
/// bc-train away from both Kerases while its two runs stay together.
final class KerasTrainingParityTests: XCTestCase {
    static let world = try! MPIWorld.shared()

    /// Keras' transfer-learning recipe, with class weights: the head trains with the backbone frozen (its batch
    /// norms on their moving statistics), then everything is trainable and the model is compiled again at a lower
    /// rate (bc-train's `freeze_backbone_epochs` with `fine_tune_learning_rate`: the optimizer restarts, so Adam's
    /// first fine-tuning step is a first step again). The frozen steps come first because they are well conditioned:
    /// after an Adam step of the whole from-scratch model, the next losses in training mode vary by tens of percent
    /// with rounding (measured: tf_keras and Keras 3 at 0.48 and 0.70), which would hide what the phases do.
    func testResNet50FrozenBackboneThenFineTunedWithAdamAndClassWeightsTrainsLikeKeras() throws {
        let backbone = Set(try buildModel(.resnet50, inputShape: [32, 32, 3], head: HeadOptions(classes: 2, dropout: 0), seed: 5)
            .layers.map(\.name)).subtracting(TrainingRun.headLayerNames)
        try compareWithKeras(.resnet50, optimizer: { Adam(learningRate: 0.001) }, classWeights: [0.7, 1.6],
                             phases: [Phase(steps: 2, frozen: backbone, learningRate: 0.001), Phase(steps: 2, frozen: [], learningRate: 1e-4)])
    }

    func testDenseNet121WithNesterovSGDTrainsLikeKeras() throws {
        try compareWithKeras(.densenet121, optimizer: { SGD(learningRate: 0.01, momentum: 0.9, nesterov: true) }, classWeights: nil)
    }

    /// At 64x64 a from-scratch model's gradient is more sensitive to rounding than at 32x32 (measured: tf_keras and
    /// Keras 3 ~2% apart after the first SGD step), so these hold to the rounding yardstick from the first step on.
    func testResNet50At64x64WithNesterovSGDTrainsLikeKeras() throws {
        try compareWithKeras(.resnet50, size: 64, optimizer: { SGD(learningRate: 0.01, momentum: 0.9, nesterov: true) }, classWeights: nil)
    }

    func testDenseNet121At64x64WithAdamAndClassWeightsTrainsLikeKeras() throws {
        try compareWithKeras(.densenet121, size: 64, optimizer: { Adam(learningRate: 0.001) }, classWeights: [0.7, 1.6])
    }

    /// Steps with some layers frozen; every phase after the first restarts the optimizer at its rate (a recompile).
    struct Phase {
        let steps: Int
        let frozen: Set<String>
        let learningRate: Float
    }

    /// Batches of 8 at `size` x `size`: three steps, or the phases' steps. bc-train trains on 1 thread, and again on
    /// 2 (other rounding: the convolutions' sums run in another order) for the rounding yardstick.
    func compareWithKeras(_ architecture: Architecture, size: Int = 32, optimizer makeOptimizer: () -> Optimizer, classWeights: [Float]?,
                          phases: [Phase]? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        let folder = try temporaryFolder(self)
        let makeModel = { try buildModel(architecture, inputShape: [size, size, 3], head: HeadOptions(classes: 2, dropout: 0), seed: 5) }
        let initialPath = folder.appendingPathComponent("initial.h5").path
        let initial = try weights(of: makeModel())
        try writeKerasModel(try makeModel(), to: initialPath)
        let phases = phases ?? [Phase(steps: 3, frozen: [], learningRate: makeOptimizer().learningRate)]

        var batches: [[String]] = [], phaseSpecs: [[String: Any]] = []
        /// bc-train's steps (the first `limit`), on `backend`; the first run writes the batches and phases for Keras.
        func train(_ backend: Backend, steps limit: Int = .max) throws -> Run {
            let model = try makeModel(), optimizer = makeOptimizer(), recording = batches.isEmpty
            let step = DataParallelStep(model: model, optimizer: optimizer, loss: CategoricalCrossentropy(classWeights: classWeights),
                                        backend: backend, world: Self.world)
            var index = 0, losses: [Float] = [], afterFirstStep: [String: Tensor] = [:]
            for (number, phase) in phases.enumerated() where index < limit {
                for layer in model.layers { layer.trainable = !phase.frozen.contains(layer.name) }
                if number > 0 { optimizer.restart(learningRate: phase.learningRate) }
                if recording {
                    phaseSpecs.append(["steps": phase.steps, "frozen": phase.frozen.sorted(),
                                       "optimizer": optimizer.config.mapValues(\.plainValue).merging(["name": optimizer is Adam ? "adam" : "sgd"]) { $1 }])
                }
                for _ in 0..<phase.steps where index < limit {
                    let images = randomInput([8, size, size, 3], seed: UInt64(20 + index)).scaled(by: 2)
                    let labels = (0..<8).map { ($0 * 5 + index) % 3 == 0 ? 1 : 0 }
                    if recording {
                        let x = folder.appendingPathComponent("x\(index).npy"), y = folder.appendingPathComponent("y\(index).npy")
                        try writeNumpy(images, to: x)
                        try writeNumpy(Tensor(shape: [8, 2], scalars: labels.flatMap { $0 == 1 ? [0, 1] : [1, 0] }), to: y)
                        batches.append([x.path, y.path])
                    }
                    losses.append(try step.run(RankBatch(images: images, labels: labels, sampleKeys: (0..<8).map { UInt64($0) },
                                                         globalCount: 8)).loss)
                    if index == 0 { afterFirstStep = weights(of: model) }
                    index += 1
                }
            }
            return Run(losses: losses, afterFirstStep: afterFirstStep, final: weights(of: model))
        }
        let ours = try train(OneDNNBackend(threads: 1)), ourRounding = try train(OneDNNBackend(threads: 2))
        let spec: [String: Any] = ["phases": phaseSpecs, "class_weight": classWeights.map { $0.map(Double.init) } ?? NSNull(),
                                   "batches": batches]
        let specPath = folder.appendingPathComponent("spec.json")
        try JSONSerialization.data(withJSONObject: spec).write(to: specPath)
        func kerasRuns(_ prefix: String) throws -> [Run] {
            try ["tfk", "k3"].map { flavour in
                Run(losses: try JSONDecoder().decode([Float].self, from: Data(contentsOf: URL(fileURLWithPath: "\(prefix)_\(flavour).json"))),
                    afterFirstStep: try checkpointTensors("\(prefix)_\(flavour)_step1.h5"), final: try checkpointTensors("\(prefix)_\(flavour).h5"))
            }
        }
        let prefix = folder.appendingPathComponent("keras").path
        // How far rounding alone carries runs apart: the two Kerases on TensorFlow's default threads and on one (the
        // same Keras run twice differs too: TensorFlow's threaded sums are not deterministic), bc-train on 1 and 2
        // threads, and for the first step also bc-train on the reference backend (its sums in Double: its forward pass
        // rounds otherwise too, where oneDNN's is the same on any thread count). The yardstick is the largest distance
        // between two of these runs, but bc-train's against a Keras. The two referee processes run at once: most of
        // each is single-threaded Python (imports, building and tracing the models), and no sum depends on timing.
        let refereeRuns = [["train-steps", initialPath, specPath.path, prefix], ["train-steps", initialPath, specPath.path, prefix + "1", "1"]]
        try runConcurrently(refereeRuns.map { arguments in { try runReferee(arguments) } })
        let keras = try kerasRuns(prefix)
        let siblings = keras + (try kerasRuns(prefix + "1")), firstStepSiblings = [try train(ReferenceBackend(), steps: 1)]
        let pairs = siblings.indices.flatMap { i in siblings.indices.filter { $0 > i }.map { (siblings[i], siblings[$0]) } } + [(ours, ourRounding)]
        let firstStepPairs = pairs + firstStepSiblings.map { (ours, $0) }
        let spread = (first: firstStepPairs.map { updateDifference($0.afterFirstStep, $1.afterFirstStep, from: initial) }.max()!,
                      losses: pairs.map { lossDifference($0.losses, $1.losses) }.max()!,
                      final: pairs.map { updateDifference($0.final, $1.final, from: initial) }.max()!)
        for (flavour, theirs) in zip(["tf_keras", "Keras 3"], keras) {
            XCTAssertEqual(Set(theirs.final.keys), Set(ours.final.keys), flavour, file: file, line: line)
            let firstLoss = abs(ours.losses[0] - theirs.losses[0]) / theirs.losses[0]
            let first = updateDifference(ours.afterFirstStep, theirs.afterFirstStep, from: initial)
            let losses = lossDifference(ours.losses, theirs.losses)
            let final = updateDifference(ours.final, theirs.final, from: initial)
            let measured = "\(architecture) \(size)x\(size) \(type(of: makeOptimizer())) \(phases.count) phases vs \(flavour): losses \(ours.losses) vs "
                + "\(theirs.losses); first loss \(firstLoss), first update \(first) of its norm (rounding spread \(spread.first)); after "
                + "\(batches.count) steps losses \(losses), update \(final) (rounding spread \(spread.losses), \(spread.final))"
                + "; first loss on the reference backend \(firstStepSiblings[0].losses[0]), Keras on one thread \(siblings[2].losses[0]), "
                + "\(siblings[3].losses[0])"
            print(measured)
            // The forward pass alone, through a from-scratch model in training mode: at 32x32 it agrees to ~1e-5. At 64x64
            // its six computations (bc-train's, its reference backend's, each Keras on 2 and on 1 thread) spread over 1e-4
            // (measured for ResNet50: Keras 3 is 8.7e-5 from the reference backend's Double sums, tf_keras 4e-5 and
            // 7e-5, bc-train 1.5e-5); a wrong weight or layer moves the loss by percents.
            XCTAssertLessThan(firstLoss, size > 32 ? 2e-4 : 1e-4, measured, file: file, line: line)
            if makeOptimizer() is SGD && size == 32 {
                // No Adam normalisation and no steps before it: the update is the gradient, exact up to rounding. Of
                // batch norm's moving variance only Keras 3's agrees (tf_keras moves it with the unbiased batch
                // variance, Keras 3 and bc-train with the biased one), so that is compared with Keras 3 alone.
                let trainable = updateDifference(ours.afterFirstStep, theirs.afterFirstStep, from: initial) { !$0.contains("moving_") }
                XCTAssertLessThan(trainable, 1e-3, "trainable weights: \(trainable); " + measured, file: file, line: line)
                if flavour == "Keras 3" { XCTAssertLessThan(first, 1e-3, measured, file: file, line: line) }
            }
            XCTAssertLessThan(first, 2 * spread.first + 1e-3, measured, file: file, line: line)
            XCTAssertLessThan(losses, 2 * spread.losses + 1e-4, measured, file: file, line: line)
            XCTAssertLessThan(final, 2 * spread.final + 1e-3, measured, file: file, line: line)
        }
    }

    func weights(of model: Graph) -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: model.namedWeights.map { ($0.path, $0.weight.value) })
    }

    /// One training run: its losses, and its weights after the first and after the last step.
    struct Run {
        let losses: [Float]
        let afterFirstStep: [String: Tensor]
        let final: [String: Tensor]
    }


    /// The largest relative difference of two runs' losses at the same step.
    func lossDifference(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) / abs($1) }.max()! }
}

extension JSON {
    /// The value as JSONSerialization takes it.
    var plainValue: Any {
        switch self {
        case .number(let number): number
        case .bool(let flag): flag
        case .string(let text): text
        default: NSNull()
        }
    }
}

extension Tensor {
    func scaled(by factor: Float) -> Tensor { Tensor(shape: shape, scalars: scalars.map { $0 * factor }) }
}
