import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// With an access token, only `/healthz` and the sign-in form answer without it; every other route answers 401
/// (the page's route with the sign-in form, the API with JSON and `WWW-Authenticate: Bearer`).
struct AccessControl: RouterMiddleware {
    typealias Context = ServeRequestContext
    let token: AccessToken

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let open = request.uri.path == "/healthz" || (request.uri.path == SignIn.path && request.method == .post)
        if open || Self.presentedTokens(request).contains(where: token.matches) {
            return try await next(request, context)
        }
        if request.uri.path == "/" { return SignIn.page(status: .unauthorized, problem: nil) }
        var response = WebServer.error(.unauthorized, "this server needs its access token: reload the page to sign in, "
                                       + "or send the header 'Authorization: Bearer TOKEN'")
        response.headers[.wwwAuthenticate] = #"Bearer realm="bc-serve""#
        return response
    }

    /// The bearer token of the Authorization header and the session cookie's value, as sent.
    static func presentedTokens(_ request: Request) -> [Substring.UTF8View] {
        var tokens: [Substring.UTF8View] = []
        if let authorization = request.headers[.authorization], authorization.lowercased().hasPrefix("bearer ") {
            tokens.append(authorization.dropFirst("bearer ".count).trimmingCharacters(in: .whitespaces)[...].utf8)
        }
        for header in request.headers[values: .cookie] {
            for cookie in header.split(separator: ";") {
                let pair = cookie.drop(while: { $0 == " " })
                if pair.hasPrefix(AccessToken.cookieName + "=") { tokens.append(pair.dropFirst(AccessToken.cookieName.count + 1).utf8) }
            }
        }
        return tokens
    }
}

/// The sign-in form: `POST /sign-in` with the token sets a cookie that lasts until the browser closes (HttpOnly,
/// SameSite=Strict, and Secure over TLS) and goes back to the page.
enum SignIn {
    static let path = "/sign-in"

    static func handle(_ request: Request, token: AccessToken, secure: Bool) async throws -> Response {
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: 4096) } catch is NIOTooManyBytesError {
            return WebServer.error(.contentTooLarge, "a sign-in form is at most 4 KiB")
        }
        let form = String(buffer: body)
        let value = form.split(separator: "&").first { $0.hasPrefix("token=") }
            .flatMap { $0.dropFirst("token=".count).replacingOccurrences(of: "+", with: " ").removingPercentEncoding } ?? ""
        guard token.matches(value.utf8) else { return page(status: .unauthorized, problem: "That is not this server's access token.") }
        let attributes = "Path=/; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
        return Response(status: .seeOther, headers: [.location: "/", .setCookie: "\(AccessToken.cookieName)=\(value); \(attributes)",
                                                     .cacheControl: "no-store"])
    }

    static func page(status: HTTPResponse.Status, problem: String?) -> Response {
        let html = Pages.signIn.replacingOccurrences(of: "<!--problem-->", with: problem.map { "<p class=\"problem\">\($0)</p>" } ?? "")
        var headers = WebServer.pageHeaders
        headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; "
            + "frame-ancestors 'none'"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}
