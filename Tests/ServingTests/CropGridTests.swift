import Foundation
import Images
import Serving
import XCTest

final class CropGridTests: XCTestCase {
    /// Crops of 2 / (n + 1) of each side, origins spread evenly from edge to edge, neighbours overlapping by half.
    func testRegionsOfABreakHisImage() {
        XCTAssertNil(CropGrid(side: 1))
        XCTAssertNil(CropGrid(side: 17))
        XCTAssertNil(CropGrid(side: .max))
        let three = CropGrid(side: 3)!.regions(width: 700, height: 460)
        XCTAssertEqual(three.count, 9)
        XCTAssertEqual(Set(three.map { [$0.width, $0.height] }), [[350, 230]])
        XCTAssertEqual(three.prefix(3).map(\.x), [0, 175, 350])
        XCTAssertEqual(stride(from: 0, to: 9, by: 3).map { three[$0].y }, [0, 115, 230])
        let two = CropGrid(side: 2)!.regions(width: 700, height: 460)
        XCTAssertEqual(two.map { [$0.x, $0.y, $0.width, $0.height] }, [[0, 0, 467, 307], [233, 0, 467, 307], [0, 153, 467, 307], [233, 153, 467, 307]])
        XCTAssertEqual(CropGrid(side: 4)!.regions(width: 3, height: 1).prefix(4).map { [$0.x, $0.width] }, [[0, 1], [1, 1], [1, 1], [2, 1]])
    }

    /// The predictor's crops: each crop's probabilities are the plain predictor's on that crop cut here by hand, the
    /// image's their mean, and with test-time augmentation the spread is the largest crop's.
    func testPredictionIsTheMeanOverCropsCutByHand() throws {
        let folder = try temporaryFolder(self)
        let path = folder.appendingPathComponent("model.h5").path
        _ = try writeSmallResNet(to: path)
        var random = TestRandom(state: 8)
        let images = (0..<2).map { _ in random.image(width: 70, height: 46) }
        func handCut(_ image: RGBImage, x: Int, y: Int) -> RGBImage {
            var pixels: [UInt8] = []
            for row in y..<(y + 23) { for column in x..<(x + 35) { pixels += image.pixels[((row * 70 + column) * 3)..<((row * 70 + column) * 3 + 3)] } }
            return RGBImage(width: 35, height: 23, pixels: pixels)
        }
        let origins = [(0, 0), (18, 0), (35, 0), (0, 12), (18, 12), (35, 12), (0, 23), (18, 23), (35, 23)]
        let plain = try Predictor(modelPath: path, testTimeAugmentation: .flips)
        let cropped = try Predictor(modelPath: path, testTimeAugmentation: .flips, crops: CropGrid(side: 3))
        let outcomes = try cropped.predictWithSpread(images, batchSize: 5)
        for (image, outcome) in zip(images, outcomes) {
            let perCrop = try plain.predictWithSpread(origins.map { handCut(image, x: $0.0, y: $0.1) })
            let crops = try XCTUnwrap(outcome.crops)
            XCTAssertEqual(crops.count, 9)
            for (actual, expected) in zip(crops, perCrop) {
                for c in 0..<2 { XCTAssertEqual(actual[c], expected.probabilities[c], accuracy: 1e-6) }
            }
            for c in 0..<2 { XCTAssertEqual(outcome.probabilities[c], perCrop.map { $0.probabilities[c] }.reduce(0, +) / 9, accuracy: 1e-6) }
            XCTAssertEqual(outcome.spread, perCrop.map(\.spread).max()!, accuracy: 1e-6)
            XCTAssertGreaterThan(perCrop.map { $0.probabilities[1] }.max()! - perCrop.map { $0.probabilities[1] }.min()!, 1e-4,
                                 "the crops should differ, or the mean proves little")
        }
        XCTAssertNil(try plain.predictWithSpread(images)[0].crops)
    }

    /// A temperature fitted on whole images does not apply to crops, nor one fitted on crops to whole images or other
    /// crops: one line, naming the file and how to fit it again.
    func testCalibrationFittedWithoutCropsIsRefusedWithCrops() throws {
        let folder = try temporaryFolder(self)
        let path = folder.appendingPathComponent("model.h5").path
        _ = try writeSmallResNet(to: path)
        let id = try Predictor(modelPath: path).modelID
        try ModelCalibration(temperature: 0.5, model: id, testTimeAugmentation: .off, fittedOn: "test",
                             negativeLogLikelihoodBefore: 1, negativeLogLikelihoodAfter: 0.5).write(besideModel: path)
        XCTAssertThrowsError(try Predictor(modelPath: path, crops: CropGrid(side: 2))) { error in
            XCTAssertEqual("\(error)", ModelCalibration.path(besideModel: path) + " was fitted on whole images, not crops 2: predict the "
                           + "way it was fitted, or fit it again with bc-eval --calibrate --crops 2")
        }
        try ModelCalibration(temperature: 0.5, model: id, testTimeAugmentation: .off, crops: CropGrid(side: 3), fittedOn: "test",
                             negativeLogLikelihoodBefore: 1, negativeLogLikelihoodAfter: 0.5).write(besideModel: path)
        XCTAssertEqual(try Predictor(modelPath: path, crops: CropGrid(side: 3)).calibration?.crops, 3)
        XCTAssertThrowsError(try Predictor(modelPath: path)) { error in
            XCTAssertTrue("\(error)".hasSuffix("was fitted on crops 3, not whole images: predict the way it was fitted, or fit it again with bc-eval --calibrate"), "\(error)")
        }
    }

    /// Crops of 2 / (n + 1) of each side need a model trained with zoom down to that fraction; without a training
    /// record nothing is claimed.
    func testCropScaleWarningComparesTheCropsWithTheTrainedZoom() {
        XCTAssertEqual(Predictor.cropScaleWarning(CropGrid(side: 3)!, trainedZoom: [1, 1]),
                       "--crops 3 shows the model each crop 2.00 times larger than the whole image, but it was trained on views at most "
                       + "1.00 times larger (zoom_range down to 1): expect poorer calls; train with zoom_range reaching 0.50 for crops, "
                       + "or predict whole images")
        XCTAssertNotNil(Predictor.cropScaleWarning(CropGrid(side: 4)!, trainedZoom: [0.5, 1]))
        XCTAssertNil(Predictor.cropScaleWarning(CropGrid(side: 3)!, trainedZoom: [0.5, 1]))
        XCTAssertNil(Predictor.cropScaleWarning(CropGrid(side: 2)!, trainedZoom: [1.2, 0.6]))
        XCTAssertNil(Predictor.cropScaleWarning(CropGrid(side: 9)!, trainedZoom: nil))
    }
}
