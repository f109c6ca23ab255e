import Foundation
import Images
import XCTest

/// The decoder against TensorFlow's `tf.io.decode_png(channels=3)`, the real samples, bad files, and the writer.
final class PNGCodecTests: XCTestCase {
    func testEveryKindOfPNGDecodesExactlyAsTensorFlow() throws {
        let folder = try ImagesReferee.url("png")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasSuffix(".png") }.sorted()
        XCTAssertGreaterThanOrEqual(names.count, 32, "the referee writes every color type, depth and interlace")
        for name in names {
            let image = try PNGCodec.decode(contentsOf: folder.appendingPathComponent(name))
            let expected = try NumpyArray(contentsOf: folder.appendingPathComponent(name.replacingOccurrences(of: ".png", with: ".npy")))
            XCTAssertEqual([image.height, image.width, 3], expected.shape, name)
            XCTAssertEqual(image.pixels, expected.bytes, "\(name) differs from TensorFlow's decode")
        }
    }

    func testRealBreakHisSamplesDecodeAs700x460LikeTensorFlow() throws {
        let paths = try breakHisSamplePaths()
        XCTAssertEqual(paths.count, 8)
        for path in paths {
            let image = try PNGCodec.decode(contentsOf: path)
            XCTAssertEqual(image.width, 700, path.lastPathComponent)
            XCTAssertEqual(image.height, 460, path.lastPathComponent)
            let name = "sample_" + path.deletingPathExtension().lastPathComponent + ".npy"
            let expected = try NumpyArray(contentsOf: try ImagesReferee.url(name))
            XCTAssertEqual(expected.shape, [460, 700, 3])
            XCTAssertEqual(image.pixels, expected.bytes, "\(path.lastPathComponent) differs from TensorFlow's decode")
        }
    }

    /// Decoding `data` must fail with one error that names `path` and says `reason`.
    func assertDecodeFails(_ data: Data, path: String, maxPixels: Int = 50_000_000, reason: String,
                           file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try PNGCodec.decode(data, source: path, maxPixels: maxPixels), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix(path + ": "), "error does not start with the file: \(text)", file: file, line: line)
            XCTAssertTrue(text.contains(reason), "expected '\(reason)' in: \(text)", file: file, line: line)
        }
    }

    func testBadFilesGiveOneClearErrorNamingTheFile() throws {
        let path = try breakHisSamplePaths()[0]
        let good = try Data(contentsOf: path)
        assertDecodeFails(good.prefix(good.count / 2), path: "/data/truncated.png", reason: "unexpected end of PNG data")
        assertDecodeFails(good.prefix(40), path: "/data/header-only.png", reason: "unexpected end of PNG data")

        // A flipped bit in the stored checksum of the first IDAT chunk: the data inflates, the CRC does not match.
        let idat = try XCTUnwrap(good.range(of: Data("IDAT".utf8)))
        let length = good[(idat.lowerBound - 4)..<idat.lowerBound].reduce(0) { $0 << 8 | Int($1) }
        var badChecksum = good
        badChecksum[idat.upperBound + length] ^= 0x01
        assertDecodeFails(badChecksum, path: "/data/crc.png", reason: "IDAT: CRC error")
        // A flipped byte inside the compressed data: zlib notices before the chunk's CRC is checked.
        var badData = good
        badData[idat.upperBound + 100] ^= 0x5A
        assertDecodeFails(badData, path: "/data/corrupt.png", reason: "IDAT: ")

        assertDecodeFails(Data("<html>not an image</html>".utf8), path: "/data/page.png", reason: "not a PNG file")
        assertDecodeFails(Data(), path: "/data/empty.png", reason: "empty file")

        let huge = try Data(contentsOf: try ImagesReferee.url("huge.png"))
        assertDecodeFails(huge, path: "/data/huge.png", reason: "image of 100000x100000 pixels exceeds the limit of 50000000 pixels")
        assertDecodeFails(good, path: path.path, maxPixels: 700 * 460 - 1, reason: "exceeds the limit of 321999 pixels")
        XCTAssertNoThrow(try PNGCodec.decode(good, source: path.path, maxPixels: 700 * 460))

        XCTAssertThrowsError(try PNGCodec.decode(contentsOf: URL(fileURLWithPath: "/nonexistent/x.png"))) {
            XCTAssertTrue("\($0)".hasPrefix("/nonexistent/x.png: cannot read file"), "\($0)")
        }
    }

    /// A file whose image data is complete but whose IEND chunk is missing (cut short at the end) is damaged:
    /// TensorFlow refuses it (the referee asks it), and so do we, naming the file.
    func testAFileWithoutIENDIsRefusedAsTensorFlowRefusesIt() throws {
        struct Verdict: Decodable { let tensorflow_rejects: Bool; let message: String }
        let verdict = try JSONDecoder().decode(Verdict.self, from: Data(contentsOf: try ImagesReferee.url("no_iend.json")))
        XCTAssertTrue(verdict.tensorflow_rejects, "TensorFlow decoded a PNG without IEND")
        let cut = try Data(contentsOf: try ImagesReferee.url("no_iend.png"))
        let whole = try Data(contentsOf: try breakHisSamplePaths()[0])
        XCTAssertEqual(cut + [0, 0, 0, 0] + Data("IEND".utf8) + [0xAE, 0x42, 0x60, 0x82], whole, "only IEND is missing")
        XCTAssertNoThrow(try PNGCodec.decode(whole, source: "whole.png"))
        assertDecodeFails(cut, path: "/data/no-iend.png", reason: "unexpected end of PNG data")
    }

    func testEncodeDecodeRoundTrip() throws {
        let sample = try PNGCodec.decode(contentsOf: try breakHisSamplePaths()[3])
        XCTAssertEqual(try PNGCodec.decode(try PNGCodec.encode(sample), source: "round trip"), sample)
        let odd = RGBImage(width: 3, height: 5, pixels: (0..<45).map { UInt8($0 * 5) })
        XCTAssertEqual(try PNGCodec.decode(try PNGCodec.encode(odd), source: "odd"), odd)
        XCTAssertThrowsError(try PNGCodec.encode(RGBImage(width: 0, height: 0, pixels: [])))
    }
}
