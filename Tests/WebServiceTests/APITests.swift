import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Images
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
        XCTAssertEqual(answer.model, URL(fileURLWithPath: testModelPath).lastPathComponent)
        XCTAssertEqual(answer.threshold, 0.5)
        XCTAssertEqual(answer.results.map(\.file), files.map(\.name))
        for (row, probabilities) in zip(answer.results, expected) {
            XCTAssertNil(row.error)
            XCTAssertEqual(row.probabilities, ["benign": probabilities[0], "malignant": probabilities[1]], row.file)
            XCTAssertEqual(row.pMalignant, probabilities[1])
            XCTAssertEqual(row.label, probabilities[1] >= 0.5 ? "malignant" : "benign")
            XCTAssertEqual(row.magnification, 400)
            XCTAssertNotNil(row.patient)
        }
        XCTAssertEqual(answer.results[0].patient, String(files[0].name.split(separator: "-")[1...2].joined(separator: "-")))
        XCTAssertEqual(Set(answer.results.compactMap(\.label)), ["benign", "malignant"], "the test model should call both classes")
    }
}
