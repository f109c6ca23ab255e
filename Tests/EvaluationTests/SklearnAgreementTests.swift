import Evaluation
import Foundation
import XCTest

/// Metric functions equal scikit-learn's (`accuracy_score`, `precision_recall_fscore_support`, `confusion_matrix`,
/// `roc_curve`, `roc_auc_score`) on fixed prediction sets, including ties and single-class edge cases.
final class SklearnAgreementTests: XCTestCase {
    struct Case: Decodable {
        let labels: [Int], scores: [Double], predicted: [Int]
        let fpr: [Double], tpr: [Double], thresholds: [Threshold]
        let auc: Double, accuracy: Double
        let confusion: [[Int]]
        let precision: [Double], recall: [Double], f1: [Double], support: [Int]
    }

    /// A threshold from JSON: a number, or "inf".
    struct Threshold: Decodable {
        let value: Double
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let number = try? c.decode(Double.self) { value = number; return }
            value = try c.decode(String.self) == "inf" ? .infinity : .nan
        }
    }

    static let reference: Result<[String: Case], Error> = Result {
        let python = ProcessInfo.processInfo.environment["BC_PYTHON"] ?? "/opt/bc-train-venv/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw NSError(domain: "referee", code: 1, userInfo: [NSLocalizedDescriptionKey:
                "no Python referee at \(python): run ./Launch/test.sh (it installs scikit-learn) or set BC_PYTHON"])
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Python/sklearn_metrics_referee.py")
        let process = Process(), output = Pipe()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script.path]
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw NSError(domain: "referee", code: 2, userInfo: [NSLocalizedDescriptionKey: "\(script.path) failed"])
        }
        var object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        object.removeValue(forKey: "single_class_error")
        return try JSONDecoder().decode([String: Case].self, from: try JSONSerialization.data(withJSONObject: object))
    }

    func testAgreesWithScikitLearnOnEveryCase() throws {
        let cases = try Self.reference.get()
        XCTAssertEqual(cases.count, 5)
        for (name, expected) in cases.sorted(by: { $0.key < $1.key }) {
            let matrix = ConfusionMatrix(actual: expected.labels, predicted: expected.predicted, classes: 2)
            XCTAssertEqual(matrix.counts, expected.confusion, name)
            XCTAssertEqual(matrix.accuracy, expected.accuracy, accuracy: 1e-12, name)
            for positive in 0..<2 {
                let scores = matrix.scores(of: positive)
                XCTAssertEqual(scores.precision, expected.precision[positive], accuracy: 1e-12, "\(name) precision \(positive)")
                XCTAssertEqual(scores.recall, expected.recall[positive], accuracy: 1e-12, "\(name) recall \(positive)")
                XCTAssertEqual(scores.f1, expected.f1[positive], accuracy: 1e-12, "\(name) f1 \(positive)")
                XCTAssertEqual(scores.support, expected.support[positive], "\(name) support \(positive)")
            }
            // Specificity of class 1 is the recall of class 0.
            XCTAssertEqual(matrix.scores(of: 1).specificity, expected.recall[0], accuracy: 1e-12, name)

            let curve = try ROCCurve(positive: expected.labels.map { $0 == 1 }, scores: expected.scores)
            XCTAssertEqual(curve.falsePositiveRates, expected.fpr, "\(name) fpr")
            XCTAssertEqual(curve.truePositiveRates, expected.tpr, "\(name) tpr")
            XCTAssertEqual(curve.thresholds, expected.thresholds.map(\.value), "\(name) thresholds")
            XCTAssertEqual(curve.area, expected.auc, accuracy: 1e-12, "\(name) auc")
        }
    }

    func testSingleClassAUCIsAClearErrorNotNaN() {
        XCTAssertThrowsError(try ROCCurve(positive: [true, true, true], scores: [0.2, 0.5, 0.9])) { error in
            XCTAssertEqual(error as? ROCCurve.Failure, .singleClass(present: 1))
            XCTAssertTrue("\(error)".contains("both classes are needed"))
        }
        XCTAssertThrowsError(try ROCCurve(positive: [false, false], scores: [0.2, 0.5]))
    }

    func testPatientLevelAccuracyWeighsPatientsEqually() {
        // Patient A: 3 of 4 correct, patient B: 0 of 1, patient C: 2 of 2 -> (0.75 + 0 + 1) / 3.
        let patients = ["A", "A", "A", "A", "B", "C", "C"]
        let correct = [true, true, false, true, false, true, true]
        XCTAssertEqual(patientLevelAccuracy(patients: patients, correct: correct), 1.75 / 3, accuracy: 1e-12)
        XCTAssertEqual(patientLevelAccuracy(patients: [], correct: []), 0)
    }
}
