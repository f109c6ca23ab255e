import Evaluation
import Foundation
import TestSupport
import XCTest

/// Brier score, reliability bins and ECE equal scikit-learn's (`brier_score_loss`, `calibration_curve`, numpy for
/// the ECE); the fitted temperature equals scipy's bounded minimiser's; scaling keeps the ranking and lowers the NLL.
final class CalibrationTests: XCTestCase {
    struct Case: Decodable {
        let labels: [Int]
        let probabilities: [[Double]]
        let brier, ece, nll, temperature: Double
        let probTrue, probPred: [Double]
        let counts: [Int]
        let nllAtTemperature: Double
    }

    func referenceCases() throws -> [String: Case] {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode([String: Case].self, from: Data(try runPython("calibration_referee.py", []).utf8))
    }

    func testAgreesWithScikitLearnAndScipy() throws {
        let cases = try referenceCases()
        XCTAssertEqual(cases.count, 3)
        for (name, expected) in cases.sorted(by: { $0.key < $1.key }) {
            let calibration = Calibration(probabilities: expected.probabilities, actual: expected.labels, positiveClass: 1)
            XCTAssertEqual(calibration.brierScore, expected.brier, accuracy: 1e-12, name)
            XCTAssertEqual(calibration.bins.map(\.images), expected.counts, name)
            XCTAssertEqual(calibration.bins.count, expected.probTrue.count, name)
            for (bin, (fraction, mean)) in zip(calibration.bins, zip(expected.probTrue, expected.probPred)) {
                XCTAssertEqual(bin.fractionPositive, fraction, accuracy: 1e-12, name)
                XCTAssertEqual(bin.meanPredicted, mean, accuracy: 1e-12, name)
            }
            XCTAssertEqual(calibration.expectedCalibrationError, expected.ece, accuracy: 1e-12, name)
            XCTAssertEqual(calibration.negativeLogLikelihood, expected.nll, accuracy: 1e-12, name)

            let temperature = TemperatureScaling.fit(probabilities: expected.probabilities, actual: expected.labels)
            XCTAssertEqual(temperature, expected.temperature, accuracy: 1e-5 * expected.temperature, name)
            let fitted = TemperatureScaling.negativeLogLikelihood(temperature, probabilities: expected.probabilities, actual: expected.labels)
            XCTAssertEqual(fitted, expected.nllAtTemperature, accuracy: 1e-9, name)
            XCTAssertLessThan(fitted, expected.nll, "\(name): temperature scaling must lower the NLL it is fitted on")
        }
        // The network that is too sure of itself is softened (T > 1), the timid one sharpened (T < 1).
        XCTAssertGreaterThan(cases["overconfident"]!.temperature, 1)
        XCTAssertLessThan(cases["underconfident"]!.temperature, 1)
    }

    func testScalingKeepsTheRankingAndTheMostProbableClass() throws {
        let rows: [[Double]] = [[0.2, 0.8], [0.9, 0.1], [0.5, 0.5], [0.35, 0.65], [1, 0], [0.1, 0.3, 0.6]]
        for row in rows {
            XCTAssertEqual(TemperatureScaling.apply(1, to: row), row.map { $0 / row.reduce(0, +) }, accuracy: 1e-12)
            for temperature in [0.3, 2.5] {
                let scaled = TemperatureScaling.apply(temperature, to: row)
                XCTAssertEqual(scaled.reduce(0, +), 1, accuracy: 1e-12)
                XCTAssertEqual(scaled.indices.max { scaled[$0] < scaled[$1] }, row.indices.max { row[$0] < row[$1] })
            }
        }
        // Two classes: P' = sigmoid(logit(P) / T), so the order of P(positive), and with it ROC AUC, stays.
        let p = [0.05, 0.2, 0.4, 0.6, 0.93]
        let scaled = p.map { TemperatureScaling.apply(2, to: [1 - $0, $0])[1] }
        XCTAssertEqual(scaled, scaled.sorted())
        for (before, after) in zip(p, scaled) {
            XCTAssertEqual(after, 1 / (1 + exp(-log(before / (1 - before)) / 2)), accuracy: 1e-12)
        }
    }

    func testReportAppliesTheTemperatureAndShowsCalibrationBeforeAndAfter() throws {
        let expected = try referenceCases()["overconfident"]!
        let predictions = zip(expected.labels, expected.probabilities).enumerated().map { index, pair in
            ImagePrediction(file: "\(index).png", actual: pair.0, probabilities: pair.1)
        }
        let plain = EvaluationReport(predictions: predictions, classNames: ["benign", "malignant"], positiveClass: 1)
        let scaled = EvaluationReport(predictions: predictions, classNames: ["benign", "malignant"], positiveClass: 1,
                                      temperature: expected.temperature)
        XCTAssertNil(plain.temperature)
        XCTAssertNil(plain.calibrationAfterScaling)
        XCTAssertEqual(plain.calibration?.brierScore ?? .nan, expected.brier, accuracy: 1e-12)
        XCTAssertEqual(scaled.calibration, plain.calibration)
        XCTAssertEqual(scaled.calibrationAfterScaling?.negativeLogLikelihood ?? .nan, expected.nllAtTemperature, accuracy: 1e-9)
        XCTAssertLessThan(scaled.calibrationAfterScaling!.expectedCalibrationError, plain.calibration!.expectedCalibrationError)
        XCTAssertEqual(scaled.auc, plain.auc)
        XCTAssertEqual(scaled.accuracy, plain.accuracy, "threshold 0.5 is P = 0.5 at every temperature")
        for text in [scaled.terminalTable, scaled.html(title: "t", model: "m")] {
            XCTAssertTrue(text.contains(String(format: "after temperature scaling (T = %.3f)", expected.temperature)), text)
        }
        XCTAssertTrue(scaled.html(title: "t", model: "m").contains("Reliability diagram"))
        let json = try JSONSerialization.jsonObject(with: try scaled.jsonData()) as! [String: Any]
        XCTAssertEqual(json["temperature"] as? Double, expected.temperature)
        XCTAssertNotNil((json["calibration"] as? [String: Any])?["expected_calibration_error"])
    }
}

private func XCTAssertEqual(_ a: [Double], _ b: [Double], accuracy: Double, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, file: file, line: line) }
}
