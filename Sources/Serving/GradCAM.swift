import KerasHDF5
import Images
import Layers
import Tensors

/// Where a model looked for one class in one image: Grad-CAM (Selvaraju et al. 2017). The last convolutional
/// block's activations A_k are weighted by alpha_k, the spatial mean of d(score of the class)/dA_k, where the
/// score is the class's input to the softmax; the weighted sum goes through a ReLU and is divided by its maximum
/// (Keras' Grad-CAM example does the same), so the map is in [0, 1] (all zeros when nothing is positive).
public struct ClassActivationMap: Sendable, Equatable {
    /// The class the map is for, and the layer whose output it weights.
    public let classIndex: Int
    public let layer: String
    public let heatmap: Heatmap
    /// The map's maximum before the division.
    public let peak: Float

    /// The map of each sample from `Graph.scoreGradient`'s activation and gradient, (N, H, W, C) in the plain layout.
    package static func maps(activation: Tensor, gradient: Tensor, classes: [Int], layer: String) -> [ClassActivationMap] {
        let (height, width, channels) = (activation.shape[1], activation.shape[2], activation.shape[3])
        let positions = height * width
        let a = activation.scalars, g = gradient.scalars
        return classes.enumerated().map { sample, classIndex in
            let base = sample * positions * channels
            var weights = [Double](repeating: 0, count: channels)
            for position in 0..<positions {
                for channel in 0..<channels { weights[channel] += Double(g[base + position * channels + channel]) }
            }
            let map = (0..<positions).map { position in
                var sum = 0.0
                for channel in 0..<channels { sum += weights[channel] / Double(positions) * Double(a[base + position * channels + channel]) }
                return max(0, sum)
            }
            let peak = map.max()!
            let values = map.map { peak > 0 ? Float($0 / peak) : 0 }
            return ClassActivationMap(classIndex: classIndex, layer: layer, heatmap: Heatmap(height: height, width: width, values: values),
                                      peak: Float(peak))
        }
    }
}

extension Predictor {
    /// The layer Grad-CAM weights: the model's last output with height and width; nil when there is none, or when
    /// the model does not end in a softmax (Grad-CAM weights by the scores before it).
    public var classActivationLayer: String? {
        guard (inferenceGraph.outputLayer as? SoftmaxOutputLayer)?.endsInSoftmax == true else { return nil }
        return inferenceGraph.lastSpatialNode.map { inferenceGraph.nodes[$0].layer.name }
    }

    /// Grad-CAM maps of `images` (as the model sees them, without test-time augmentation), each for its class in
    /// `classes`. Throws for a model without `classActivationLayer`.
    public func classActivationMaps(_ images: [RGBImage], classes: [Int], batchSize: Int = 32) throws -> [ClassActivationMap] {
        precondition(images.count == classes.count, "one class per image")
        guard let layer = classActivationLayer, let target = inferenceGraph.lastSpatialNode else {
            throw KerasFileError(file: modelPath, "has no layer with a height and width followed by softmax class scores, which Grad-CAM needs")
        }
        let batchSize = affordableBatchSize(batchSize)
        var maps: [ClassActivationMap] = []
        for start in stride(from: 0, to: images.count, by: batchSize) {
            let end = min(start + batchSize, images.count)
            let chosen = Array(classes[start..<end])
            let (activation, gradient) = try inferenceGraph.scoreGradient(inputBatch(images[start..<end]), at: target, classes: chosen,
                                                                          backend: backend)
            maps += ClassActivationMap.maps(activation: activation, gradient: gradient, classes: chosen, layer: layer)
        }
        return maps
    }
}
