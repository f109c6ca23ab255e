import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import Serving

/// bc-serve: the page at `/`, `POST /api/predict` (`?heatmaps=true` adds each image's Grad-CAM), `GET /api/model`
/// and `GET /healthz`, in front of one
/// inference queue; with an access token, `POST /sign-in` too, and nothing but `/healthz` without the token.
public struct WebServer: Sendable {
    public let model: ModelInfo
    public let limits: ServeLimits
    public let token: AccessToken?
    public let requestLog: RequestLogOptions?
    let queue: InferenceQueue

    /// Loads the model (on the inference thread, through `load`); throws its error.
    public init(limits: ServeLimits = ServeLimits(), threshold: Double = 0.5, token: AccessToken? = nil,
                requestLog: RequestLogOptions? = nil, load: @escaping @Sendable () throws -> Predictor) throws {
        precondition((0...1).contains(threshold), "threshold must be between 0 and 1")
        precondition(limits.queueCapacity >= limits.maxFiles, "the queue must hold at least one full request")
        (queue, model) = try InferenceQueue.start(capacity: limits.queueCapacity, maxBatch: limits.maxBatch,
                                                  maxSide: limits.maxSide, threshold: threshold, load: load)
        (self.limits, self.token, self.requestLog) = (limits, token, requestLog)
    }

    /// The HTTP application on `host:port` (port 0: any free port), over TLS when `tls` is given; `onRunning` gets
    /// the bound port.
    public func application(host: String = "127.0.0.1", port: Int = 8080, tls: TLSFiles? = nil,
                            onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        var logger = Logger(label: "bc-serve")
        logger.logLevel = .warning
        return Application(router: router(secureCookie: tls != nil), server: try tls.map { try .tls(.http1(), tlsConfiguration: $0.configuration()) } ?? .http1(),
                           configuration: .init(address: .hostname(host, port: port), serverName: "bc-serve"),
                           onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
                           logger: logger)
    }

    /// Lets the images already accepted finish, then ends the inference thread.
    public func stop() { queue.stop() }

    func router(secureCookie: Bool) -> Router<ServeRequestContext> {
        let router = Router(context: ServeRequestContext.self)
        if let requestLog { router.add(middleware: RequestLog(options: requestLog)) }
        if let token {
            router.add(middleware: AccessControl(token: token))
            router.post(RouterPath(SignIn.path)) { request, _ in try await SignIn.handle(request, token: token, secure: secureCookie) }
        }
        router.get("/") { _, _ in
            Response(status: .ok, headers: Self.pageHeaders, body: .init(byteBuffer: ByteBuffer(string: Pages.index)))
        }
        router.get("/healthz") { _, _ in
            Self.json(Health(status: "ok", model: model.model, waitingImages: queue.waitingImages, predicted: queue.statistics))
        }
        router.get("/api/model") { _, _ in Self.json(model) }
        router.post("/api/predict") { request, context in
            do {
                let answer = try await predict(request)
                context.outcome.summary = RequestLog.summary(of: answer.results, fileNames: requestLog?.fileNames ?? false)
                return Self.json(answer)
            } catch let failure as RequestFailure {
                return Self.error(failure.status, failure.message)
            } catch is QueueFull {
                var response = Self.error(.serviceUnavailable, "the server is busy: \(queue.capacity) images are waiting "
                                          + "for the model; try again in a moment")
                response.headers[.retryAfter] = "1"
                return response
            }
        }
        return router
    }

    func predict(_ request: Request) async throws -> PredictionResponse {
        let threshold = try Self.threshold(request, default: model.threshold)
        let heatmaps = try Self.flag("heatmaps", request)
        if heatmaps && model.heatmapLayer == nil {
            throw RequestFailure(.badRequest, "heatmaps: the model has no layer with a height and width for Grad-CAM")
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limits.maxBodyBytes {
            throw tooLarge(length)
        }
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: limits.maxBodyBytes) } catch is NIOTooManyBytesError {
            throw tooLarge(nil)
        }
        let files = try UploadReader(limits: limits).files(body: body, contentType: request.headers[.contentType],
                                                           name: request.uri.queryParameters.get("name"))
        let readable = files.indices.compactMap { index in
            (try? files[index].content.get()).map { (index, Upload(name: files[index].name, bytes: $0)) }
        }
        var outcomes = files.map { file in file.content.map { _ in ImageScore(probabilities: [], spread: 0) } }
        for ((index, _), outcome) in zip(readable, try await queue.predict(readable.map(\.1), heatmapThreshold: heatmaps ? threshold : nil)) { outcomes[index] = outcome }
        let rows = zip(files, outcomes).map { ServedPrediction(file: $0.name, outcome: $1, model: model, threshold: threshold) }
        return PredictionResponse(model: model.model, threshold: threshold, results: rows)
    }

    private func tooLarge(_ length: Int?) -> RequestFailure {
        RequestFailure(.contentTooLarge, "the upload is too large: " + (length.map { "\($0 >> 20) MiB, " } ?? "")
                       + "at most \(limits.maxBodyBytes >> 20) MiB per request; send the images in several requests")
    }

    private static func threshold(_ request: Request, default value: Double) throws -> Double {
        guard let text = request.uri.queryParameters.get("threshold") else { return value }
        guard let threshold = Double(text), (0...1).contains(threshold) else {
            throw RequestFailure(.badRequest, "threshold must be a number between 0 and 1, got '\(text)'")
        }
        return threshold
    }

    /// A yes/no query parameter: absent or false/0 is no, true/1 yes.
    private static func flag(_ name: String, _ request: Request) throws -> Bool {
        guard let text = request.uri.queryParameters.get(name) else { return false }
        switch text.lowercased() {
        case "true", "1": return true
        case "false", "0": return false
        default: throw RequestFailure(.badRequest, "\(name) must be true or false, got '\(text)'")
        }
    }

    struct Health: Codable {
        let status: String
        let model: String
        let waitingImages: Int
        let predicted: InferenceQueue.Statistics

        enum CodingKeys: String, CodingKey { case status, model, waitingImages = "waiting_images", predicted }
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data(#"{"error":"cannot encode the answer"}"#.utf8)
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        json(["error": message], status: status)
    }

    /// The page needs nothing from elsewhere; the policy makes sure it gets nothing (no CDN, fonts or scripts),
    /// and uploads shown in it are the user's own files as blob: URLs.
    static let pageHeaders: HTTPFields = [
        .contentType: "text/html; charset=utf-8",
        .contentSecurityPolicy: "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
            + "img-src blob: data:; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        .cacheControl: "no-store",
    ]
}
