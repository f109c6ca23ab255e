import Images
@testable import Serving
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
}
