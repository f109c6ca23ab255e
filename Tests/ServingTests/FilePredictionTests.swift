import Foundation
import Images
import Serving
import XCTest

final class FilePredictionTests: XCTestCase {
    func testTableWritesCSVAndJSONLines() throws {
        let table = PredictionTable(classNames: ["benign", "malignant"], positiveClass: 1, threshold: 0.7, modelID: "best.h5@0123456789ab")
        let good = PredictionRow(file: "a/SOB_M_DC-14-2523-40-016.png", probabilities: [0.25, 0.75])
        let below = PredictionRow(file: "x,\"y\".png", probabilities: [0.4, 0.6])
        let broken = PredictionRow(file: "=cmd.png", error: "cannot decode PNG: bad signature")
        XCTAssertEqual(good.patient, "14-2523")
        XCTAssertEqual(good.magnification, 40)
        XCTAssertNil(below.patient)
        XCTAssertEqual(table.document([good, below, broken], format: .csv), """
            file,patient,magnification,p_malignant,label,model,error
            a/SOB_M_DC-14-2523-40-016.png,14-2523,40,0.750000,malignant,best.h5@0123456789ab,
            "x,""y"".png",,,0.600000,benign,best.h5@0123456789ab,
            '=cmd.png,,,,,best.h5@0123456789ab,cannot decode PNG: bad signature

            """)
        let lines = table.document([good, broken], format: .jsonl).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        XCTAssertEqual(first["p_malignant"] as? Double, 0.75)
        XCTAssertEqual(first["label"] as? String, "malignant")
        XCTAssertEqual((first["probabilities"] as? [String: Double])?["benign"], 0.25)
        XCTAssertEqual(first["patient"] as? String, "14-2523")
        XCTAssertTrue(first["error"] is NSNull)
        let second = try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as! [String: Any]
        XCTAssertEqual(second["error"] as? String, "cannot decode PNG: bad signature")
        XCTAssertTrue(second["probabilities"] is NSNull)

        let threeClasses = PredictionTable(classNames: ["a", "b", "c"], positiveClass: 2, threshold: 0.5, modelID: "m")
        XCTAssertEqual(threeClasses.csvHeader, "file,patient,magnification,p_a,p_b,p_c,label,model,error")
        XCTAssertEqual(threeClasses.label([0.2, 0.5, 0.3]), "b")
    }

    /// Folders are searched recursively (hidden entries and other files skipped), files are taken as given, and
    /// what cannot be predicted (missing path, empty folder, corrupt or non-PNG file) is a row with its error while
    /// every other file gets exactly the probabilities `Predictor.predict` gives it, across batch boundaries.
    func testEveryInputGetsARowAndBadOnesCarryTheirError() throws {
        let folder = try temporaryFolder(self)
        let model = folder.appendingPathComponent("model.h5").path
        _ = try writeSmallResNet(to: model)
        let data = folder.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data.appendingPathComponent("sub/.hidden"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("empty"), withIntermediateDirectories: true)
        var random = TestRandom(state: 3)
        var images: [String: RGBImage] = [:]
        for name in ["SOB_B_A-14-22549AB-40-001.png", "b.PNG", "sub/c.png", "sub/d.png", ".hidden.png", "sub/.hidden/e.png"] {
            let image = random.image(width: 40 + name.count, height: 30)
            images[name] = image
            try writePNG(image, to: data.appendingPathComponent(name))
        }
        try Data("not a png".utf8).write(to: data.appendingPathComponent("sub/broken.png"))
        try Data("notes".utf8).write(to: data.appendingPathComponent("notes.txt"))
        let single = folder.appendingPathComponent("single.png")
        try writePNG(random.image(width: 50, height: 50), to: single)

        let inputs = FilePrediction.inputs([data.path + "/", folder.appendingPathComponent("missing").path,
                                            folder.appendingPathComponent("empty").path, single.path,
                                            data.appendingPathComponent("notes.txt").path])
        XCTAssertEqual(inputs.map { URL(fileURLWithPath: $0.file).lastPathComponent },
                       ["SOB_B_A-14-22549AB-40-001.png", "b.PNG", "broken.png", "c.png", "d.png", "missing", "empty", "single.png", "notes.txt"])
        XCTAssertEqual(inputs[0].file, data.path + "/SOB_B_A-14-22549AB-40-001.png")
        XCTAssertEqual(inputs[5].error, "no such file or folder")
        XCTAssertEqual(inputs[6].error, "folder holds no .png files")

        let predictor = try Predictor(modelPath: model)
        var prediction = FilePrediction(predictor: predictor)
        prediction.batchSize = 2
        var rows: [PredictionRow] = []
        try prediction.run(inputs) { rows += $0 }
        XCTAssertEqual(rows.map(\.file), inputs.map(\.file))
        let failed = rows.filter { $0.error != nil }.map { URL(fileURLWithPath: $0.file).lastPathComponent }
        XCTAssertEqual(failed, ["broken.png", "missing", "empty", "notes.txt"])
        XCTAssertTrue(rows[2].error!.contains("broken.png"), rows[2].error!)
        XCTAssertTrue(rows.allSatisfy { ($0.error == nil) == ($0.probabilities != nil) })

        let decoded = try rows.filter { $0.error == nil }.map { try PNGCodec.decode(contentsOf: URL(fileURLWithPath: $0.file)) }
        // Batches of other sizes run other oneDNN kernels: equal up to float rounding.
        let expected = try predictor.predict(decoded)
        for (row, probabilities) in zip(rows.compactMap(\.probabilities), expected) {
            for (a, e) in zip(row, probabilities) { XCTAssertEqual(a, e, accuracy: 1e-6) }
        }
        XCTAssertEqual(rows[0].patient, "14-22549AB")
    }
}
