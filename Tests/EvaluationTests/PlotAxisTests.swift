import Evaluation
import Foundation
import XCTest

/// Chart axes: 1-2-5 ticks, whole epochs, a logarithmic loss axis, legends outside the plot box, no NaN coordinates.
final class PlotAxisTests: XCTestCase {
    typealias Axis = SVGPlot.Axis

    func testLinearTicksFollowTheOneTwoFiveRule() {
        let loss = Axis.linear(0...43.67)
        XCTAssertEqual(loss.ticks, [0, 10, 20, 30, 40, 50])
        XCTAssertEqual(loss.labels, ["0", "10", "20", "30", "40", "50"])
        XCTAssertEqual(loss.range, 0...50, "the range widens to the outer ticks")

        let unit = Axis.linear(0...1)
        XCTAssertEqual(unit.ticks, [0, 0.2, 0.4, 0.6, 0.8, 1])
        XCTAssertEqual(unit.labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        XCTAssertEqual(unit.range, 0...1)

        XCTAssertEqual(Axis.linear(0.31...0.72).ticks, [0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
        XCTAssertEqual(Axis.linear(0...0.0137).labels, ["0.000", "0.005", "0.010", "0.015"])
        XCTAssertEqual(Axis.linear(-3...7).ticks, [-4, -2, 0, 2, 4, 6, 8])
        XCTAssertEqual(Axis.linear(2...2).ticks, [2, 2.2, 2.4, 2.6, 2.8, 3], "an empty range still gets an axis")
    }

    func testEpochAxisHasOnlyWholeEpochs() {
        let fourteen = Axis.linear(1...14, maxTicks: 8, integers: true)
        XCTAssertEqual(fourteen.ticks, [2, 4, 6, 8, 10, 12, 14])
        XCTAssertEqual(fourteen.labels, ["2", "4", "6", "8", "10", "12", "14"])
        XCTAssertEqual(fourteen.range, 1...14, "no epoch 0 that was never run")
        XCTAssertEqual(Axis.linear(1...5, maxTicks: 8, integers: true).ticks, [1, 2, 3, 4, 5])
        XCTAssertEqual(Axis.linear(1...1, maxTicks: 8, integers: true).ticks, [1, 2], "one epoch")
        for last in 2...300 {
            let axis = Axis.linear(1...Double(last), maxTicks: 8, integers: true)
            XCTAssertTrue(axis.ticks.allSatisfy { $0 == $0.rounded() }, "\(last) epochs: \(axis.ticks)")
            XCTAssertTrue((2...9).contains(axis.ticks.count), "\(last) epochs: \(axis.ticks)")
            XCTAssertFalse(axis.labels.contains { $0.contains(".") }, "\(last) epochs: \(axis.labels)")
        }
    }

    func testLossAxisTurnsLogarithmicBeyondTwoDecades() {
        let log = Axis.fitting([30, 2.5, 0.04, 0.001])
        XCTAssertTrue(log.isLogarithmic)
        XCTAssertEqual(log.ticks, [0.001, 0.01, 0.1, 1, 10, 100])
        XCTAssertEqual(log.labels, ["0.001", "0.01", "0.1", "1", "10", "100"])
        XCTAssertEqual(log.fraction(0.01)!, 0.2, accuracy: 1e-12)
        for unplaceable in [0, -1, Double.nan, .infinity] { XCTAssertNil(log.fraction(unplaceable)) }
        XCTAssertTrue(Axis.fitting([0, .nan, -.infinity, 5, 0.001]).isLogarithmic, "zero and non-finite values are ignored")
        XCTAssertEqual(Axis.logarithmic(1e-9...10).ticks.count, 6, "every second decade of ten")

        let linear = Axis.fitting([0.69, 0.41, 0.3, .nan, .infinity])
        XCTAssertFalse(linear.isLogarithmic)
        XCTAssertEqual(linear.ticks, [0, 0.2, 0.4, 0.6, 0.8])
        XCTAssertEqual(Axis.fitting([]).ticks, [0, 0.2, 0.4, 0.6, 0.8, 1])
        XCTAssertEqual(Axis.fitting([0, 0]).range, 0...1)
    }

    func testTrainingCurvesTickWholeEpochsAndLogLosses() throws {
        // 14 epochs whose loss falls from 43.67 to 0.02: more than two decades.
        let rows = (1...14).map { epoch -> [Double] in
            let e = Double(epoch)
            return [e, 43.67 * pow(0.55, e - 1), 0.5 + 0.03 * e, 40 * pow(0.6, e - 1), 0.5 + 0.02 * e]
        }
        let html = report().html(title: "t", model: "m", history: TrainingHistory(
            columns: ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"], rows: rows))
        for name in ["loss per epoch", "accuracy per epoch"] {
            let svg = try XCTUnwrap(Self.svg(named: name, in: html))
            let xLabels = Self.matches(#"text-anchor="middle" class="tick">([^<]*)<"#, in: svg).map { $0[1] }
            XCTAssertEqual(xLabels, ["2", "4", "6", "8", "10", "12", "14"], name)
        }
        let loss = try XCTUnwrap(Self.svg(named: "loss per epoch", in: html))
        let yLabels = Self.matches(#"text-anchor="end" class="tick">([^<]*)<"#, in: loss).map { $0[1] }
        XCTAssertEqual(yLabels, ["0.01", "0.1", "1", "10", "100"])
        let accuracy = try XCTUnwrap(Self.svg(named: "accuracy per epoch", in: html))
        XCTAssertEqual(Self.matches(#"text-anchor="end" class="tick">([^<]*)<"#, in: accuracy).map { $0[1] },
                       ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
    }

    func testLegendsLieOutsideThePlotBox() throws {
        let history = TrainingHistory(columns: ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"],
                                      rows: [[1, 0.7, 0.5, 0.69, 0.55], [2, 0.5, 0.99, 0.6, 0.98], [3, 0.4, 1, 0.5, 1]])
        let html = report().html(title: "t", model: "m", history: history)
        for name in ["ROC curve", "loss per epoch", "accuracy per epoch"] {
            let svg = try XCTUnwrap(Self.svg(named: name, in: html), name)
            let box = try XCTUnwrap(Self.matches(#"<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)""#, in: svg).first)
                .dropFirst().map { Double($0)! }
            let legend = try XCTUnwrap(Self.matches(#"<g class="legend">(.*?)</g>"#, in: svg).first?[1], name)
            let ys = Self.matches(#"\by[12]?="([-\d.]+)""#, in: legend).map { Double($0[1])! }
            XCTAssertEqual(ys.count, 3 * 2, "\(name): per series, a line (y1, y2) and a label (y)")
            XCTAssertTrue(ys.allSatisfy { $0 > box[1] + box[3] }, "\(name): legend at \(ys), plot box \(box)")
            let viewBox = try XCTUnwrap(Self.matches(#"viewBox="0 0 ([\d.]+) ([\d.]+)""#, in: svg).first).dropFirst().map { Double($0)! }
            XCTAssertTrue(ys.allSatisfy { $0 < viewBox[1] }, "\(name): legend inside the view box \(viewBox)")
        }
    }

    func testNoNaNOrInfinityInTheSVG() throws {
        let history = try TrainingHistory(csv: """
            epoch,loss,accuracy,val_loss,val_accuracy
            1,nan,nan,inf,0
            2,0,0.5,5,-inf
            3,0.01,0.7,0.001,0.6
            4,-1,inf,-0.5,nan
            """, source: "history.csv")
        let html = report().html(title: "t", model: "m", history: history)
        let svgs = Self.matches(#"<svg[\s\S]*?</svg>"#, in: html).map { $0[0] }
        XCTAssertEqual(svgs.count, 5, "ROC, confusion matrix, reliability diagram, loss and accuracy curves")
        for svg in svgs {
            XCTAssertNil(svg.range(of: #"\b(nan|inf|infinity)\b"#, options: [.regularExpression, .caseInsensitive]), svg)
        }
        // The loss spans 0.001...5 (log axis): only the positive, finite points are drawn.
        let loss = try XCTUnwrap(Self.svg(named: "loss per epoch", in: html))
        let polylines = Self.matches(#"points="([^"]*)""#, in: loss).map { $0[1].split(separator: " ").count }
        XCTAssertEqual(polylines, [1, 2], "training: epoch 3; validation: epochs 2 and 3")
    }

    private func report() -> EvaluationReport {
        EvaluationReport(predictions: [
            ImagePrediction(file: "a", actual: 1, probabilities: [0.2, 0.8]),
            ImagePrediction(file: "b", actual: 0, probabilities: [0.6, 0.4]),
            ImagePrediction(file: "c", actual: 1, probabilities: [0.7, 0.3]),
        ], classNames: ["benign", "malignant"], positiveClass: 1)
    }

    static func svg(named label: String, in html: String) -> String? {
        matches(#"<svg[^>]*aria-label="\#(label)"[\s\S]*?</svg>"#, in: html).first?[0]
    }

    /// Each match of `pattern`: the whole match, then its capture groups.
    static func matches(_ pattern: String, in text: String) -> [[String]] {
        let regex = try! NSRegularExpression(pattern: pattern)
        return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { match in
            (0..<match.numberOfRanges).map { String(text[Range(match.range(at: $0), in: text)!]) }
        }
    }
}
