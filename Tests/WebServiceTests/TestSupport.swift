import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Images
import Logging
import Serving
import ServiceLifecycle
@_exported import TestSupport
import WebService
import XCTest

/// The eight real BreakHis 400X samples (700x460), benign then malignant, sorted by name.
func breakHisSamples() throws -> [URL] {
    let root = breakHisSampleFolder.appendingPathComponent("400X")
    return try ["benign", "malignant"].flatMap { label -> [URL] in
        let folder = root.appendingPathComponent(label)
        return try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasSuffix(".png") }.sorted().map { folder.appendingPathComponent($0) }
    }
}

/// The test model, written once per test process.
let testModelPath: String = {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("bc-serve-model-\(getpid()).h5").path
    do { try TestModel.write(to: path) } catch { fatalError("cannot write the test model: \(error)") }
    atexit { try? FileManager.default.removeItem(atPath: testModelPath) }
    return path
}()

/// bc-serve's application running in this process on an ephemeral loopback port.
final class RunningServer {
    let server: WebServer
    let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, Error>

    let scheme: String

    var base: URL { URL(string: "\(scheme)://127.0.0.1:\(port)")! }

    init(limits: ServeLimits = ServeLimits(), threshold: Double = 0.5, token: AccessToken? = nil,
         requestLog: RequestLogOptions? = nil, tls: TLSFiles? = nil, testTimeAugmentation: TestTimeAugmentation = .off,
         crops: CropGrid? = nil) async throws {
        let path = testModelPath
        server = try WebServer(limits: limits, threshold: threshold, token: token, requestLog: requestLog) {
            try TestModel.predictor(path, testTimeAugmentation: testTimeAugmentation, crops: crops)
        }
        scheme = tls == nil ? "http" : "https"
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = try server.application(host: "127.0.0.1", port: 0, tls: tls) { continuation.yield($0) }
        group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "bc-serve-test")))
        task = Task { [group] in try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw URLError(.cannotConnectToHost) }
        self.port = port
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        server.stop()
    }
}

/// An answer: status, headers and body.
struct Reply {
    let status: Int
    let headers: [String: String]
    let body: Data

    var text: String { String(decoding: body, as: UTF8.self) }

    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw URLError(.cannotParseResponse)
        }
        return object
    }

    func predictions() throws -> PredictionResponse { try JSONDecoder().decode(PredictionResponse.self, from: body) }
}

enum HTTP {
    static func send(_ request: URLRequest, session: URLSession = .shared) async throws -> Reply {
        let (data, response) = try await session.data(for: request)
        let http = response as! HTTPURLResponse
        let headers = Dictionary(http.allHeaderFields.map { ("\($0.key)".lowercased(), "\($0.value)") }) { a, _ in a }
        return Reply(status: http.statusCode, headers: headers, body: data)
    }

    static func get(_ url: URL, session: URLSession = .shared) async throws -> Reply {
        try await send(URLRequest(url: url), session: session)
    }

    static func post(_ url: URL, body: Data, contentType: String, session: URLSession = .shared) async throws -> Reply {
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue(contentType, forHTTPHeaderField: "Content-Type")
        request.timeoutInterval = 120
        return try await send(request, session: session)
    }

    /// POSTs files as multipart/form-data fields named "files", as the page's form does.
    static func upload(_ files: [(name: String, data: Data)], to url: URL, fields: [String: String] = [:],
                       session: URLSession = .shared) async throws -> Reply {
        let boundary = "bc-serve-test-\(UUID().uuidString)"
        var body = Data()
        for (key, value) in fields {
            body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(key)\"\r\n\r\n\(value)\r\n".utf8))
        }
        for file in files {
            body.append(Data(("--\(boundary)\r\nContent-Disposition: form-data; name=\"files\"; filename=\"\(file.name)\"\r\n"
                              + "Content-Type: application/octet-stream\r\n\r\n").utf8))
            body.append(file.data)
            body.append(Data("\r\n".utf8))
        }
        body.append(Data("--\(boundary)--\r\n".utf8))
        return try await post(url, body: body, contentType: "multipart/form-data; boundary=\(boundary)", session: session)
    }
}

/// The predictor's own probabilities for PNG files, in one batch.
/// What the server calls the model: the Predictor's id (file name and weights digest).
func testModelID() throws -> String { try TestModel.predictor(testModelPath).modelID }

func referenceProbabilities(_ files: [Data]) throws -> [[Double]] {
    try referenceScores(files).map(\.probabilities)
}

/// The predictor's own probabilities and test-time augmentation spreads.
func referenceScores(_ files: [Data], testTimeAugmentation: TestTimeAugmentation = .off, crops: CropGrid? = nil) throws -> [Predictor.Outcome] {
    let images = try files.map { try PNGCodec.decode($0, source: "reference") }
    return try TestModel.predictor(testModelPath, testTimeAugmentation: testTimeAugmentation, crops: crops).predictWithSpread(images)
}

/// This process's resident memory in MiB (Linux).
func residentMiB() -> Double {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kB = Double(line.split(separator: " ").dropFirst().first ?? "") else { return .nan }
    return kB / 1024
}

/// `runPython` off this thread's executor: the server under test runs in this process.
func runPythonDetached(_ script: String, _ arguments: [String]) async throws -> String {
    try await Task.detached { try runPython(script, arguments) }.value
}
