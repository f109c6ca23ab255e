import Foundation
import XCTest

/// The quickstart's trained checkpoint (`./Launch/test.sh` trains it first, with Launch/check-quickstart.sh, which
/// also checks that it learned): bc-eval and bc-predict give the probabilities Keras gives when it loads that checkpoint and reads the same
/// PNG files the way Keras users do (tf.io.decode_png, tf.image.resize, preprocess_input), on the run's test split
/// and on the eight real BreakHis samples (700x460, resized to the model's 64x64).
final class QuickstartModelTests: XCTestCase {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let realSamples = breakHisSampleFolder
    /// BC_QUICKSTART_RUN, or where `Launch/check-quickstart.sh` trains.
    static let runFolder = URL(fileURLWithPath: ProcessInfo.processInfo.environment["BC_QUICKSTART_RUN"]
                                ?? packageRoot.appendingPathComponent("Checkpoints/quickstart-check").path)
    static let dataFolder = packageRoot.appendingPathComponent("Checkpoints/quickstart-data")

    func model() throws -> String {
        let path = Self.runFolder.appendingPathComponent("best.h5").path
        guard FileManager.default.fileExists(atPath: path) else {
            throw NSError(domain: "quickstart", code: 1, userInfo: [NSLocalizedDescriptionKey:
                "no \(path): run ./Launch/check-quickstart.sh first (./Launch/test.sh does), or set BC_QUICKSTART_RUN to a quickstart run folder"])
        }
        return path
    }

    func testBCEvalAndBCPredictMatchKeras() throws {
        let model = try model()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bc-parity-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }

        let evaluation = folder.appendingPathComponent("evaluation")
        let evaluated = try runProduct("bc-eval", ["--model", model, "--data", Self.dataFolder.path, "--split", "test",
                                                "--output", evaluation.path])
        XCTAssertEqual(evaluated.status, 0, evaluated.errors)
        let evalRows = try csvRows(evaluation.appendingPathComponent("predictions.csv"))
        XCTAssertGreaterThan(evalRows.count, 100)
        // The report shows the most confident errors with their Grad-CAM.
        let errors = evalRows.filter { $0["label"] != $0["actual"] }.count
        let report = try String(contentsOf: evaluation.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertEqual(report.components(separatedBy: "<img alt=\"Grad-CAM of ").count - 1, min(errors, 8), "\(errors) errors")

        let predictions = folder.appendingPathComponent("samples.jsonl")
        let predicted = try runProduct("bc-predict", ["--model", model, Self.realSamples.path, "--output", predictions.path])
        XCTAssertEqual(predicted.status, 0, predicted.errors)
        let sampleRows = try String(contentsOf: predictions, encoding: .utf8).split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(sampleRows.count, 8)

        var ours: [String: Double] = [:]
        for row in evalRows { ours[row["file"]!] = Double(row["p_malignant"]!)! }
        for row in sampleRows { ours[row["file"] as! String] = row["p_malignant"] as? Double }
        let referee = folder.appendingPathComponent("keras.json")
        try runReferee(["predict-files", model, "caffe", referee.path] + ours.keys.sorted())
        let keras = try JSONSerialization.jsonObject(with: Data(contentsOf: referee)) as! [String: [String: [Double]]]
        XCTAssertEqual(keras.count, ours.count)
        for (file, probability) in ours {
            for flavour in ["tfk", "k3"] {
                XCTAssertEqual(probability, keras[file]![flavour]![1], accuracy: 1e-4, "\(flavour) \(file)")
            }
        }
        let values = Array(ours.values)
        XCTAssertGreaterThan(values.filter { $0 > 0.05 && $0 < 0.95 }.count, 5, "saturated outputs would prove little")
    }

    /// `bc-eval --calibrate` fits a temperature on the run's validation part and keeps it beside the model, where
    /// bc-predict applies it (P' = sigmoid(logit(P) / T)). A file fitted for other weights or another test-time
    /// augmentation is refused with one line, and fitting again replaces it.
    func testCalibrateFitsOnValidationAndBCPredictAppliesIt() throws {
        let folder = try temporaryFolder(self)
        for name in ["best.h5", "split.json"] {
            try FileManager.default.copyItem(at: URL(fileURLWithPath: try model()).deletingLastPathComponent().appendingPathComponent(name),
                                             to: folder.appendingPathComponent(name))
        }
        let model = folder.appendingPathComponent("best.h5").path
        /// P(malignant) per sample, and the model id bc-predict names.
        func predict() throws -> (p: [Double], model: String) {
            let output = folder.appendingPathComponent("samples.jsonl")
            let run = try runProduct("bc-predict", ["--model", model, Self.realSamples.path, "--output", output.path])
            XCTAssertEqual(run.status, 0, run.errors)
            let rows = try String(contentsOf: output, encoding: .utf8).split(separator: "\n").map {
                try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
            }
            return (rows.map { $0["p_malignant"] as! Double }, rows.first?["model"] as? String ?? "")
        }
        let (raw, modelID) = try predict()
        // A file left from other weights: refused, until the fit replaces it.
        let calibrationFile = folder.appendingPathComponent("best.calibration.json")
        try JSONSerialization.data(withJSONObject: ["temperature": 2.0, "model": "best.h5@000000000000", "test_time_augmentation": "off",
                                                    "fitted_on": "other weights", "nll_before": 0.5, "nll_after": 0.4])
            .write(to: calibrationFile)
        let refused = try runProduct("bc-predict", ["--model", model, Self.realSamples.path])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.errors.contains("\(calibrationFile.path) was fitted for best.h5@000000000000, not for these weights "
                                              + "(\(modelID)): fit it again with bc-eval --calibrate"), refused.errors)

        let evaluation = folder.appendingPathComponent("evaluation")
        let evaluated = try runProduct("bc-eval", ["--model", model, "--data", Self.dataFolder.path, "--split", "test", "--calibrate",
                                                "--threads", "2", "--output", evaluation.path])
        XCTAssertEqual(evaluated.status, 0, evaluated.errors)
        let calibration = try JSONSerialization.jsonObject(with: Data(contentsOf: calibrationFile)) as! [String: Any]
        let temperature = try XCTUnwrap(calibration["temperature"] as? Double)
        XCTAssertTrue(evaluated.output.contains(String(format: "temperature %.4f fitted on the validation part", temperature)), evaluated.output)
        XCTAssertLessThan(calibration["nll_after"] as! Double, calibration["nll_before"] as! Double)
        XCTAssertEqual(calibration["model"] as? String, modelID)
        XCTAssertEqual(calibration["test_time_augmentation"] as? String, "off")
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: evaluation.appendingPathComponent("metrics.json"))) as! [String: Any]
        XCTAssertEqual(metrics["temperature"] as? Double, temperature)
        XCTAssertNotNil(metrics["calibration_after_scaling"] as? [String: Any])
        XCTAssertTrue(try String(contentsOf: evaluation.appendingPathComponent("report.html"), encoding: .utf8).contains("Reliability diagram"))

        let scaled = try predict().p
        // The model's two float32 probabilities sum to 1 only to float precision, hence 1e-6 and not 1e-12.
        for (before, after) in zip(raw, scaled) {
            XCTAssertEqual(after, 1 / (1 + exp(-log(before / (1 - before)) / temperature)), accuracy: 1e-6)
        }
        XCTAssertNotEqual(raw, scaled)
        // Averaging over test-time augmentation softens the probabilities: a temperature fits its own setting only.
        let otherViews = try runProduct("bc-predict", ["--model", model, "--tta", "flips", Self.realSamples.path])
        XCTAssertEqual(otherViews.status, 1)
        XCTAssertTrue(otherViews.errors.contains("was fitted with test-time augmentation off, not flips"), otherViews.errors)
    }

    /// Rows of a CSV file without quoted fields, keyed by the header.
    private func csvRows(_ url: URL) throws -> [[String: String]] {
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map {
            $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        }
        return lines.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(lines[0], $0)) }
    }
}
