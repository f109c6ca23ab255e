import Foundation
import XCTest

/// The real `bc-serve` executable: it starts, says where it listens, answers, and stops cleanly on SIGTERM;
/// a bad model or option ends it with one line naming the problem.
final class ServeCommandTests: XCTestCase {
    static let bcServe: String = {
        let bundle = Bundle(for: ServeCommandTests.self).bundleURL
        let candidates = [bundle, bundle.deletingLastPathComponent()].map { $0.appendingPathComponent("bc-serve").path }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }()

    func launch(_ arguments: [String]) throws -> (Process, Pipe) {
        let process = Process(), errors = Pipe()
        process.executableURL = URL(fileURLWithPath: Self.bcServe)
        process.arguments = arguments
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return (process, errors)
    }

    func testStartsAnswersAndStopsOnSIGTERM() async throws {
        let (process, errors) = try launch(["--model", testModelPath, "--port", "0", "--preprocessing", "torch"])
        // The first line names the model and the address with the port it got.
        let line = await Task.detached { () -> String in
            var text = Data()
            while !text.contains(UInt8(ascii: "\n")) {
                let chunk = errors.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                text.append(chunk)
            }
            return String(decoding: text, as: UTF8.self)
        }.value
        guard let range = line.range(of: #"http://127\.0\.0\.1:(\d+)/"#, options: .regularExpression),
              let url = URL(string: String(line[range])) else {
            process.terminate()
            return XCTFail("no address in bc-serve's first line: \(line)")
        }
        XCTAssertTrue(line.contains("tiny_resnet, 32x32, classes benign, malignant"), line)
        let health = try await HTTP.get(url.appendingPathComponent("healthz"))
        let sample = try Data(contentsOf: try breakHisSamples()[2])
        let reply = try await HTTP.post(url.appendingPathComponent("api/predict"), body: sample, contentType: "image/png")
        process.terminate()
        process.waitUntilExit()
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(reply.status, 200, reply.text)
        XCTAssertEqual(try reply.predictions().results.first?.pMalignant, try referenceProbabilities([sample])[0][1])
        XCTAssertEqual(process.terminationReason, .exit)
        XCTAssertEqual(process.terminationStatus, 0)
    }

    func testBadModelAndOptionsEndWithAClearError() throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-model.h5").path
        let notAModel = try breakHisSamples()[0].path
        let weakToken = FileManager.default.temporaryDirectory.appendingPathComponent("bc-serve-weak-token-\(getpid())").path
        try Data("secret\n".utf8).write(to: URL(fileURLWithPath: weakToken))
        defer { try? FileManager.default.removeItem(atPath: weakToken) }
        for (arguments, fragment) in [(["--model", missing], "--model: no file at \(missing)"), (["--model", notAModel], "bc-serve: error: \(notAModel)"),
                                      (["--model", testModelPath, "--threshold", "2"], "--threshold"),
                                      (["--model", testModelPath, "--preprocessing", "bgr"], "--preprocessing"),
                                      (["--model", testModelPath, "--host", "0.0.0.0"],
                                       "--host 0.0.0.0 opens the page and API to the network: give an access token"),
                                      (["--model", testModelPath, "--host", "127.example.com"],
                                       "--host 127.example.com opens the page and API to the network"),
                                      (["--model", testModelPath, "--token-file", weakToken],
                                       "--token-file \(weakToken): the access token must be at least 16 characters"),
                                      (["--model", testModelPath, "--tls-cert", notAModel], "--tls-cert and --tls-key go together"),
                                      (["--model", testModelPath, "--tls-cert", notAModel, "--tls-key", notAModel],
                                       "--tls-cert \(notAModel): not a readable PEM certificate")] {
            let (process, errors) = try launch(arguments)
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            XCTAssertNotEqual(process.terminationStatus, 0, text)
            XCTAssertTrue(text.contains(fragment), text)
        }
    }
}
