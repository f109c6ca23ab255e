import Foundation
import Images
import XCTest

/// Augmentation against Keras' `ImageDataGenerator.apply_transform`, determinism, and the config format.
final class AugmentationTests: XCTestCase {
    struct Case: Decodable {
        let name: String
        let fill_mode: String
        let cval: Double
        let theta, tx, ty, shear, zx, zy: Double?
        let flip_horizontal, flip_vertical: Bool?

        var parameters: AffineParameters {
            AffineParameters(theta: theta ?? 0, tx: tx ?? 0, ty: ty ?? 0, shear: shear ?? 0, zx: zx ?? 1, zy: zy ?? 1,
                             flipHorizontal: flip_horizontal ?? false, flipVertical: flip_vertical ?? false)
        }
    }

    struct Cases: Decodable {
        let warp: [Case]
        let flow: [Case]
    }

    func cases() throws -> Cases {
        try JSONDecoder().decode(Cases.self, from: Data(contentsOf: try ImagesReferee.url("augment.json")))
    }

    /// Tolerance on 0...255 values: scipy and we run the same Double arithmetic; numpy's dot/sin/cos may
    /// differ from ours in the last bit of the matrix, which moves a sample by far less than this.
    let warpTolerance: Float = 1e-3

    func testWarpMatchesKerasApplyTransformForEveryFillMode() throws {
        let input = try NumpyArray(contentsOf: try ImagesReferee.url("augment/input.npy"))
        let image = RGBImage(width: input.shape[1], height: input.shape[0], pixels: input.bytes)
        let all = try cases().warp
        XCTAssertEqual(all.count, 28)
        var worst: Float = 0
        for testCase in all {
            let fillMode = try XCTUnwrap(FillMode(rawValue: testCase.fill_mode))
            for resize in [ResizeMethod.nearest, .bilinear] {
                let pipeline = ImagePipeline(height: image.height, width: image.width, resize: resize,
                                             augmentation: Augmentation(fillMode: fillMode, cval: testCase.cval),
                                             preprocessing: .none)
                let ours = pipeline.process(image, geometry: testCase.parameters)
                let keras = try NumpyArray(contentsOf: try ImagesReferee.url("augment/\(testCase.name).npy"))
                XCTAssertEqual(keras.shape, [image.height, image.width, 3])
                let difference = maxAbsoluteDifference(ours, keras.values)
                worst = max(worst, difference)
                XCTAssertLessThanOrEqual(difference, warpTolerance, "\(testCase.name) (\(resize) resize)")
            }
        }
        print("warp vs Keras apply_transform: max |difference| over \(all.count) cases = \(worst)")
    }

    /// flow_from_directory's whole path: PIL nearest resize, the warp, the flips, ResNet preprocessing.
    func testNearestPipelineMatchesKerasFlowFromDirectory() throws {
        let sample = try PNGCodec.decode(contentsOf: try breakHisSamplePaths()[0])
        for testCase in try cases().flow where testCase.name.hasPrefix("flow_") {
            let pipeline = ImagePipeline(height: 224, width: 224, resize: .nearest,
                                         augmentation: Augmentation(fillMode: .reflect), preprocessing: .caffe)
            let keras = try NumpyArray(contentsOf: try ImagesReferee.url("augment/\(testCase.name).npy"))
            let difference = maxAbsoluteDifference(pipeline.process(sample, geometry: testCase.parameters), keras.values)
            print("\(testCase.name) vs Keras: max |difference| = \(difference)")
            XCTAssertLessThanOrEqual(difference, warpTolerance, testCase.name)
        }
    }

    /// With bilinear resizing, resize and warp are one bilinear sample of the source, where TensorFlow-then-Keras
    /// interpolates twice (the second time between already interpolated pixels). Measured on a BreakHis sample
    /// (700x460 -> 224x224, three warps): mean |difference| 1.26-1.34 levels of 255, maximum 19-25 at sharp edges.
    func testComposedBilinearResizeAndWarpIsCloseToTheTwoPassPipeline() throws {
        let sample = try PNGCodec.decode(contentsOf: try breakHisSamplePaths()[0])
        for testCase in try cases().flow where testCase.name.hasPrefix("two_pass_") {
            let pipeline = ImagePipeline(height: 224, width: 224, resize: .bilinear,
                                         augmentation: Augmentation(fillMode: .reflect), preprocessing: .none)
            let ours = pipeline.process(sample, geometry: testCase.parameters)
            let twoPass = try NumpyArray(contentsOf: try ImagesReferee.url("augment/\(testCase.name).npy")).values
            let meanDifference = zip(ours, twoPass).reduce(0) { $0 + abs($1.0 - $1.1) } / Float(ours.count)
            print("\(testCase.name): one pass vs TensorFlow resize + Keras warp: mean |difference| = \(meanDifference),"
                  + " max = \(maxAbsoluteDifference(ours, twoPass))")
            XCTAssertLessThanOrEqual(meanDifference, 2, testCase.name)
        }
    }

    let everything = Augmentation(rotationRange: 30, widthShiftRange: 0.1, heightShiftRange: 0.1, shearRange: 10,
                                  zoomRange: [0.8, 1.2], horizontalFlip: true, verticalFlip: true, fillMode: .reflect,
                                  randomRotation90: true, brightnessRange: [0.8, 1.2], contrastRange: [0.8, 1.2],
                                  saturationRange: [0.8, 1.2], hueShiftRange: 10)

    func testSameKeySameOutputRegardlessOfOrderOrThreads() throws {
        let sample = try PNGCodec.decode(contentsOf: try breakHisSamplePaths()[5])
        let pipeline = ImagePipeline(height: 64, width: 64, augmentation: everything, preprocessing: .caffe)
        let keys: [UInt64] = [1, 2, 3, 0xDEAD_BEEF, .max]
        let forward = keys.map { pipeline.process(sample, augmentationKey: $0) }
        let backward = Array(keys.reversed().map { pipeline.process(sample, augmentationKey: $0) }.reversed())
        XCTAssertEqual(forward, backward)
        for i in keys.indices {
            for j in keys.indices where j > i { XCTAssertNotEqual(forward[i], forward[j], "keys \(keys[i]) and \(keys[j])") }
        }
        let concurrent = UnsafeMutableBufferPointer<[Float]>.allocate(capacity: keys.count)
        defer { concurrent.deallocate() }
        DispatchQueue.concurrentPerform(iterations: keys.count) { index in
            (concurrent.baseAddress! + index).initialize(to: pipeline.process(sample, augmentationKey: keys[index]))
        }
        XCTAssertEqual(Array(concurrent), forward)
    }

    func testRandomParametersStayInTheirRanges() {
        var flips = 0, turns = Set<Int>()
        var previousZoom: (Double, Double)?
        var zoomsDiffer = false
        for key in UInt64(0)..<2000 {
            let (geometry, color) = everything.parameters(key: key, height: 200, width: 100)
            XCTAssertLessThanOrEqual(abs(geometry.theta), 30)
            XCTAssertLessThanOrEqual(abs(geometry.tx), 0.1 * 200)
            XCTAssertLessThanOrEqual(abs(geometry.ty), 0.1 * 100)
            XCTAssertLessThanOrEqual(abs(geometry.shear), 10)
            XCTAssertTrue((0.8...1.2).contains(geometry.zx) && (0.8...1.2).contains(geometry.zy))
            zoomsDiffer = zoomsDiffer || geometry.zx != geometry.zy
            if let previousZoom { XCTAssertFalse(previousZoom == (geometry.zx, geometry.zy)) }
            previousZoom = (geometry.zx, geometry.zy)
            flips += geometry.flipHorizontal ? 1 : 0
            turns.insert(geometry.quarterTurns)
            XCTAssertTrue((0.8...1.2).contains(color.brightness) && (0.8...1.2).contains(color.contrast))
            XCTAssertLessThanOrEqual(abs(color.hueDegrees), 10)
        }
        XCTAssertTrue(zoomsDiffer, "zx and zy are drawn separately")
        XCTAssertTrue((900...1100).contains(flips), "horizontal flips: \(flips) of 2000")
        XCTAssertEqual(turns, [0, 1, 2, 3])
        XCTAssertEqual(Augmentation.none.parameters(key: 42, height: 10, width: 10).geometry, AffineParameters())
        XCTAssertEqual(Augmentation.none.parameters(key: 42, height: 10, width: 10).color, ColorJitter())
    }

    func testQuarterTurnIsNumpyRot90OfTheUnturnedImage() throws {
        let sample = try PNGCodec.decode(contentsOf: try breakHisSamplePaths()[2])
        let pipeline = ImagePipeline(height: 40, width: 40, preprocessing: .none)
        let base = pipeline.process(sample, geometry: AffineParameters())
        for turns in 1...3 {
            let turned = pipeline.process(sample, geometry: AffineParameters(quarterTurns: turns))
            var expected = base
            for _ in 0..<turns {   // np.rot90(m)[r][c] = m[c][n - 1 - r]
                let previous = expected
                for r in 0..<40 { for c in 0..<40 { for k in 0..<3 {
                    expected[(r * 40 + c) * 3 + k] = previous[(c * 40 + 39 - r) * 3 + k]
                } } }
            }
            XCTAssertEqual(turned, expected, "\(turns) quarter turns")
        }
    }

    func testColorJitter() throws {
        let sample = try PNGCodec.decode(contentsOf: try breakHisSamplePaths()[1])
        let pipeline = ImagePipeline(height: 30, width: 30, preprocessing: .none)
        let base = pipeline.process(sample, geometry: AffineParameters())
        let darker = pipeline.process(sample, geometry: AffineParameters(), color: ColorJitter(brightness: 0.5))
        XCTAssertLessThanOrEqual(maxAbsoluteDifference(darker, base.map { $0 * 0.5 }), 1e-3)
        let gray = pipeline.process(sample, geometry: AffineParameters(), color: ColorJitter(saturation: 0))
        for pixel in stride(from: 0, to: gray.count, by: 3) {
            XCTAssertEqual(gray[pixel], gray[pixel + 1], accuracy: 1e-3)
            XCTAssertEqual(gray[pixel], gray[pixel + 2], accuracy: 1e-3)
            let luma: Float = 0.299 * base[pixel] + 0.587 * base[pixel + 1] + 0.114 * base[pixel + 2]
            XCTAssertEqual(gray[pixel], luma, accuracy: 1e-3)
        }
        let flat = pipeline.process(sample, geometry: AffineParameters(), color: ColorJitter(contrast: 0))
        var meanLuma = 0.0
        for pixel in stride(from: 0, to: base.count, by: 3) {
            let luma: Double = 0.299 * Double(base[pixel]) + 0.587 * Double(base[pixel + 1]) + 0.114 * Double(base[pixel + 2])
            meanLuma += luma / 900
        }
        XCTAssertLessThanOrEqual(maxAbsoluteDifference(flat, [Float](repeating: Float(meanLuma), count: flat.count)), 1e-3)
        // 120 degrees about the grey axis permutes the channels cyclically: red -> green -> blue.
        let red = RGBImage(width: 1, height: 1, pixels: [200, 10, 0])
        let single = ImagePipeline(height: 1, width: 1, preprocessing: .none)
        let turned = single.process(red, geometry: AffineParameters(), color: ColorJitter(hueDegrees: 120))
        XCTAssertLessThanOrEqual(maxAbsoluteDifference(turned, [0, 200, 10]), 1e-3)
    }

    func testConfigUsesKerasKeysAndRejectsBadValuesByName() throws {
        let json = """
            {"rotation_range": 20, "width_shift_range": 0.1, "height_shift_range": 0.2, "shear_range": 5,
             "zoom_range": 0.25, "horizontal_flip": true, "vertical_flip": true, "fill_mode": "constant", "cval": 12,
             "random_rotation_90": true, "brightness_range": [0.9, 1.1], "hue_shift_range": 8}
            """
        let decoded = try JSONDecoder().decode(Augmentation.self, from: Data(json.utf8))
        XCTAssertEqual(decoded, Augmentation(rotationRange: 20, widthShiftRange: 0.1, heightShiftRange: 0.2, shearRange: 5,
                                             zoomRange: [0.75, 1.25], horizontalFlip: true, verticalFlip: true,
                                             fillMode: .constant, cval: 12, randomRotation90: true,
                                             brightnessRange: [0.9, 1.1], hueShiftRange: 8))
        XCTAssertEqual(try JSONDecoder().decode(Augmentation.self, from: try JSONEncoder().encode(decoded)), decoded)
        XCTAssertEqual(try JSONDecoder().decode(Augmentation.self, from: Data("{}".utf8)), .none)
        let encoded = String(decoding: try JSONEncoder().encode(decoded), as: UTF8.self)
        XCTAssertTrue(encoded.contains("\"width_shift_range\"") && encoded.contains("\"fill_mode\":\"constant\""), encoded)

        let bad: [(String, String)] = [
            (#"{"rotation_range": -5}"#, "rotation_range"),
            (#"{"zoom_range": [0, 1.2]}"#, "zoom_range"),
            (#"{"zoom_range": [1.2, 0.8]}"#, "zoom_range"),
            (#"{"fill_mode": "mirror"}"#, "fill_mode"),
            (#"{"brightness_range": [0.5]}"#, "brightness_range"),
            (#"{"horizontal_flip": "yes"}"#, "horizontal_flip"),
            (#"{"rotaton_range": 10}"#, "rotaton_range"),
            (#"{"hue_shift_range": 400}"#, "hue_shift_range"),
            (#"{"width_shift_range": 1e300}"#, "width_shift_range"),
            (#"{"cval": "white"}"#, "cval"),
        ]
        for (text, key) in bad {
            XCTAssertThrowsError(try JSONDecoder().decode(Augmentation.self, from: Data(text.utf8)), text) { error in
                XCTAssertTrue("\(error)".hasPrefix("augmentation option \(key): "), "\(text): \(error)")
            }
        }
    }
}
