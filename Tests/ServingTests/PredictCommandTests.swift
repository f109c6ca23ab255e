import Foundation
import Images
import KerasHDF5
import Models
import Serving
import XCTest

/// The `bc-predict` executable, as users run it.
final class PredictCommandTests: XCTestCase {
    func run(_ arguments: [String]) throws -> ProductRun { try runProduct("bc-predict", arguments) }

    func testPredictsFoldersToCSVAndJSONLinesWithRowErrorsAndExitStatus() throws {
        let folder = try temporaryFolder(self)
        let model = folder.appendingPathComponent("model.h5").path
        _ = try writeSmallResNet(to: model)
        let data = folder.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        var random = TestRandom(state: 9)
        let images = (0..<3).map { _ in random.image(width: 70, height: 46) }
        for (index, image) in images.enumerated() { try writePNG(image, to: data.appendingPathComponent("SOB_M_DC-14-2523-100-00\(index).png")) }

        let clean = try run(["--model", model, data.path, "--threshold", "0.3"])
        XCTAssertEqual(clean.status, 0, clean.errors)
        let lines = clean.output.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "file,patient,magnification,p_malignant,label,model,error")
        XCTAssertEqual(lines.count, 4)
        let predictor = try Predictor(modelPath: model)
        let expected = try predictor.predict(images)
        for (line, probabilities) in zip(lines.dropFirst(), expected) {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            XCTAssertEqual(fields[1...2], ["14-2523", "100"])
            XCTAssertEqual(Double(fields[3])!, probabilities[1], accuracy: 5e-7)
            XCTAssertEqual(fields[4], probabilities[1] >= 0.3 ? "malignant" : "benign")
            XCTAssertEqual(fields[5], predictor.modelID)
            XCTAssertEqual(fields[6], "")
        }
        XCTAssertTrue(clean.errors.contains("3 of 3 predicted"), clean.errors)

        // With test-time augmentation, each row has its views' spread.
        let flipped = try run(["--model", model, data.path, "--tta", "flips"])
        XCTAssertEqual(flipped.status, 0, flipped.errors)
        let flippedLines = flipped.output.split(separator: "\n").map(String.init)
        XCTAssertEqual(flippedLines.first, "file,patient,magnification,p_malignant,label,tta_spread,model,error")
        let scores = try Predictor(modelPath: model, testTimeAugmentation: .flips).predictWithSpread(images)
        for (line, score) in zip(flippedLines.dropFirst(), scores) {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            XCTAssertEqual(Double(fields[3])!, score.probabilities[1], accuracy: 5e-7)
            XCTAssertEqual(fields[5], String(format: "%.6f", score.spread))
        }
        XCTAssertGreaterThan(scores.map(\.spread).max()!, 0)

        try Data([0x89, 0x50, 0x4e, 0x47]).write(to: data.appendingPathComponent("truncated.png"))
        let output = folder.appendingPathComponent("out.jsonl").path
        let partial = try run(["--model", model, data.path, "--output", output])
        XCTAssertEqual(partial.status, 2, partial.errors)
        XCTAssertTrue(partial.errors.contains("3 of 4 predicted, 1 with an error"), partial.errors)
        let rows = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(rows.count, 4)
        XCTAssertEqual(rows.compactMap { $0["p_malignant"] as? Double }.map { Float($0) }, expected.map { Float($0[1]) })
        XCTAssertTrue((rows[3]["error"] as? String)?.contains("truncated.png") == true, "\(rows[3])")

        let nowhere = try run(["--model", model, data.path, "--output", folder.appendingPathComponent("missing/out.csv").path])
        XCTAssertEqual(nowhere.status, 64)
        XCTAssertTrue(nowhere.errors.contains("missing/out.csv") && nowhere.errors.contains("does not exist"), nowhere.errors)

        let badModel = folder.appendingPathComponent("bad.h5").path
        try Data("not hdf5".utf8).write(to: URL(fileURLWithPath: badModel))
        let refused = try run(["--model", badModel, data.path])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.errors.contains("bad.h5"), refused.errors)
        XCTAssertEqual(refused.output, "")
    }

    /// `--heatmaps`: each image's Grad-CAM for the class its row calls, blended over the image at its size, and the
    /// map as .npy; same-named images from two folders both keep theirs; a folder that cannot be made is one line.
    func testHeatmapsWritesEachImagesGradCAMOfTheCalledClass() throws {
        let folder = try temporaryFolder(self)
        let model = folder.appendingPathComponent("model.h5").path
        _ = try writeSmallResNet(to: model, size: 64)
        var random = TestRandom(state: 21)
        let images = (0..<3).map { _ in random.image(width: 70, height: 46) }
        let files = ["a/SOB_B_A-14-22549CD-100-001.png", "a/SOB_M_DC-14-2523-100-002.png", "b/SOB_M_DC-14-2523-100-002.png"]
        for (file, image) in zip(files, images) {
            let url = folder.appendingPathComponent("data/" + file)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try writePNG(image, to: url)
        }
        let heatmaps = folder.appendingPathComponent("maps")
        let result = try run(["--model", model, folder.appendingPathComponent("data").path, "--threshold", "0.45",
                              "--heatmaps", heatmaps.path, "--heatmap-opacity", "0.6"])
        XCTAssertEqual(result.status, 0, result.errors)
        XCTAssertTrue(result.errors.contains("Grad-CAM of layer conv5_block3_out"), result.errors)
        let lines = result.output.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "file,patient,magnification,p_malignant,label,heatmap,model,error")
        let predictor = try Predictor(modelPath: model)
        let called = try predictor.predict(images).map { $0[1] >= 0.45 ? 1 : 0 }
        let maps = try predictor.classActivationMaps(images, classes: called)
        let names = ["SOB_B_A-14-22549CD-100-001", "SOB_M_DC-14-2523-100-002", "SOB_M_DC-14-2523-100-002-2"]
        for (index, line) in lines.dropFirst().enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            let picture = heatmaps.appendingPathComponent(names[index] + ".gradcam.png")
            XCTAssertEqual(fields[4], called[index] == 1 ? "malignant" : "benign")
            XCTAssertEqual(fields[5], picture.path)
            XCTAssertEqual(try PNGCodec.decode(contentsOf: picture), maps[index].heatmap.blended(over: images[index], opacity: 0.6))
            let values = try readNumpy(heatmaps.appendingPathComponent(names[index] + ".gradcam.npy"))
            XCTAssertEqual(values.shape, [2, 2])
            XCTAssertEqual(values.scalars, maps[index].heatmap.values)
        }
        XCTAssertEqual(maps.filter { $0.peak > 0 }.count, 3, "every called class has a map")

        let blocker = folder.appendingPathComponent("a-file")
        try Data().write(to: blocker)
        let refused = try run(["--model", model, folder.appendingPathComponent("data").path, "--heatmaps", blocker.path + "/maps"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertEqual(refused.errors.split(separator: "\n").count, 1, refused.errors)
        XCTAssertTrue(refused.errors.hasPrefix("bc-predict: error: --heatmaps \(blocker.path)/maps: cannot create the folder"), refused.errors)
        XCTAssertEqual(refused.output, "")
    }

    /// A model whose input the machine cannot hold is refused when it loads, with one line naming the file, the
    /// input size and the memory (before: a trap allocating the first batch).
    func testAModelTooLargeForTheMachineIsRefusedWithOneLine() throws {
        let folder = try temporaryFolder(self)
        let model = folder.appendingPathComponent("huge-input.h5").path
        try writeKerasModel(try buildModel(.resnet50, inputShape: [100_000, 100_000, 3], head: HeadOptions(classes: 2), seed: 1), to: model)
        let image = folder.appendingPathComponent("SOB_M_DC-14-2523-100-001.png")
        var random = TestRandom(state: 4)
        try writePNG(random.image(width: 70, height: 46), to: image)
        XCTAssertThrowsError(try Predictor(modelPath: model)) { error in
            XCTAssertTrue("\(error)".hasPrefix(model + ": takes 100000x100000 images: predicting one needs at least "), "\(error)")
        }
        let refused = try run(["--model", model, image.path])
        XCTAssertEqual(refused.status, 1, refused.errors)
        let lines = refused.errors.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, refused.errors)
        XCTAssertTrue(lines.first?.hasPrefix("bc-predict: error: \(model): takes 100000x100000 images") ?? false, refused.errors)
        XCTAssertTrue(refused.errors.contains("but this machine has"), refused.errors)
    }
}
