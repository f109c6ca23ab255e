import Foundation
import Images
import KerasHDF5
import Layers
import OneDNN
import Serving
import Tensors
import XCTest

/// Grad-CAM's arithmetic on tensors small enough to compute by hand.
final class GradCAMTests: XCTestCase {
    /// Two samples, a 1x2 map, two channels: alpha_k is the mean gradient over positions, the map
    /// ReLU(sum_k alpha_k A_k) over its maximum; a sample with nothing positive gets zeros and peak 0.
    func testMapIsTheReLUOfActivationsWeightedByMeanGradientsOverItsMaximum() {
        // (sample, row 0, column, channel)
        let activation = Tensor(shape: [2, 1, 2, 2], scalars: [1, 2, 3, 4, /* sample 1 */ 1, 0, 0, 1])
        let gradient = Tensor(shape: [2, 1, 2, 2], scalars: [0.5, -1, 1.5, 0, /* sample 1 */ -1, 0, -1, -2])
        let maps = ClassActivationMap.maps(activation: activation, gradient: gradient, classes: [1, 0], layer: "block")
        // Sample 0: alpha = (1, -0.5); positions: 1 - 1 = 0 and 3 - 2 = 1.
        XCTAssertEqual(maps[0].heatmap.values, [0, 1])
        XCTAssertEqual(maps[0].peak, 1)
        // Sample 1: alpha = (-1, -1); positions -1 and -1: nothing positive.
        XCTAssertEqual(maps[1].heatmap.values, [0, 0])
        XCTAssertEqual(maps[1].peak, 0)
        XCTAssertEqual(maps.map(\.classIndex), [1, 0])
        XCTAssertEqual(maps[0].layer, "block")
    }

    /// At a batch norm whose ReLU the graph fuses into it, the activation is the batch norm's own and the gradient
    /// the one before the ReLU: the ReLU's gradient where the batch norm is positive, zero elsewhere.
    func testScoreGradientAtAFusedBatchNormIsTakenBeforeItsReLU() throws {
        let graph = try tinyModel()
        randomiseBatchNorms(graph, seed: 4)
        var random = TestRandom(state: 12)
        let input = random.tensor([2, 8, 8, 3])
        let backend = OneDNNBackend(threads: 1)
        let names = graph.nodes.map(\.layer.name)
        let (norm, relu) = (names.firstIndex(of: "bn")!, names.firstIndex(of: "relu")!)
        XCTAssertEqual(graph.lastSpatialNode, relu)
        let before = try graph.scoreGradient(input, at: norm, classes: [1, 3], backend: backend)
        let after = try graph.scoreGradient(input, at: relu, classes: [1, 3], backend: backend)
        XCTAssertEqual(after.activation.scalars, before.activation.scalars.map { max($0, 0) })
        XCTAssertLessThan(before.activation.scalars.min()!, 0)
        XCTAssertEqual(before.gradient.scalars, zip(after.gradient.scalars, before.activation.scalars).map { $1 > 0 ? $0 : 0 })
        XCTAssertGreaterThan(after.gradient.scalars.map(abs).max()!, 0)
    }

    /// Grad-CAM weights by the scores before a softmax: a model without one has no layer for it, and says so.
    func testAModelWithoutSoftmaxScoresHasNoGradCAM() throws {
        let builder = GraphBuilder(seed: 2)
        var x = try builder.input(shape: [8, 8, 3], name: "input_1")
        x = try Conv2D(4, kernelSize: 3, padding: .same, name: "conv")(x)
        x = try GlobalAveragePooling2D(name: "avg_pool")(x)
        x = try Dense(2, name: "scores")(x)
        let path = try temporaryFolder(self).appendingPathComponent("linear.h5").path
        try writeKerasModel(try builder.build(output: x, name: "linear"), to: path)
        let predictor = try Predictor(modelPath: path, preprocessing: Preprocessing.none)
        XCTAssertNil(predictor.classActivationLayer)
        XCTAssertThrowsError(try predictor.classActivationMaps([RGBImage(width: 8, height: 8, pixels: [UInt8](repeating: 9, count: 192))],
                                                               classes: [0])) { error in
            XCTAssertEqual("\(error)", path + ": has no layer with a height and width followed by softmax class scores, which Grad-CAM needs")
        }
    }
}
