import Training
import XCTest

final class ProgressBarTests: XCTestCase {
    func testLinesLookLikeKeras() {
        let bar = ProgressBar(totalSteps: 78, output: .lines)
        XCTAssertEqual(bar.line(step: 78, elapsed: 113, metrics: [("loss", 0.23456), ("accuracy", 0.9)]),
                       "78/78 [==============================] - 113s 1s/step - loss: 0.2346 - accuracy: 0.9000")
        XCTAssertEqual(bar.line(step: 39, elapsed: 2, metrics: [("loss", 1)]),
                       "39/78 [==============>...............] - 2s 51ms/step - loss: 1.0000")
        XCTAssertEqual(bar.line(step: 1, elapsed: 0.5, metrics: []), " 1/78 [>.............................] - 0s 500ms/step")
    }

    /// `lines`: a plain line (no carriage return) at the first step of each tenth of the epoch, the last line with the
    /// epoch's metrics at its end: ten lines for 78 steps, one per step for 4.
    func testLinesModeWritesALineAtEveryTenthOfTheEpoch() {
        let bar = ProgressBar(totalSteps: 78, output: .lines)
        let metrics = [("loss", 0.5)]
        let written = (1...78).compactMap { bar.text(afterStep: $0, elapsed: Double($0), metrics: metrics) }
            + [bar.finished(elapsed: 78, metrics: metrics + [("val_loss", 0.25)])]
        XCTAssertEqual(written.map { $0.prefix(5) }, [" 8/78", "16/78", "24/78", "32/78", "39/78", "47/78", "55/78",
                                                      "63/78", "71/78", "78/78"])
        XCTAssertEqual(written[1], "16/78 [=====>........................] - 16s 1s/step - loss: 0.5000\n")
        XCTAssertEqual(written.last, "78/78 [==============================] - 78s 1s/step - loss: 0.5000 - val_loss: 0.2500\n")
        XCTAssertFalse(written.joined().contains("\r"))

        let short = ProgressBar(totalSteps: 4, output: .lines)
        XCTAssertEqual((1...4).compactMap { short.text(afterStep: $0, elapsed: 1, metrics: [])?.prefix(3) }, ["1/4", "2/4", "3/4"])
    }

    func testBarRedrawsInPlaceAndEpochsWritesOnlyTheEpochsLine() {
        let bar = ProgressBar(totalSteps: 4, output: .bar)
        XCTAssertEqual(bar.text(afterStep: 2, elapsed: 1, metrics: []), "\r2/4 [==============>...............] - 1s 500ms/step")
        XCTAssertEqual(bar.finished(elapsed: 2, metrics: []), "\r4/4 [==============================] - 2s 500ms/step\n")
        let epochs = ProgressBar(totalSteps: 4, output: .epochs)
        XCTAssertEqual((1...4).compactMap { epochs.text(afterStep: $0, elapsed: 1, metrics: []) }, [])
        XCTAssertEqual(epochs.finished(elapsed: 2, metrics: []), "4/4 [==============================] - 2s 500ms/step\n")
    }

    /// `auto` draws the bar only on a real terminal: not when standard output is a file or pipe, and not under an
    /// mpirun whose own output goes to a file (each rank's pseudo-terminal is then a relay to that file).
    func testAutoDrawsTheBarOnlyWhenTheOutputReachesATerminal() {
        XCTAssertEqual(ProgressStyle.auto.resolved(standardOutputIsTerminal: true, launcherOutputIsTerminal: nil), .bar)
        XCTAssertEqual(ProgressStyle.auto.resolved(standardOutputIsTerminal: true, launcherOutputIsTerminal: true), .bar)
        XCTAssertEqual(ProgressStyle.auto.resolved(standardOutputIsTerminal: true, launcherOutputIsTerminal: false), .lines)
        XCTAssertEqual(ProgressStyle.auto.resolved(standardOutputIsTerminal: false, launcherOutputIsTerminal: nil), .lines)
        XCTAssertEqual(ProgressStyle.bar.resolved(standardOutputIsTerminal: false, launcherOutputIsTerminal: false), .bar)
        XCTAssertEqual(ProgressStyle.epochs.resolved(standardOutputIsTerminal: true, launcherOutputIsTerminal: true), .epochs)
        XCTAssertEqual(ProgressStyle.lines.resolved(standardOutputIsTerminal: true, launcherOutputIsTerminal: nil), .lines)
    }

    func testAnUnknownStyleIsRefusedNamingTheKey() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("progress-\(getpid()).json")
        try Data(#"{"data": {"root": "x"}, "callbacks": {"progress": "fancy"}}"#.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        XCTAssertThrowsError(try TrainingConfig.load(from: file)) { error in
            XCTAssertEqual("\(error)", "\(file.path): callbacks.progress: is \"fancy\"; allowed: auto, bar, lines, epochs")
        }
        XCTAssertEqual(try TrainingConfig.load(from: file, overrides: ["callbacks.progress=lines"]).callbacks.progress, .lines)
    }
}
