import Foundation
import Serving
import WebService
import XCTest

/// The page in a real headless Chromium (Tests/Python/bc_serve_browser.py drives it with selenium), against a real
/// server in this process that needs an access token (the browser signs in through the form). Leaves `.build/test-artifacts/bc-serve.png` (a screenshot) and the downloaded CSV.
final class BrowserTests: XCTestCase {
    static let artifacts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/test-artifacts")

    func testSignInUploadThresholdSortingSummaryAndCSVInChromium() async throws {
        for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] where !FileManager.default.isExecutableFile(atPath: tool) {
            return XCTFail("\(tool) is missing: run ./Launch/test.sh (it installs Debian's chromium and chromium-driver)")
        }
        let folder = try temporaryFolder(self)
        var files: [URL] = []
        for sample in try breakHisSamples() {
            let copy = folder.appendingPathComponent(sample.lastPathComponent)
            try FileManager.default.copyItem(at: sample, to: copy)
            files.append(copy)
        }
        let truncated = folder.appendingPathComponent("SOB_B_F-14-9999-400-001.png")
        try Data(try Data(contentsOf: files[0]).prefix(3000)).write(to: truncated)
        let notPNG = folder.appendingPathComponent("notes.png")
        try Data("not an image".utf8).write(to: notPNG)
        files.insert(truncated, at: 3)
        files.append(notPNG)

        let samples = try breakHisSamples()
        let scores = try referenceScores(try samples.map { try Data(contentsOf: $0) }, testTimeAugmentation: .flips, crops: CropGrid(side: 2))
        var expected: [String: Any] = [truncated.lastPathComponent: NSNull(), notPNG.lastPathComponent: NSNull()]
        var spreads: [String: Double] = [:], cropMaps: [String: [Double]] = [:]
        for (sample, score) in zip(samples, scores) {
            expected[sample.lastPathComponent] = score.probabilities[1]
            spreads[sample.lastPathComponent] = score.spread
            cropMaps[sample.lastPathComponent] = score.crops!.map { $0[1] }
        }
        let expectedFile = folder.appendingPathComponent("expected.json")
        try JSONSerialization.data(withJSONObject: [
            "model": try testModelID(), "positive": "malignant", "files": expected, "spreads": spreads,
            "review_spread": ModelInfo.reviewSpread, "crop_maps": cropMaps,
        ]).write(to: expectedFile)

        try FileManager.default.createDirectory(at: Self.artifacts, withIntermediateDirectories: true)
        let token = "browser-test-token-\(UUID().uuidString)"
        let server = try await RunningServer(token: try AccessToken(token, source: "test"), testTimeAugmentation: .flips,
                                             crops: CropGrid(side: 2))
        let output: String
        do {
            output = try await runPythonDetached("bc_serve_browser.py", ["--url", server.base.absoluteString, "--token", token, "--expected",
                                                                          expectedFile.path, "--artifacts", Self.artifacts.path] + files.map(\.path))
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
        XCTAssertTrue(output.contains("browser check passed"), output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: Self.artifacts.appendingPathComponent("bc-serve.png").path))
    }
}
