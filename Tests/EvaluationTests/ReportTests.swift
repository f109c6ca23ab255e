import Evaluation
import Foundation
import XCTest

final class ReportTests: XCTestCase {
    /// Two patients at 40X, one at 400X; class 1 (malignant) is positive.
    let predictions = [
        ImagePrediction(file: "a1.png", actual: 1, probabilities: [0.2, 0.8], patient: "P1", magnification: 40),
        ImagePrediction(file: "a2.png", actual: 1, probabilities: [0.6, 0.4], patient: "P1", magnification: 40),
        ImagePrediction(file: "b1.png", actual: 0, probabilities: [0.9, 0.1], patient: "P2", magnification: 40),
        ImagePrediction(file: "b2.png", actual: 0, probabilities: [0.3, 0.7], patient: "P2", magnification: 40),
        ImagePrediction(file: "c1.png", actual: 0, probabilities: [0.8, 0.2], patient: "P3", magnification: 400),
        ImagePrediction(file: "unlabelled.png", actual: nil, probabilities: [0.5, 0.5]),
    ]

    func testReportCombinesTheMetricsConsistently() throws {
        let report = EvaluationReport(predictions: predictions, classNames: ["benign", "malignant"], positiveClass: 1)
        XCTAssertEqual(report.images, 5, "unlabelled predictions are not scored")
        XCTAssertEqual(report.confusionMatrix, [[2, 1], [1, 1]])
        XCTAssertEqual(report.accuracy, 3.0 / 5, accuracy: 1e-12)
        XCTAssertEqual(report.classScores["malignant"]!.precision, 0.5, accuracy: 1e-12)
        XCTAssertEqual(report.classScores["malignant"]!.recall, 0.5, accuracy: 1e-12)
        XCTAssertEqual(report.classScores["malignant"]!.specificity, 2.0 / 3, accuracy: 1e-12)
        // P1 1/2, P2 1/2, P3 1/1.
        XCTAssertEqual(report.patientLevelAccuracy!, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(report.patients, 3)
        let direct = try ROCCurve(positive: [true, true, false, false, false], scores: [0.8, 0.4, 0.1, 0.7, 0.2])
        XCTAssertEqual(report.auc!, direct.area, accuracy: 1e-12)
        XCTAssertEqual(report.perMagnification["40X"]?.images, 4)
        XCTAssertEqual(report.perMagnification["40X"]!.accuracy, 0.5, accuracy: 1e-12)
        XCTAssertNil(report.perMagnification["400X"]?.auc, "one class only at 400X: AUC undefined")
        XCTAssertEqual(report.perMagnification["400X"]?.accuracy, 1)

        let stricter = EvaluationReport(predictions: predictions, classNames: ["benign", "malignant"], positiveClass: 1, threshold: 0.75)
        XCTAssertEqual(stricter.confusionMatrix, [[3, 0], [1, 1]], "the threshold decides the label")

        let json = try JSONSerialization.jsonObject(with: report.jsonData()) as! [String: Any]
        XCTAssertEqual(json["images"] as? Int, 5)
        XCTAssertNotNil(json["patient_level_accuracy"])
    }

    /// Patients scored by their images' mean P(malignant): A (malignant) 0.6, B 0.7, C 0.2; D's images carry both
    /// classes and are left out. A beats C but not B: AUC 0.5.
    func testPatientLevelAUCRanksPatientsByTheirMeanProbability() throws {
        let images = [
            ImagePrediction(file: "a1.png", actual: 1, probabilities: [0.1, 0.9], patient: "A"),
            ImagePrediction(file: "a2.png", actual: 1, probabilities: [0.7, 0.3], patient: "A"),
            ImagePrediction(file: "b1.png", actual: 0, probabilities: [0.3, 0.7], patient: "B"),
            ImagePrediction(file: "c1.png", actual: 0, probabilities: [0.9, 0.1], patient: "C"),
            ImagePrediction(file: "c2.png", actual: 0, probabilities: [0.7, 0.3], patient: "C"),
            ImagePrediction(file: "d1.png", actual: 1, probabilities: [0.0, 1.0], patient: "D"),
            ImagePrediction(file: "d2.png", actual: 0, probabilities: [1.0, 0.0], patient: "D"),
        ]
        let report = EvaluationReport(predictions: images, classNames: ["benign", "malignant"], positiveClass: 1)
        XCTAssertEqual(report.patientAUC!, 0.5, accuracy: 1e-12)
        XCTAssertEqual(report.patientAUC!, try ROCCurve(positive: [true, false, false], scores: [0.6, 0.7, 0.2]).area, accuracy: 1e-12)
        XCTAssertNotEqual(report.auc!, report.patientAUC!, accuracy: 1e-3)
        XCTAssertTrue(report.terminalTable.contains("ROC AUC over patients (mean P per patient): 0.5000"), report.terminalTable)
        XCTAssertNil(EvaluationReport(predictions: images.map { var unnamed = $0; unnamed.patient = nil; return unnamed },
                                      classNames: ["benign", "malignant"], positiveClass: 1).patientAUC)
    }

    func testSingleClassReportSaysAUCIsUndefined() {
        let benignOnly = predictions.filter { $0.actual == 0 }
        let report = EvaluationReport(predictions: benignOnly, classNames: ["benign", "malignant"], positiveClass: 1)
        XCTAssertNil(report.auc)
        XCTAssertTrue(report.aucNote!.contains("both classes are needed"))
        XCTAssertTrue(report.terminalTable.contains("undefined"))
        XCTAssertNil(report.terminalTable.range(of: #"\bnan\b"#, options: [.regularExpression, .caseInsensitive]))
    }

    func testHTMLIsSelfContainedAndEscaped() throws {
        var named = predictions
        named[0].file = "<script>alert(1)</script>.png"
        let history = try TrainingHistory(csv: "epoch,loss,accuracy,val_loss,val_accuracy\n1,0.7,0.5,0.69,0.55\n2,0.5,0.8,0.6,0.7\n",
                                          source: "history.csv")
        let report = EvaluationReport(predictions: named, classNames: ["benign", "malignant"], positiveClass: 1)
        let html = report.html(title: "Test <run>", model: "best.h5", history: history)
        XCTAssertFalse(html.contains("<script"))
        XCTAssertTrue(html.contains("Test &lt;run&gt;"))
        XCTAssertNil(html.range(of: #"(src|href)\s*="#, options: .regularExpression), "no external resources")
        XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, 5,
                       "ROC, confusion matrix, reliability diagram, loss and accuracy curves")
        XCTAssertTrue(html.contains("Per magnification"))
    }

    /// The errors at the threshold, surest first (ties by file name), unlabelled images left out, at most `limit`.
    func testMostConfidentErrorsAreTheSurestWrongCalls() {
        let cases = [ImagePrediction(file: "b.png", actual: 0, probabilities: [0.2, 0.8]),
                     ImagePrediction(file: "right.png", actual: 1, probabilities: [0.01, 0.99]),
                     ImagePrediction(file: "a.png", actual: 0, probabilities: [0.2, 0.8]),
                     ImagePrediction(file: "c.png", actual: 1, probabilities: [0.9, 0.1]),
                     ImagePrediction(file: "d.png", actual: 1, probabilities: [0.35, 0.65]),
                     ImagePrediction(file: "unlabelled.png", actual: nil, probabilities: [0.0, 1.0])]
        let errors = EvaluationReport.mostConfidentErrors(cases, positiveClass: 1, threshold: 0.7, limit: 3)
        XCTAssertEqual(errors.map(\.prediction.file), ["c.png", "a.png", "b.png"])
        XCTAssertEqual(errors.map(\.called), [0, 1, 1])
        XCTAssertEqual(EvaluationReport.mostConfidentErrors(cases, positiveClass: 1, threshold: 0.7, limit: 9).map(\.prediction.file),
                       ["c.png", "a.png", "b.png", "d.png"], "0.65 is benign at threshold 0.7")
    }

    func testErrorGalleryEmbedsEachPictureWithItsCall() {
        let report = EvaluationReport(predictions: predictions, classNames: ["benign", "malignant"], positiveClass: 1)
        let example = ErrorExample(file: "run/<b>.png", actual: "benign", called: "malignant", probability: 0.9876,
                                   picture: Data([0x89, 0x50, 0x4E, 0x47]))
        let html = report.html(title: "t", model: "m", errors: ([example, example], "conv5_block3_out"))
        XCTAssertEqual(html.components(separatedBy: "<img alt=\"Grad-CAM of run/&lt;b&gt;.png\" src=\"data:image/png;base64,iVBORw==\">").count - 1, 2)
        XCTAssertTrue(html.contains("benign, called malignant with P 0.988"))
        XCTAssertTrue(html.contains("<code>conv5_block3_out</code>"))
        XCTAssertFalse(report.html(title: "t", model: "m", errors: ([], "x")).contains("Most confident errors"))
    }

    func testHistoryCSVErrorsNameTheFileAndLine() {
        XCTAssertThrowsError(try TrainingHistory(csv: "epoch,loss\n1,0.5\n2\n", source: "run/history.csv")) { error in
            XCTAssertTrue("\(error)".contains("run/history.csv: line 3"), "\(error)")
        }
        XCTAssertThrowsError(try TrainingHistory(csv: "epoch,loss\n1,abc\n", source: "h.csv")) { error in
            XCTAssertTrue("\(error)".contains("'abc' is not a number"), "\(error)")
        }
        let history = try? TrainingHistory(csv: "epoch,loss\n1,0.5\n", source: "h.csv")
        XCTAssertEqual(history?.values("loss"), [0.5])
        XCTAssertEqual(try? TrainingHistory(csv: history!.csv, source: "again"), history)
    }
}
