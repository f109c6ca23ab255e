import Foundation
import Images
import KerasHDF5
import Layers
import OneDNN
import Tensors

/// Batched inference with a bc-train checkpoint or any Keras full-model `.h5` built from supported layers:
/// the model, its class names, and the preprocessing it was trained with (from a bc-train checkpoint's state, or
/// recognised from the architecture's layer names, or given).
public final class Predictor {
    public let modelPath: String
    public let graph: Graph
    public let classNames: [String]
    public let preprocessing: Preprocessing
    public let resize: ResizeMethod
    /// A short identity for outputs: the file name and the first 12 hex digits of its weights' checksum.
    public let modelID: String
    let pipeline: ImagePipeline
    let backend: OneDNNBackend

    public init(modelPath: String, threads: Int = 1, preprocessing: Preprocessing? = nil, classNames: [String]? = nil) throws {
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
        (self.modelPath, self.graph, self.classNames, self.preprocessing) = (modelPath, graph, names, chosen)
        resize = Self.trainedResize(state) ?? .bilinear
        modelID = URL(fileURLWithPath: modelPath).lastPathComponent
        pipeline = ImagePipeline(height: graph.inputShape[0], width: graph.inputShape[1], resize: resize, preprocessing: chosen)
        backend = OneDNNBackend(threads: threads)
    }

    /// Class probabilities for each image, computed in batches of `batchSize`.
    public func predict(_ images: [RGBImage], batchSize: Int = 32) throws -> [[Double]] {
        let (height, width) = (graph.inputShape[0], graph.inputShape[1])
        var results: [[Double]] = []
        for start in stride(from: 0, to: images.count, by: batchSize) {
            let chunk = images[start..<min(start + batchSize, images.count)]
            var batch = Tensor(uninitializedShape: [chunk.count, height, width, 3])
            batch.withUnsafeMutableBufferPointer { buffer in
                for (offset, image) in chunk.enumerated() {
                    let slice = UnsafeMutableBufferPointer(rebasing: buffer[(offset * height * width * 3)..<((offset + 1) * height * width * 3)])
                    pipeline.process(image, augmentationKey: 0, into: slice)
                }
            }
            let probabilities = try graph.forward(batch, context: RunContext(backend: backend, training: false))
            let classes = classNames.count
            let values = probabilities.scalars
            results += (0..<chunk.count).map { row in values[(row * classes)..<((row + 1) * classes)].map(Double.init) }
        }
        return results
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
