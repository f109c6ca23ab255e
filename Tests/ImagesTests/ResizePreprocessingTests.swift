import Foundation
import Images
import XCTest

/// Resizing against `tf.image.resize` (bilinear) and PIL via `keras.utils.load_img` (nearest), and
/// preprocessing against `keras.applications`' `preprocess_input`.
final class ResizePreprocessingTests: XCTestCase {
    func firstSample() throws -> RGBImage { try PNGCodec.decode(contentsOf: try breakHisSamplePaths()[0]) }

    func crop(_ image: RGBImage, rows: Int, columns: Int) -> RGBImage {
        var pixels: [UInt8] = []
        for row in 0..<rows { pixels += image.pixels[(row * image.width * 3)..<((row * image.width + columns) * 3)] }
        return RGBImage(width: columns, height: rows, pixels: pixels)
    }

    func assertMatches(_ actual: [Float], _ referenceName: String, shape: [Int], tolerance: Float,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try NumpyArray(contentsOf: try ImagesReferee.url(referenceName))
        XCTAssertEqual(expected.shape, shape, referenceName, file: file, line: line)
        XCTAssertEqual(actual.count, expected.values.count, referenceName, file: file, line: line)
        let difference = maxAbsoluteDifference(actual, expected.values)
        print("\(referenceName): max |difference| = \(difference)")
        XCTAssertLessThanOrEqual(difference, tolerance, referenceName, file: file, line: line)
    }

    func testBilinearMatchesTensorFlowResize() throws {
        let sample = try firstSample()
        let down = ImagePipeline(height: 224, width: 224, resize: .bilinear, preprocessing: .none)
        try assertMatches(down.process(sample, augmentationKey: 0), "resize_bilinear_224.npy", shape: [224, 224, 3],
                          tolerance: 1e-4)
        let up = ImagePipeline(height: 500, width: 900, resize: .bilinear, preprocessing: .none)
        try assertMatches(up.process(crop(sample, rows: 230, columns: 350), augmentationKey: 0),
                          "resize_bilinear_up_500x900.npy", shape: [500, 900, 3], tolerance: 1e-4)
    }

    func testNearestMatchesPILAsKerasLoadImgUsesIt() throws {
        let sample = try firstSample()
        let down = ImagePipeline(height: 224, width: 224, resize: .nearest, preprocessing: .none)
        try assertMatches(down.process(sample, augmentationKey: 0), "resize_nearest_224.npy", shape: [224, 224, 3], tolerance: 0)
        let up = ImagePipeline(height: 500, width: 900, resize: .nearest, preprocessing: .none)
        try assertMatches(up.process(crop(sample, rows: 230, columns: 350), augmentationKey: 0),
                          "resize_nearest_up_500x900.npy", shape: [500, 900, 3], tolerance: 0)
    }

    func testPreprocessingMatchesKerasApplications() throws {
        let sample = try firstSample()
        for (mode, reference) in [(Preprocessing.caffe, "preprocess_caffe.npy"), (.torch, "preprocess_torch.npy")] {
            let pipeline = ImagePipeline(height: 224, width: 224, resize: .nearest, preprocessing: mode)
            try assertMatches(pipeline.process(sample, augmentationKey: 0), reference, shape: [224, 224, 3], tolerance: 0)
        }
    }

    func testProcessWritesIntoTheCallersBuffer() throws {
        let sample = try firstSample()
        let pipeline = ImagePipeline(height: 32, width: 48, preprocessing: .torch)
        var buffer = [Float](repeating: .nan, count: 32 * 48 * 3)
        buffer.withUnsafeMutableBufferPointer { pipeline.process(sample, augmentationKey: 9, into: $0) }
        XCTAssertEqual(buffer, pipeline.process(sample, augmentationKey: 9))
    }
}
