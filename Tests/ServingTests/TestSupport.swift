import Foundation
import Images
import KerasHDF5
import Layers
import Models
import Tensors
import XCTest
@_exported import TestSupport

/// Deterministic values in [low, high).
struct TestRandom {
    var state: UInt64
    mutating func next(_ low: Float = -1, _ high: Float = 1) -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return low + (high - low) * Float(state >> 40) / Float(1 << 24)
    }
    mutating func tensor(_ shape: [Int], _ low: Float = -1, _ high: Float = 1) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in next(low, high) })
    }
    mutating func image(width: Int, height: Int) -> RGBImage {
        RGBImage(width: width, height: height, pixels: (0..<width * height * 3).map { _ in UInt8(next(0, 256)) })
    }
}

/// Gives every batch norm non-trivial statistics and affine parameters, as a trained model has, so that folding
/// them has something to get wrong.
func randomiseBatchNorms(_ graph: Graph, seed: UInt64) {
    var random = TestRandom(state: seed)
    for layer in graph.layers { 
        guard let norm = layer as? BatchNormalization else { continue }
        for weight in norm.weights {
            let shape = weight.value.shape
            switch weight.name {
            case "gamma": weight.value = random.tensor(shape, 0.5, 1.5)
            case "beta", "moving_mean": weight.value = random.tensor(shape, -0.5, 0.5)
            default: weight.value = random.tensor(shape, 0.5, 2)
            }
        }
    }
}

/// ResNet50 with the report's head at `size`x`size`, batch norms randomised, written as a Keras full-model file.
func writeSmallResNet(to path: String, size: Int = 32, seed: UInt64 = 3) throws -> Graph {
    let graph = try buildModel(.resnet50, inputShape: [size, size, 3], head: HeadOptions(classes: 2), seed: seed)
    randomiseBatchNorms(graph, seed: seed)
    try writeKerasModel(graph, to: path)
    return graph
}

/// Writes an image as a PNG file.
func writePNG(_ image: RGBImage, to url: URL) throws { try PNGCodec.encode(image).write(to: url) }
