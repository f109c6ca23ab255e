import Images
import KerasHDF5
import Models
import Serving
import Tensors
import XCTest

final class TestTimeAugmentationTests: XCTestCase {
    /// One 3x3 single-channel image, 1...9 row by row, under the transforms written out by hand.
    func testTransformsMoveEveryPixelWhereExpected() {
        let image = Tensor(shape: [1, 3, 3, 1], scalars: (1...9).map(Float.init))
        func transformed(_ transpose: Bool, _ rows: Bool, _ columns: Bool) -> [Float] {
            DihedralTransform(transpose: transpose, flipRows: rows, flipColumns: columns).apply(image).scalars
        }
        XCTAssertEqual(transformed(false, false, false), [1, 2, 3, 4, 5, 6, 7, 8, 9])
        XCTAssertEqual(transformed(false, false, true), [3, 2, 1, 6, 5, 4, 9, 8, 7])  // mirrored left-right
        XCTAssertEqual(transformed(false, true, false), [7, 8, 9, 4, 5, 6, 1, 2, 3])  // mirrored top-bottom
        XCTAssertEqual(transformed(false, true, true), [9, 8, 7, 6, 5, 4, 3, 2, 1])   // rotated 180 degrees
        XCTAssertEqual(transformed(true, false, false), [1, 4, 7, 2, 5, 8, 3, 6, 9])  // transposed
        XCTAssertEqual(transformed(true, true, false), [7, 4, 1, 8, 5, 2, 9, 6, 3])   // rotated 90 degrees clockwise
        XCTAssertEqual(transformed(true, false, true), [3, 6, 9, 2, 5, 8, 1, 4, 7])   // rotated 90 degrees anticlockwise
    }

    func testAugmentationSetsAreTheFlipsAndTheWholeDihedralGroup() {
        var random = TestRandom(state: 2)
        let batch = random.tensor([2, 4, 4, 3])
        XCTAssertEqual(TestTimeAugmentation.off.transforms.map(\.isIdentity), [true])
        XCTAssertEqual(Set(TestTimeAugmentation.flips.transforms.map { $0.apply(batch).scalars }).count, 4)
        XCTAssertEqual(Set(TestTimeAugmentation.dihedral.transforms.map { $0.apply(batch).scalars }).count, 8)
        XCTAssertTrue(TestTimeAugmentation.flips.transforms.allSatisfy { !$0.transpose })
    }

    /// The predictor's augmented probabilities are the mean of its plain predictions of the rotated and mirrored
    /// images (made here on the pixels, independently of the tensor transform); non-square models refuse rotations.
    func testPredictorAveragesOverRotatedAndMirroredImages() throws {
        let folder = try temporaryFolder(self)
        let path = folder.appendingPathComponent("model.h5").path
        _ = try writeSmallResNet(to: path)
        var random = TestRandom(state: 5)
        let images = (0..<3).map { _ in random.image(width: 32, height: 32) }
        let plain = try Predictor(modelPath: path)
        let augmented = try Predictor(modelPath: path, testTimeAugmentation: .dihedral)
        let views: [(RGBImage) -> RGBImage] = [
            { $0 }, { mirrored($0) }, { rotated($0) }, { mirrored(rotated($0)) }, { rotated(rotated($0)) },
            { mirrored(rotated(rotated($0))) }, { rotated(rotated(rotated($0))) }, { mirrored(rotated(rotated(rotated($0)))) },
        ]
        let perView = try views.map { view in try plain.predict(images.map(view)) }
        let expected = images.indices.map { image in (0..<2).map { c in perView.map { $0[image][c] }.reduce(0, +) / 8 } }
        let actual = try augmented.predictWithSpread(images, batchSize: 2)
        for (a, e) in zip(actual.map(\.probabilities).joined(), expected.joined()) { XCTAssertEqual(a, e, accuracy: 1e-6) }
        // The spread: the larger standard deviation over the 8 views of the two class probabilities (equal for two
        // classes); none without views.
        for (image, outcome) in actual.enumerated() {
            let deviations = (0..<2).map { c -> Double in
                let values = perView.map { $0[image][c] }, mean = values.reduce(0, +) / 8
                return (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 8).squareRoot()
            }
            XCTAssertEqual(outcome.spread, deviations.max()!, accuracy: 1e-6)
            XCTAssertGreaterThan(outcome.spread, 1e-5)
        }
        XCTAssertEqual(try plain.predictWithSpread(images).map(\.spread), [0, 0, 0])
        XCTAssertGreaterThan(zip(perView[0].joined(), perView[2].joined()).map { abs($0 - $1) }.max()!, 1e-4,
                             "rotating must change this model's output, or the test proves nothing")

        let wide = folder.appendingPathComponent("wide.h5").path
        try writeKerasModel(try buildModel(.resnet50, inputShape: [32, 48, 3], head: HeadOptions(classes: 2), seed: 1), to: wide)
        XCTAssertThrowsError(try Predictor(modelPath: wide, testTimeAugmentation: .dihedral)) { error in
            XCTAssertTrue("\(error)".contains("square"), "\(error)")
        }
        XCTAssertNoThrow(try Predictor(modelPath: wide, testTimeAugmentation: .flips))
    }
}

/// Left-right mirror image.
private func mirrored(_ image: RGBImage) -> RGBImage {
    var pixels = image.pixels
    for y in 0..<image.height {
        for x in 0..<image.width {
            for c in 0..<3 { pixels[(y * image.width + x) * 3 + c] = image.pixels[(y * image.width + image.width - 1 - x) * 3 + c] }
        }
    }
    return RGBImage(width: image.width, height: image.height, pixels: pixels)
}

/// Rotated 90 degrees clockwise: the new row y is the old column y, read bottom to top.
private func rotated(_ image: RGBImage) -> RGBImage {
    let (width, height) = (image.height, image.width)
    var pixels = [UInt8](repeating: 0, count: image.pixels.count)
    for y in 0..<height {
        for x in 0..<width {
            for c in 0..<3 { pixels[(y * width + x) * 3 + c] = image.pixels[((image.height - 1 - x) * image.width + y) * 3 + c] }
        }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
}
