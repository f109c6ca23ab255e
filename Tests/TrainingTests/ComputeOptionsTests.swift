import Foundation
import Layers
import Models
import OneDNN
import Tensors
import Training
import XCTest

/// `compute.convolution_algorithm`: auto by default (the faster kernels, timed), direct or winograd when asked; `compute.precision`:
/// float32 by default, Keras' mixed_bfloat16 when asked; `compute.recompute_activations`: auto by default (DenseNets
/// recompute, ResNets keep), true or false. Anything else is refused with the names allowed.
final class ComputeOptionsTests: XCTestCase {
    func testConvolutionAlgorithmKey() throws {
        try withMinimalConfig { file in
            XCTAssertEqual(try TrainingConfig.load(from: file).compute.convolutionAlgorithm, .auto)
            for algorithm in ConvolutionAlgorithm.allCases {
                let config = try TrainingConfig.load(from: file, overrides: ["compute.convolution_algorithm=\(algorithm.rawValue)"])
                XCTAssertEqual(config.compute.convolutionAlgorithm, algorithm)
            }
            XCTAssertThrowsError(try TrainingConfig.load(from: file, overrides: ["compute.convolution_algorithm=fft"])) { error in
                XCTAssertEqual("\(error)", "\(file.path): compute.convolution_algorithm: is \"fft\"; allowed: direct, winograd, auto")
            }
        }
    }

    func testPrecisionKey() throws {
        try withMinimalConfig { file in
            XCTAssertEqual(try TrainingConfig.load(from: file).compute.precision, .float32)
            let mixed = try TrainingConfig.load(from: file, overrides: ["compute.precision=mixed_bfloat16"])
            XCTAssertEqual(mixed.compute.precision, .mixedBFloat16)
            XCTAssertEqual(try TrainingConfig.load(from: file, overrides: ["compute.precision=float32"]).compute.precision, .float32)
            XCTAssertThrowsError(try TrainingConfig.load(from: file, overrides: ["compute.precision=float16"])) { error in
                XCTAssertEqual("\(error)", "\(file.path): compute.precision: is \"float16\"; allowed: float32, mixed_bfloat16")
            }
        }
    }

    func testRecomputeActivationsKey() throws {
        try withMinimalConfig { file in
            XCTAssertEqual(try TrainingConfig.load(from: file).compute.recomputeActivations, .auto)
            for (value, expected) in [("true", ActivationRecomputation.true), ("false", .false), ("auto", .auto)] {
                let config = try TrainingConfig.load(from: file, overrides: ["compute.recompute_activations=\(value)"])
                XCTAssertEqual(config.compute.recomputeActivations, expected)
                let decoded = try JSONDecoder().decode(TrainingConfig.self, from: JSONEncoder().encode(config))
                XCTAssertEqual(decoded.compute.recomputeActivations, expected, "round trip of \(value)")
            }
            XCTAssertThrowsError(try TrainingConfig.load(from: file, overrides: ["compute.recompute_activations=always"])) { error in
                XCTAssertEqual("\(error)", "\(file.path): compute.recompute_activations: is \"always\"; allowed: true, false, \"auto\"")
            }
        }
    }

    /// What `auto` decides, from the estimated memory of a training step: most of a DenseNet's activations are its
    /// running concatenations and the batch norm + ReLU outputs over them, which grow with the square of a block's
    /// depth; a ResNet recomputes too little of its step to pay for the time.
    func testAutoRecomputesDenseNetsAndNotResNets() throws {
        for (architecture, recomputes) in [(Architecture.densenet121, true), (.densenet201, true), (.resnet50, false)] {
            let model = try buildModel(architecture, inputShape: [224, 224, 3], head: HeadOptions(classes: 2, dropout: 0), seed: 1)
            let kept = model.estimatedTrainingBytes(batch: 16, recomputingActivations: true)
            let everything = model.estimatedTrainingBytes(batch: 16, recomputingActivations: false)
            print("\(architecture): a training step keeps \(kept / everything) of its estimated memory when recomputing")
            XCTAssertLessThan(kept, everything, "\(architecture)")
            XCTAssertEqual(ActivationRecomputation.auto.recomputes(model, perRankBatch: 16), recomputes, "\(architecture)")
            XCTAssertTrue(ActivationRecomputation.true.recomputes(model, perRankBatch: 16))
            XCTAssertFalse(ActivationRecomputation.false.recomputes(model, perRankBatch: 16))
        }
    }

    /// A real DenseNet recomputing gets the gradients of one keeping everything, bit for bit, holding less.
    func testDenseNet121RecomputingTrainsAsKeepingEverything() throws {
        var generator = SplitMix64(seed: 8)
        let images = Tensor(shape: [16, 64, 64, 3], scalars: (0..<16 * 64 * 64 * 3).map { _ in Float(generator.next() >> 40) / Float(1 << 24) * 2 - 1 })
        let backend = OneDNNBackend(threads: 2)
        func step(recomputing: Bool) throws -> (gradients: [[Float]], peakBytes: Int) {
            let model = try buildModel(.densenet121, inputShape: [64, 64, 3], head: HeadOptions(classes: 2, dropout: 0), seed: 3)
            model.recomputesActivations = recomputing
            let context = RunContext(backend: backend, training: true)
            TensorStorage.resetPeakBytes()
            let weightsAndImages = TensorStorage.liveBytes
            let output = try model.forward(images, context: context)
            model.backward(logitGradient: CategoricalCrossentropy().logitGradient(probabilities: output, labels: (0..<16).map { $0 % 3 == 0 ? 1 : 0 }, globalBatchSize: 16),
                           context: context)
            return (model.trainableWeights.map { $0.weight.gradient!.scalars }, TensorStorage.peakBytes - weightsAndImages)
        }
        let kept = try step(recomputing: false), recomputed = try step(recomputing: true)
        XCTAssertTrue(recomputed.gradients == kept.gradients, "weight gradients differ")
        // Above the weights: activations, and the weight gradients (28 MB, either way).
        print("DenseNet121 64x64 batch 16: peak tensor bytes above the weights \(kept.peakBytes) keeping everything, \(recomputed.peakBytes) recomputing")
        XCTAssertLessThan(Double(recomputed.peakBytes), 0.6 * Double(kept.peakBytes))
    }
}
