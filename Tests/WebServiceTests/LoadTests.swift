import Datasets
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Images
import WebService
import XCTest

/// Several users at once: 8 clients x 50 requests on loopback, batched together by the inference queue.
final class LoadTests: XCTestCase {
    func testEightClientsFiftyRequestsEachMatchSequentialAnswersInBoundedTimeAndMemory() async throws {
        let synthetic = try SyntheticHistology(patients: 4, imagesPerPatient: 4, size: 64, seed: 3)
        let images = try synthetic.items.map { (name: synthetic.name(of: $0).fileName, data: try PNGCodec.encode(synthetic.image(of: $0))) }
        // Request r of client c sends 1 to 3 images; the same request always sends the same images.
        func files(client: Int, request: Int) -> [(name: String, data: Data)] {
            let start = (client * 7 + request * 3) % images.count
            return (0..<(1 + (client + request) % 3)).map { images[(start + $0) % images.count] }
        }
        let server = try await RunningServer()
        let url = server.base.appendingPathComponent("api/predict")

        var sequential: [String: Double] = [:]
        for image in images {
            let reply = try await HTTP.upload([image], to: url)
            XCTAssertEqual(reply.status, 200, reply.text)
            sequential[image.name] = try XCTUnwrap(try reply.predictions().results.first?.pMalignant)
        }
        let reference = try referenceProbabilities(images.map(\.data))
        XCTAssertEqual(images.map { sequential[$0.name] }, reference.map { $0[1] }, "one-image requests differ from the predictor")

        let memoryBefore = residentMiB()
        let started = Date()
        let peak = PeakMemory()
        let sampler = Task { while !Task.isCancelled { peak.record(residentMiB()); try? await Task.sleep(nanoseconds: 50_000_000) } }
        let outcomes = try await withThrowingTaskGroup(of: (Int, Int, [String]).self) { group in
            for client in 0..<8 {
                group.addTask {
                    let session = URLSession(configuration: .ephemeral)
                    var failures: [String] = [], mismatches = 0
                    for request in 0..<50 {
                        let sent = files(client: client, request: request)
                        let reply = try await HTTP.upload(sent, to: url, session: session)
                        guard reply.status == 200, let answer = try? reply.predictions() else {
                            failures.append("client \(client) request \(request): \(reply.status) \(reply.text.prefix(200))")
                            continue
                        }
                        if answer.results.map(\.file) != sent.map(\.name)
                            || answer.results.map(\.pMalignant) != sent.map({ sequential[$0.name] }) { mismatches += 1 }
                    }
                    return (client, mismatches, failures)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let seconds = Date().timeIntervalSince(started)
        sampler.cancel()
        let health = try await HTTP.get(server.base.appendingPathComponent("healthz")).json()
        await server.stop()
        let predicted = try XCTUnwrap(health["predicted"] as? [String: Int])
        let sentImages = (0..<8).flatMap { client in (0..<50).map { files(client: client, request: $0).count } }.reduce(0, +)
        XCTAssertEqual(predicted["images"], images.count + sentImages)
        let batches = try XCTUnwrap(predicted["batches"])

        XCTAssertEqual(outcomes.count, 8)
        XCTAssertEqual(outcomes.flatMap(\.2), [], "failed requests")
        XCTAssertEqual(outcomes.map(\.1).reduce(0, +), 0, "answers under load differ from the sequential ones")
        XCTAssertLessThan(seconds, 240, "400 requests took \(seconds) s")
        let growth = peak.value - memoryBefore
        XCTAssertLessThan(growth, 300, "resident memory grew by \(growth) MiB under load")
        print("load: 400 requests (\(sentImages) images) in \(String(format: "%.1f", seconds)) s, \(batches - images.count) batches; "
              + "RSS \(Int(memoryBefore)) MiB before, peak \(Int(peak.value)) MiB")
    }
}

extension LoadTests {
    /// Requests that arrive while the model is busy wait together and go through it as one batch.
    func testRequestsThatWaitTogetherShareOneBatch() async throws {
        let server = try await RunningServer()
        let samples = try breakHisSamples()
        let files = try samples.map { (name: $0.lastPathComponent, data: try Data(contentsOf: $0)) }
        let url = server.base.appendingPathComponent("api/predict")
        let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
            group.addTask { try await HTTP.upload(files, to: url, session: URLSession(configuration: .ephemeral)) }
            // Once the first request is with the model, the others queue behind it.
            while try await HTTP.get(server.base.appendingPathComponent("healthz")).json()["waiting_images"] as? Int != 8 {
                try await Task.sleep(nanoseconds: 5_000_000)
            }
            for file in files { group.addTask { try await HTTP.upload([file], to: url, session: URLSession(configuration: .ephemeral)) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let health = try await HTTP.get(server.base.appendingPathComponent("healthz")).json()
        await server.stop()
        XCTAssertEqual(replies.map(\.status), Array(repeating: 200, count: 9))
        let predicted = try XCTUnwrap(health["predicted"] as? [String: Int])
        XCTAssertEqual(predicted["images"], 16)
        XCTAssertLessThanOrEqual(try XCTUnwrap(predicted["batches"]), 4, "9 requests, \(predicted)")
        let expected = try referenceProbabilities(files.map(\.data)).map { $0[1] }
        for reply in replies {
            for row in try reply.predictions().results {
                XCTAssertEqual(row.pMalignant, expected[files.firstIndex { $0.name == row.file }!], "batched with others")
            }
        }
    }
}

/// The largest value recorded, from any task.
final class PeakMemory: @unchecked Sendable {
    private let lock = NSLock()
    private var peak = 0.0

    func record(_ value: Double) { lock.withLock { peak = max(peak, value) } }
    var value: Double { lock.withLock { peak } }
}
