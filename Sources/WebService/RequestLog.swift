import Foundation
import Hummingbird

/// Where bc-serve's request log goes, and whether prediction lines may name the files (off by default: file
/// names can identify patients).
public struct RequestLogOptions: Sendable {
    public let fileNames: Bool
    public let write: @Sendable (String) -> Void

    public init(fileNames: Bool = false, write: @escaping @Sendable (String) -> Void) {
        self.fileNames = fileNames
        self.write = write
    }
}

/// One line per request: time (UTC), client address, method, path (never the query), status, milliseconds, and
/// what a prediction did (files, unreadable files, calls per class). Never image content.
struct RequestLog: RouterMiddleware {
    typealias Context = ServeRequestContext
    let options: RequestLogOptions

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            write(request, context, status: status.code, start: start)
            throw error
        }
        write(request, context, status: response.status.code, start: start)
        return response
    }

    private func write(_ request: Request, _ context: Context, status: Int, start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let milliseconds = Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) * 1e-15
        let time = Date().formatted(.iso8601)
        let client = context.remoteAddress?.ipAddress ?? "-"
        options.write("\(time) \(client) \(request.method) \(request.uri.path) \(status) \(String(format: "%.0f", milliseconds)) ms"
                      + (context.outcome.summary.map { " " + $0 } ?? ""))
    }

    /// The outcome of a prediction request, for its log line.
    static func summary(of rows: [ServedPrediction], fileNames: Bool) -> String {
        var calls: [String: Int] = [:]
        for label in rows.compactMap(\.label) { calls[label, default: 0] += 1 }
        var text = "files=\(rows.count) unreadable=\(rows.filter { $0.error != nil }.count)"
        text += calls.keys.sorted().map { " \($0)=\(calls[$0]!)" }.joined()
        if fileNames, let names = try? JSONEncoder().encode(rows.map(\.file)) { text += " names=" + String(decoding: names, as: UTF8.self) }
        return text
    }
}
