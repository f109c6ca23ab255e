import Evaluation
import Foundation
import Images
import KerasHDF5
import Layers
import OneDNN
import Tensors

/// Batched inference with a bc-train checkpoint or any Keras full-model `.h5` built from supported layers:
/// the model, its class names, and the preprocessing it was trained with (from a bc-train checkpoint's state, or
/// recognised from the architecture's layer names, or given). Batch norms that follow convolutions are folded
/// into them; test-time augmentation is optional. A temperature fitted by `bc-eval --calibrate` (beside the model)
/// rescales the probabilities.
public final class Predictor {
    public let modelPath: String
    /// The model as stored (Keras' layers).
    public let graph: Graph
    /// What runs: `graph` with batch norm folded into convolutions where possible.
    let inferenceGraph: Graph
    public let foldedBatchNorms: Int
    public let testTimeAugmentation: TestTimeAugmentation
    /// Whole-image prediction from a grid of crops; nil: each image resized whole.
    public let crops: CropGrid?
    /// With `crops`, when the model's training record shows it never saw views that large: why its calls on crops
    /// may be poor. Nil otherwise, and for files without a training record (nothing is known).
    public let cropScaleWarning: String?
    public let classNames: [String]
    /// The class whose probability is P(malignant) and whose label applies at or above a threshold: "malignant"
    /// when the model has such a class, else the last class (as bc-eval chooses).
    public var positiveClass: Int { classNames.firstIndex(of: "malignant") ?? classNames.count - 1 }
    public let preprocessing: Preprocessing
    public let resize: ResizeMethod
    /// A short identity for outputs: the file name and the first 12 hex digits of its weights' checksum.
    public let modelID: String
    /// What to do with a calibration file beside the model (`ModelCalibration`).
    public enum CalibrationUse: Sendable {
        /// Read it and rescale the probabilities `predict` returns (bc-predict, bc-serve).
        case apply
        /// Read it, but return the model's own probabilities (bc-eval reports both).
        case read
        /// Leave it unread (bc-eval --calibrate replaces it).
        case ignore
    }

    /// The calibration file beside the model, unless ignored.
    public let calibration: ModelCalibration?
    /// Whether `predict` applies `calibration`.
    public let appliesCalibration: Bool
    let pipeline: ImagePipeline
    let backend: OneDNNBackend

    public init(modelPath: String, threads: Int = 1, preprocessing: Preprocessing? = nil, classNames: [String]? = nil,
                testTimeAugmentation: TestTimeAugmentation = .off, crops: CropGrid? = nil, foldBatchNorm: Bool = true,
                calibrationUse: CalibrationUse = .apply) throws {
        let (graph, file) = try loadKerasModel(modelPath)
        let state = file.trainingState?.json
        guard graph.inputShape.count == 3, graph.outputShape.count == 1 else {
            throw KerasFileError(file: modelPath, "expects images in and class probabilities out, but the model maps "
                                 + "\(graph.inputShape) to \(graph.outputShape)")
        }
        guard let chosen = preprocessing ?? Self.trainedPreprocessing(state) ?? Self.recognisedPreprocessing(graph) else {
            throw KerasFileError(file: modelPath, "does not say how its inputs were preprocessed: pass --preprocessing caffe|torch|none")
        }
        let classes = graph.outputShape[0]
        let names = classNames ?? Self.trainedClassNames(state) ?? (classes == 2 ? ["benign", "malignant"] : (0..<classes).map { "class_\($0)" })
        guard names.count == classes else {
            throw KerasFileError(file: modelPath, "has \(classes) outputs but \(names.count) class names were given")
        }
        if testTimeAugmentation == .dihedral && graph.inputShape[0] != graph.inputShape[1] {
            throw KerasFileError(file: modelPath, "takes \(graph.inputShape[0])x\(graph.inputShape[1]) images: rotations by 90 "
                                 + "degrees need square inputs (use test-time augmentation 'flips')")
        }
        let oneImage = graph.estimatedInferenceBytes(batch: 1), memory = Double(MachineMemory.physicalBytes)
        guard oneImage <= memory else {
            throw KerasFileError(file: modelPath, "takes \(graph.inputShape[0])x\(graph.inputShape[1]) images: predicting one needs at least "
                                 + "\(MachineMemory.describe(oneImage)), but this machine has \(MachineMemory.describe(memory))")
        }
        (self.modelPath, self.graph, self.classNames, self.preprocessing) = (modelPath, graph, names, chosen)
        (self.testTimeAugmentation, self.crops) = (testTimeAugmentation, crops)
        cropScaleWarning = crops.flatMap { Self.cropScaleWarning($0, trainedZoom: Self.trainedZoomRange(state)) }
        (inferenceGraph, foldedBatchNorms) = foldBatchNorm ? try graph.foldingBatchNormIntoConvolutions() : (graph, 0)
        resize = Self.trainedResize(state) ?? .bilinear
        modelID = URL(fileURLWithPath: modelPath).lastPathComponent + "@" + Self.weightsDigest(graph)
        calibration = calibrationUse == .ignore ? nil
            : try ModelCalibration.load(besideModel: modelPath, modelID: modelID, testTimeAugmentation: testTimeAugmentation, crops: crops)
        appliesCalibration = calibrationUse == .apply
        pipeline = ImagePipeline(height: graph.inputShape[0], width: graph.inputShape[1], resize: resize, preprocessing: chosen)
        backend = OneDNNBackend(threads: threads)
    }

    /// Class probabilities for each image, computed in batches of `batchSize` (averaged over the test-time
    /// augmentation's transforms, and over the crops with `crops`).
    public func predict(_ images: [RGBImage], batchSize: Int = 32) throws -> [[Double]] {
        try predictWithSpread(images, batchSize: batchSize).map(\.probabilities)
    }

    /// What `predictWithSpread` says of one image.
    public struct Outcome: Equatable, Sendable {
        public var probabilities: [Double]
        /// How far the test-time augmentation's views disagree: the largest standard deviation, over classes, of the
        /// views' own (uncalibrated) probabilities; with crops, the largest over the crops; 0 without views.
        public var spread: Double
        /// With `crops`: each crop's probabilities, in `CropGrid.regions` order (rescaled by the same temperature as
        /// the image's, so that the map reads on its scale).
        public var crops: [[Double]]?
    }

    /// `predict`, with each image's spread over the test-time augmentation's views (a large spread means the call
    /// depends on the image's orientation: an image to review) and, with `crops`, each crop's probabilities.
    public func predictWithSpread(_ images: [RGBImage], batchSize: Int = 32) throws -> [Outcome] {
        let temperature = appliesCalibration ? calibration?.temperature : nil
        func calibrated(_ probabilities: [Double]) -> [Double] { temperature.map { TemperatureScaling.apply($0, to: probabilities) } ?? probabilities }
        guard let crops else {
            return try predictViews(images, batchSize: batchSize).map { Outcome(probabilities: calibrated($0.probabilities), spread: $0.spread) }
        }
        let count = crops.side * crops.side
        let perCrop = try predictViews(images.flatMap(crops.crops), batchSize: batchSize)
        return images.indices.map { image in
            let own = perCrop[(image * count)..<((image + 1) * count)]
            let mean = own[own.startIndex].probabilities.indices.map { c in own.reduce(0) { $0 + $1.probabilities[c] } / Double(count) }
            return Outcome(probabilities: calibrated(mean), spread: own.map(\.spread).max()!, crops: own.map { calibrated($0.probabilities) })
        }
    }

    /// The uncalibrated mean probabilities over the test-time augmentation's views of each image, and their spread.
    private func predictViews(_ images: [RGBImage], batchSize: Int) throws -> [(probabilities: [Double], spread: Double)] {
        let batchSize = affordableBatchSize(batchSize)
        var results: [(probabilities: [Double], spread: Double)] = []
        for start in stride(from: 0, to: images.count, by: batchSize) {
            let chunk = images[start..<min(start + batchSize, images.count)]
            let batch = inputBatch(chunk)
            let classes = classNames.count, transforms = testTimeAugmentation.transforms
            var sums = [Double](repeating: 0, count: chunk.count * classes), squares = sums
            for transform in transforms {
                let input = transform.isIdentity ? batch : transform.apply(batch)
                let probabilities = try inferenceGraph.forward(input, context: RunContext(backend: backend, training: false))
                for (index, value) in probabilities.scalars.enumerated() {
                    sums[index] += Double(value)
                    squares[index] += Double(value) * Double(value)
                }
                TensorStorage.trimPool()
            }
            let views = Double(transforms.count)
            results += (0..<chunk.count).map { row in
                let span = (row * classes)..<((row + 1) * classes)
                let probabilities = sums[span].map { $0 / views }
                let spread = zip(probabilities, squares[span]).map { mean, square in max(0, square / views - mean * mean).squareRoot() }.max()!
                return (probabilities, spread)
            }
        }
        return results
    }

    /// `batchSize`, made smaller for large inputs, so that a batch never needs more than half the memory.
    func affordableBatchSize(_ batchSize: Int) -> Int {
        max(1, min(batchSize, Int(Double(MachineMemory.physicalBytes) / 2 / graph.estimatedInferenceBytes(batch: 1))))
    }

    /// The images resized and preprocessed as the model was trained, (N, height, width, 3).
    func inputBatch(_ images: ArraySlice<RGBImage>) -> Tensor {
        let (height, width) = (graph.inputShape[0], graph.inputShape[1]), size = height * width * 3
        var batch = Tensor(uninitializedShape: [images.count, height, width, 3])
        batch.withUnsafeMutableBufferPointer { buffer in
            for (offset, image) in images.enumerated() {
                pipeline.process(image, augmentationKey: 0, into: UnsafeMutableBufferPointer(rebasing: buffer[(offset * size)..<((offset + 1) * size)]))
            }
        }
        return batch
    }

    /// 12 hex digits of FNV-1a over the weights' checksums: two files with the same name (every run has a
    /// best.h5) are told apart, and a copy of a file keeps its identity.
    private static func weightsDigest(_ graph: Graph) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for (_, weight) in graph.namedWeights { hash = (hash ^ checksum(weight.value)) &* 0x100_0000_01b3 }
        return String(String(hash, radix: 16).leftPadded(to: 16).prefix(12))
    }

    private static func trainedConfig(_ state: JSON?) -> [String: JSON]? {
        guard case .object(let root)? = state, case .object(let config)? = root["config"] else { return nil }
        return config
    }

    private static func trainedPreprocessing(_ state: JSON?) -> Preprocessing? {
        guard case .object(let model)? = trainedConfig(state)?["model"], case .string(let name)? = model["architecture"] else { return nil }
        return name.hasPrefix("resnet") ? .caffe : name.hasPrefix("densenet") ? .torch : nil
    }

    private static func trainedResize(_ state: JSON?) -> ResizeMethod? {
        guard case .object(let data)? = trainedConfig(state)?["data"], case .string(let name)? = data["resize"] else { return nil }
        return ResizeMethod(rawValue: name)
    }

    /// The augmentation's `zoom_range` the model was trained with (Keras' meaning: a zoom z shows z of the image's
    /// width or height, so z < 1 magnifies); [1, 1] when the record has no zoom.
    private static func trainedZoomRange(_ state: JSON?) -> [Double]? {
        guard case .object(let data)? = trainedConfig(state)?["data"] else { return nil }
        guard case .object(let augmentation)? = data["augmentation"], case .array(let range)? = augmentation["zoom_range"] else { return [1, 1] }
        let values = range.compactMap { if case .number(let value) = $0 { value } else { nil } }
        return values.count == 2 ? values : nil
    }

    /// A crop of 2 / (n + 1) of each side shows the tissue (n + 1) / 2 times larger than the whole image resized.
    package static func cropScaleWarning(_ crops: CropGrid, trainedZoom: [Double]?) -> String? {
        guard let smallest = trainedZoom?.min() else { return nil }
        let fraction = 2 / Double(crops.side + 1)
        guard fraction < smallest - 1e-9 else { return nil }
        return String(format: "--crops %d shows the model each crop %.2f times larger than the whole image, but it was trained on "
                      + "views at most %.2f times larger (zoom_range down to %g): expect poorer calls; train with zoom_range reaching "
                      + "%.2f for crops, or predict whole images", crops.side, 1 / fraction, 1 / smallest, smallest, fraction)
    }

    private static func trainedClassNames(_ state: JSON?) -> [String]? {
        guard case .object(let root)? = state, case .array(let names)? = root["classNames"] else { return nil }
        return names.compactMap { if case .string(let name) = $0 { name } else { nil } }
    }

    /// keras.applications' naming tells the family: ResNet's `conv2_block1_0_conv` shortcut, DenseNet's
    /// `conv2_block1_concat`.
    private static func recognisedPreprocessing(_ graph: Graph) -> Preprocessing? {
        if graph.layer(named: "conv2_block1_0_conv") != nil { return .caffe }
        if graph.layer(named: "conv2_block1_concat") != nil { return .torch }
        return nil
    }
}

private extension String {
    func leftPadded(to length: Int) -> String { String(repeating: "0", count: max(0, length - count)) + self }
}
