import Images
import XCTest

final class HeatmapTests: XCTestCase {
    func jet(_ value: Float) -> [UInt8] {
        let color = Heatmap.jet(value)
        return [color.red, color.green, color.blue]
    }

    /// matplotlib's jet at its segment ends and in between (matplotlib.cm.jet: 0 -> (0, 0, 0.5), 0.25 -> (0, 0.5, 1), 0.5 ->
    /// (0.484, 1, 0.484), 0.8 -> (1, 0.407, 0), 1 -> (0.5, 0, 0)).
    func testJetMatchesMatplotlib() {
        XCTAssertEqual(jet(0), [0, 0, 128])
        XCTAssertEqual(jet(0.25), [0, 128, 255])
        XCTAssertEqual(jet(0.5), [123, 255, 123])
        XCTAssertEqual(jet(0.8), [255, 104, 0])
        XCTAssertEqual(jet(1), [128, 0, 0])
        XCTAssertEqual(jet(-3), jet(0))
        XCTAssertEqual(jet(.nan), jet(0))
    }

    /// At its own size the map is coloured value by value; stretched, its corners keep their values (edges repeat,
    /// as tf.image.resize) and the middle of a 1x2 map stretched to 1x4 is interpolated a quarter of the way.
    func testColouringAndBilinearStretching() {
        let map = Heatmap(height: 1, width: 2, values: [0, 1])
        XCTAssertEqual(map.colored(width: 2, height: 1).pixels, jet(0) + jet(1))
        let wide = map.colored(width: 4, height: 3)
        XCTAssertEqual(Array(wide.pixels[0..<3]), jet(0))
        XCTAssertEqual(Array(wide.pixels[3..<6]), jet(0.25))
        XCTAssertEqual(Array(wide.pixels[9..<12]), jet(1))
        XCTAssertEqual(Array(wide.pixels[24..<36]), Array(wide.pixels[0..<12]), "every row of a one-row map is the same")
    }

    func testBlendingWeighsImageAndMapByOpacity() {
        let image = RGBImage(width: 2, height: 1, pixels: [10, 20, 30, 200, 100, 0])
        let map = Heatmap(height: 1, width: 2, values: [0, 1])
        XCTAssertEqual(map.blended(over: image, opacity: 0), image)
        XCTAssertEqual(map.blended(over: image, opacity: 1), map.colored(width: 2, height: 1))
        XCTAssertEqual(map.blended(over: image, opacity: 0.25).pixels, [8, 15, 55, 182, 75, 0])
    }
}
