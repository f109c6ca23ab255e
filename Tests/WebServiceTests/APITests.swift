import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Images
import Serving
import WebService
import XCTest
import ZIPFoundation

/// The JSON API on a real loopback server with the real model file.
final class APITests: XCTestCase {
    func testPredictionsEqualThePredictorsWithPatientsAndLabels() async throws {
        let server = try await RunningServer()
        let samples = try breakHisSamples()
        let files = try samples.map { (name: $0.lastPathComponent, data: try Data(contentsOf: $0)) }
        let reply = try await HTTP.upload(files, to: server.base.appendingPathComponent("api/predict"))
        await server.stop()
        XCTAssertEqual(reply.status, 200, reply.text)
        let answer = try reply.predictions()
        let expected = try referenceProbabilities(files.map(\.data))
        XCTAssertEqual(answer.model, try testModelID())
        XCTAssertEqual(answer.threshold, 0.5)
        XCTAssertEqual(answer.results.map(\.file), files.map(\.name))
        for (row, probabilities) in zip(answer.results, expected) {
            XCTAssertNil(row.error)
            XCTAssertEqual(row.probabilities, ["benign": probabilities[0], "malignant": probabilities[1]], row.file)
            XCTAssertEqual(row.pMalignant, probabilities[1])
            XCTAssertEqual(row.label, probabilities[1] >= 0.5 ? "malignant" : "benign")
            XCTAssertEqual(row.magnification, 400)
            XCTAssertNotNil(row.patient)
            XCTAssertEqual(row.classFromName, row.file.hasPrefix("SOB_M_") ? "malignant" : "benign", row.file)
        }
        XCTAssertEqual(answer.results[0].patient, String(files[0].name.split(separator: "-")[1...2].joined(separator: "-")))
        XCTAssertEqual(Set(answer.results.compactMap(\.label)), ["benign", "malignant"], "the test model should call both classes")
    }

    /// With `--tta`, each row has its views' spread, as the predictor computes it; `/api/model` says which views.
    func testTestTimeAugmentationGivesEachImageItsSpread() async throws {
        let server = try await RunningServer(testTimeAugmentation: .dihedral)
        let files = try breakHisSamples().prefix(4).map { (name: $0.lastPathComponent, data: try Data(contentsOf: $0)) }
        let reply = try await HTTP.upload(files, to: server.base.appendingPathComponent("api/predict"))
        let model = try await HTTP.get(server.base.appendingPathComponent("api/model"))
        await server.stop()
        XCTAssertEqual(reply.status, 200, reply.text)
        let expected = try referenceScores(files.map(\.data), testTimeAugmentation: .dihedral)
        for (row, score) in zip(try reply.predictions().results, expected) {
            XCTAssertEqual(row.pMalignant, score.probabilities[1])
            XCTAssertEqual(row.ttaSpread, score.spread)
        }
        XCTAssertGreaterThan(expected.map(\.spread).max()!, 0)
        let info = try model.json()
        XCTAssertEqual(info["test_time_augmentation"] as? String, "dihedral")
        XCTAssertEqual(info["review_spread"] as? Double, ModelInfo.reviewSpread)
    }

    /// `?heatmaps=true`: each row carries the Grad-CAM of the class called at the request's threshold, the map as the
    /// predictor computes it and the map coloured at the image's size; without it the key is null.
    func testHeatmapsGiveEachImageTheGradCAMOfItsCalledClass() async throws {
        let server = try await RunningServer()
        let files = try breakHisSamples().map { (name: $0.lastPathComponent, data: try Data(contentsOf: $0)) }
        let predict = server.base.appendingPathComponent("api/predict")
        let reply = try await HTTP.upload(files, to: URL(string: predict.absoluteString + "?heatmaps=true&threshold=0.4")!)
        let plain = try await HTTP.upload(Array(files.prefix(1)), to: predict)
        let bad = try await HTTP.upload(Array(files.prefix(1)), to: URL(string: predict.absoluteString + "?heatmaps=maybe")!)
        let model = try await HTTP.get(server.base.appendingPathComponent("api/model"))
        await server.stop()
        XCTAssertEqual(reply.status, 200, reply.text)
        let images = try files.map { try PNGCodec.decode($0.data, source: $0.name) }
        let predictor = try TestModel.predictor(testModelPath)
        let called = try predictor.predict(images).map { $0[1] >= 0.4 ? 1 : 0 }
        let maps = try predictor.classActivationMaps(images, classes: called)
        for ((row, map), (image, classIndex)) in zip(zip(try reply.predictions().results, maps), zip(images, called)) {
            let heatmap = try XCTUnwrap(row.heatmap, row.file)
            XCTAssertEqual(heatmap.className, ["benign", "malignant"][classIndex], row.file)
            XCTAssertEqual(row.label, heatmap.className, row.file)
            XCTAssertEqual(heatmap.layer, "pool")
            XCTAssertEqual(heatmap.map.flatMap { $0 }, map.heatmap.values, row.file)
            XCTAssertEqual(heatmap.map.count, map.heatmap.height)
            let png = try PNGCodec.decode(try XCTUnwrap(Data(base64Encoded: heatmap.png)), source: row.file)
            XCTAssertEqual(png, map.heatmap.colored(width: image.width, height: image.height), row.file)
        }
        XCTAssertEqual(Set(called), [0, 1], "the samples should be called both ways")
        XCTAssertEqual(plain.status, 200, plain.text)
        XCTAssertTrue(plain.text.contains("\"heatmap\":null"), plain.text)
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual(try bad.json()["error"] as? String, "heatmaps must be true or false, got 'maybe'")
        XCTAssertEqual(try model.json()["heatmap_layer"] as? String, "pool")
    }

    /// With `--crops 2`, each row's P(malignant) is the mean over its 2x2 crops and `crop_map` holds the crops' own,
    /// top row first, as the predictor computes them; `/api/model` says how many crops per side.
    func testCropsGiveEachImageItsCropMap() async throws {
        let server = try await RunningServer(crops: CropGrid(side: 2))
        let files = try breakHisSamples().prefix(3).map { (name: $0.lastPathComponent, data: try Data(contentsOf: $0)) }
        let reply = try await HTTP.upload(files, to: server.base.appendingPathComponent("api/predict"))
        let model = try await HTTP.get(server.base.appendingPathComponent("api/model"))
        await server.stop()
        XCTAssertEqual(reply.status, 200, reply.text)
        for (row, expected) in zip(try reply.predictions().results, try referenceScores(files.map(\.data), crops: CropGrid(side: 2))) {
            let crops = try XCTUnwrap(expected.crops)
            XCTAssertEqual(row.pMalignant, expected.probabilities[1], row.file)
            XCTAssertEqual(row.cropMap, [[crops[0][1], crops[1][1]], [crops[2][1], crops[3][1]]], row.file)
        }
        XCTAssertEqual(try model.json()["crops"] as? Int, 2)
    }

    func testUnreadableFilesGetTheirOwnErrorAndDoNotFailTheOthers() async throws {
        let server = try await RunningServer()
        let good = try Data(contentsOf: try breakHisSamples()[5])
        let wide = ServeLimits().maxSide + 1
        let tooWide = try PNGCodec.encode(RGBImage(width: wide, height: 2, pixels: [UInt8](repeating: 90, count: wide * 2 * 3)))
        let files: [(name: String, data: Data)] = [("a.png", good), ("truncated.png", good.prefix(2000)), ("text.png", Data("hello".utf8)),
                                                   ("empty.png", Data()), ("wide.png", tooWide), ("b.png", good)]
        let reply = try await HTTP.upload(files, to: server.base.appendingPathComponent("api/predict"))
        await server.stop()
        XCTAssertEqual(reply.status, 200, reply.text)
        let rows = try reply.predictions().results
        XCTAssertEqual(rows.map(\.file), files.map(\.name))
        let expected = try referenceProbabilities([good])[0]
        for row in [rows[0], rows[5]] {
            XCTAssertNil(row.error)
            XCTAssertEqual(row.pMalignant, expected[1])
        }
        XCTAssertTrue(rows[1].error?.contains("truncated") == true, "\(rows[1])")
        XCTAssertTrue(rows[2].error?.contains("not a PNG file") == true, "\(rows[2])")
        XCTAssertEqual(rows[3].error, "empty file")
        XCTAssertTrue(rows[4].error?.contains("4096") == true, "\(rows[4])")
        for row in rows[1...4] {
            XCTAssertNil(row.probabilities)
            XCTAssertNil(row.label)
        }
        // Every key is present, null when it does not apply.
        let first = try XCTUnwrap((try reply.json()["results"] as? [[String: Any]])?[1])
        XCTAssertEqual(Set(first.keys), ["file", "patient", "magnification", "probabilities", "p_malignant", "label", "tta_spread",
                                         "class_from_name", "crop_map", "heatmap", "error"])
        XCTAssertTrue(first["p_malignant"] is NSNull)
        XCTAssertTrue(first["class_from_name"] is NSNull, "truncated.png is not a BreakHis name")
    }

    func testZipUploadsAreExpandedToTheirPNGEntries() async throws {
        let server = try await RunningServer()
        let samples = try breakHisSamples()
        let archive = try Archive(data: Data(), accessMode: .create)
        for sample in samples[0..<3] {
            let data = try Data(contentsOf: sample)
            try archive.addEntry(with: "patient/" + sample.lastPathComponent, type: .file, uncompressedSize: Int64(data.count),
                                 compressionMethod: .deflate) { position, size in data[Int(position)..<Int(position) + size] }
        }
        let readme = Data("slides from the lab".utf8)
        try archive.addEntry(with: "README.txt", type: .file, uncompressedSize: Int64(readme.count)) { position, size in
            readme[Int(position)..<Int(position) + size]
        }
        let zip = try XCTUnwrap(archive.data)
        let single = try Data(contentsOf: samples[7])
        let reply = try await HTTP.upload([("batch.zip", zip), (samples[7].lastPathComponent, single), ("broken.zip", zip.prefix(100))],
                                          to: server.base.appendingPathComponent("api/predict"))
        let raw = try await HTTP.post(server.base.appendingPathComponent("api/predict"), body: zip, contentType: "application/zip")
        await server.stop()
        XCTAssertEqual(reply.status, 200, reply.text)
        let rows = try reply.predictions().results
        XCTAssertEqual(rows.map(\.file), samples[0..<3].map { "batch.zip/patient/" + $0.lastPathComponent }
                       + [samples[7].lastPathComponent, "broken.zip"])
        let expected = try referenceProbabilities(try (samples[0..<3] + [samples[7]]).map { try Data(contentsOf: $0) })
        XCTAssertEqual(rows[0..<4].map(\.pMalignant), expected.map { $0[1] })
        XCTAssertNotNil(rows[0].patient)
        XCTAssertTrue(rows[4].error?.contains("zip") == true, "\(rows[4])")
        XCTAssertEqual(raw.status, 200, raw.text)
        XCTAssertEqual(try raw.predictions().results.map(\.pMalignant), expected[0..<3].map { $0[1] })
    }

    func testRawPNGBodyWithNameAndThreshold() async throws {
        let server = try await RunningServer()
        let sample = try breakHisSamples()[6]
        var components = URLComponents(url: server.base.appendingPathComponent("api/predict"), resolvingAgainstBaseURL: false)!
        components.queryItems = [URLQueryItem(name: "name", value: sample.lastPathComponent), URLQueryItem(name: "threshold", value: "0.2")]
        let data = try Data(contentsOf: sample)
        let reply = try await HTTP.post(components.url!, body: data, contentType: "image/png")
        components.queryItems = [URLQueryItem(name: "threshold", value: "2")]
        let badThreshold = try await HTTP.post(components.url!, body: data, contentType: "image/png")
        await server.stop()
        XCTAssertEqual(reply.status, 200, reply.text)
        let answer = try reply.predictions()
        XCTAssertEqual(answer.threshold, 0.2)
        let row = try XCTUnwrap(answer.results.first)
        XCTAssertEqual(row.file, sample.lastPathComponent)
        XCTAssertEqual(row.pMalignant, try referenceProbabilities([data])[0][1])
        XCTAssertEqual(row.label, row.pMalignant! >= 0.2 ? "malignant" : "benign")
        XCTAssertEqual(row.magnification, 400)
        XCTAssertEqual(badThreshold.status, 400)
        XCTAssertTrue(try badThreshold.json()["error"] as? String == "threshold must be a number between 0 and 1, got '2'")
    }

    func testBadRequestsGetOneClearJSONError() async throws {
        var limits = ServeLimits()
        (limits.maxBodyBytes, limits.maxFiles) = (1 << 20, 3)
        let server = try await RunningServer(limits: limits)
        let url = server.base.appendingPathComponent("api/predict")
        let png = try Data(contentsOf: try breakHisSamples()[0])

        let text = try await HTTP.post(url, body: Data("hello, world".utf8), contentType: "image/png")
        let plain = try await HTTP.post(url, body: Data("a,b\n1,2\n".utf8), contentType: "text/csv")
        let empty = try await HTTP.post(url, body: Data(), contentType: "image/png")
        let noFiles = try await HTTP.upload([], to: url, fields: ["threshold": "0.5"])
        let tooLarge = try await HTTP.post(url, body: Data(count: 3 << 20), contentType: "image/png")
        let tooLargeForm = try await HTTP.upload([("big.png", Data(count: 2 << 20))], to: url)
        let tooMany = try await HTTP.upload(Array(repeating: ("a.png", png.prefix(10)), count: 4), to: url)
        let noBoundary = try await HTTP.post(url, body: Data("x".utf8), contentType: "multipart/form-data")
        let cut = try await HTTP.post(url, body: Data("--abc\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.png\"\r\n\r\n".utf8),
                                      contentType: "multipart/form-data; boundary=abc")
        let stillServing = try await HTTP.upload([("a.png", png)], to: url)
        await server.stop()

        func assertError(_ reply: Reply, _ status: Int, _ fragment: String, line: UInt = #line) {
            XCTAssertEqual(reply.status, status, reply.text, line: line)
            XCTAssertEqual(reply.headers["content-type"], "application/json; charset=utf-8", line: line)
            let message = (try? reply.json())?["error"] as? String ?? ""
            XCTAssertTrue(message.contains(fragment), "'\(message)' lacks '\(fragment)'", line: line)
        }
        assertError(text, 400, "not a PNG image: it starts with bytes 68 65 6c 6c 6f 2c 20 77")
        assertError(plain, 400, "Content-Type 'text/csv'")
        assertError(empty, 400, "the request body is empty")
        assertError(noFiles, 400, "no files in the request")
        assertError(tooLarge, 413, "at most 1 MiB per request")
        assertError(tooLargeForm, 413, "too large")
        assertError(tooMany, 413, "more than 3")
        assertError(noBoundary, 400, "without a boundary")
        assertError(cut, 400, "closing boundary")
        XCTAssertEqual(stillServing.status, 200, stillServing.text)
    }

    func testModelDescriptionHealthAndPage() async throws {
        let server = try await RunningServer(threshold: 0.4)
        let model = try await HTTP.get(server.base.appendingPathComponent("api/model"))
        let health = try await HTTP.get(server.base.appendingPathComponent("healthz"))
        let page = try await HTTP.get(server.base)
        let missing = try await HTTP.get(server.base.appendingPathComponent("uploads/a.png"))
        await server.stop()
        XCTAssertEqual(model.status, 200)
        let info = try JSONDecoder().decode(ModelInfo.self, from: model.body)
        XCTAssertEqual(info.model, try testModelID())
        XCTAssertEqual(info.architecture, "tiny_resnet")
        XCTAssertEqual(info.inputShape, [32, 32, 3])
        XCTAssertEqual(info.classNames, ["benign", "malignant"])
        XCTAssertEqual(info.positiveClass, "malignant")
        XCTAssertEqual(info.preprocessing, "torch")
        XCTAssertEqual(info.resize, "bilinear")
        XCTAssertEqual(info.threshold, 0.4)
        XCTAssertGreaterThan(info.parameters, 0)
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(try health.json()["status"] as? String, "ok")
        XCTAssertEqual(page.status, 200)
        XCTAssertEqual(page.headers["content-type"], "text/html; charset=utf-8")
        XCTAssertTrue(page.headers["content-security-policy"]?.hasPrefix("default-src 'none'") == true)
        XCTAssertTrue(page.text.contains("id=\"threshold\""))
        XCTAssertFalse(page.text.contains("http://") || page.text.contains("https://"), "the page refers to another site")
        XCTAssertEqual(missing.status, 404)
    }

    func testBusyServerAnswers503WithRetryAfter() async throws {
        var limits = ServeLimits()
        (limits.maxFiles, limits.queueCapacity, limits.maxBatch) = (4, 4, 4)
        let server = try await RunningServer(limits: limits)
        let files = try breakHisSamples()[0..<4].map { (name: $0.lastPathComponent, data: try Data(contentsOf: $0)) }
        let url = server.base.appendingPathComponent("api/predict")
        // Whether a request finds the queue full depends on timing: up to five rounds of 16 at once.
        var replies: [Reply] = []
        for _ in 0..<5 where !replies.contains(where: { $0.status == 503 }) {
            replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                for _ in 0..<16 { group.addTask { try await HTTP.upload(files, to: url, session: URLSession(configuration: .ephemeral)) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        await server.stop()
        let busy = replies.filter { $0.status == 503 }
        XCTAssertFalse(busy.isEmpty, "16 simultaneous requests of 4 images should overflow a queue of 4")
        XCTAssertTrue(busy.allSatisfy { $0.headers["retry-after"] == "1" && ((try? $0.json())?["error"] as? String)?.contains("busy") == true })
        XCTAssertEqual(replies.filter { $0.status == 200 }.count + busy.count, 16, replies.map(\.text).joined(separator: "\n"))
        XCTAssertGreaterThan(replies.filter { $0.status == 200 }.count, 0)
        XCTAssertEqual(server.server.model.model, try replies.first { $0.status == 200 }!.predictions().model)
    }
}
