import Datasets
import Foundation
import Images
import XCTest

/// The repository's test fixtures, Tests/Fixtures (this target does not depend on TestSupport, which defines it too).
let fixturesFolder = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

/// The eight real BreakHis images: `400X/{benign,malignant}/*.png`, 7 patients.
let breakHisSample = fixturesFolder.appendingPathComponent("breakhis-sample/400X")

extension XCTestCase {
    /// A fresh folder removed after the test.
    func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bc-data-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }
}

/// Writes a real PNG of seeded noise (creating folders as needed).
func writeNoisePNG(_ url: URL, width: Int = 9, height: Int = 7, seed: UInt64) throws {
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    var state = seed
    let pixels = (0..<(width * height * 3)).map { _ -> UInt8 in
        state = StableRandom.mix(state, 0xF00D)
        return UInt8(truncatingIfNeeded: state >> 56)
    }
    try PNGCodec.encode(RGBImage(width: width, height: height, pixels: pixels)).write(to: url)
}

/// Writes a class-folder dataset of noise PNGs: `root/<class>/<name>` for each (class, name).
func writeClassFolders(_ root: URL, _ files: [(folder: String, name: String)]) throws {
    for (number, file) in files.enumerated() {
        try writeNoisePNG(root.appendingPathComponent(file.folder).appendingPathComponent(file.name), seed: UInt64(number))
    }
}

/// Runs `body`, expecting it to throw an error whose description mentions `needle`.
func XCTAssertThrowsMentioning<T>(_ needle: String, _ body: @autoclosure () throws -> T,
                                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try body(), file: file, line: line) { error in
        XCTAssertTrue("\(error)".contains(needle), "error '\(error)' does not mention '\(needle)'", file: file, line: line)
    }
}

/// Augmentation that visibly changes images, driven by each sample's key.
let augmentationOn = Augmentation(rotationRange: 20, zoomRange: [0.9, 1.1], horizontalFlip: true, verticalFlip: true,
                                  brightnessRange: [0.8, 1.2])
