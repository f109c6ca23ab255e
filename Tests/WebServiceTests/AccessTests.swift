import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import NIOConcurrencyHelpers
import WebService
import XCTest

/// Who reaches bc-serve: with an access token nothing but `/healthz` answers without it; the sign-in form sets a
/// session cookie; the token is compared in constant time; requests are logged without file names unless asked;
/// HTTPS with a certificate made here.
final class AccessTests: XCTestCase {
    static let secret = "c0ffee-access-token-for-tests-0123456789"

    func request(_ url: URL, method: String = "GET", headers: [String: String] = [:], body: Data? = nil) -> URLRequest {
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.httpBody = body
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        return request
    }

    func testWithoutTheTokenEveryRouteButHealthzAnswers401() async throws {
        let server = try await RunningServer(token: try AccessToken(Self.secret, source: "test"))
        let sample = try Data(contentsOf: try breakHisSamples()[6])
        let routes: [(String, String, Data?)] = [("GET", "/", nil), ("GET", "/api/model", nil), ("POST", "/api/predict", sample),
                                                 ("GET", "/no-such-page", nil)]
        // No credentials, a wrong bearer token, a token one character short, a wrong cookie.
        let refusals: [[String: String]] = [[:], ["Authorization": "Bearer wrong-token-wrong-token-wrong"],
                                            ["Authorization": "Bearer " + Self.secret.dropLast()],
                                            ["Cookie": "\(AccessToken.cookieName)=wrong-token-wrong-token"]]
        var replies: [(String, Reply)] = []
        for (method, path, body) in routes {
            for headers in refusals {
                let reply = try await HTTP.send(request(server.base.appendingPathComponent(path), method: method,
                                                        headers: headers.merging(["Content-Type": "image/png"]) { a, _ in a }, body: body))
                replies.append(("\(method) \(path) \(headers)", reply))
            }
        }
        let health = try await HTTP.get(server.base.appendingPathComponent("healthz"))
        let bearer = ["Authorization": "Bearer " + Self.secret]
        let page = try await HTTP.send(request(server.base, headers: bearer))
        let model = try await HTTP.send(request(server.base.appendingPathComponent("api/model"), headers: bearer))
        let predicted = try await HTTP.send(request(server.base.appendingPathComponent("api/predict"), method: "POST",
                                                    headers: bearer.merging(["Content-Type": "image/png"]) { a, _ in a }, body: sample))
        await server.stop()

        for (what, reply) in replies {
            XCTAssertEqual(reply.status, 401, what)
            XCTAssertFalse(reply.text.contains("p_malignant") || reply.text.contains("class_names"), what)
        }
        let signInPage = replies[0].1
        XCTAssertTrue(signInPage.text.contains("name=\"token\"") && signInPage.text.contains("action=\"/sign-in\""), signInPage.text)
        XCTAssertEqual(replies[4].1.headers["www-authenticate"], #"Bearer realm="bc-serve""#)
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.text.contains("id=\"results\""))
        XCTAssertEqual(model.status, 200)
        XCTAssertEqual(predicted.status, 200, predicted.text)
        XCTAssertEqual(try predicted.predictions().results.first?.pMalignant, try referenceProbabilities([sample])[0][1])
    }

    func testSignInSetsASessionCookieThatOpensThePageAndTheAPI() async throws {
        let server = try await RunningServer(token: try AccessToken(Self.secret, source: "test"))
        // URLSession would follow the redirect; the test wants to see it.
        let session = URLSession(configuration: .ephemeral, delegate: NoRedirects(), delegateQueue: nil)
        func signIn(_ token: String) async throws -> Reply {
            let form = "token=" + token.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            return try await HTTP.send(request(server.base.appendingPathComponent("sign-in"), method: "POST",
                                               headers: ["Content-Type": "application/x-www-form-urlencoded"], body: Data(form.utf8)),
                                       session: session)
        }
        let wrong = try await signIn("not-the-token-not-the-token")
        let huge = try await signIn(String(repeating: "x", count: 5000))
        let right = try await signIn(Self.secret)
        let cookie = "\(AccessToken.cookieName)=\(Self.secret)"
        let model = try await HTTP.send(request(server.base.appendingPathComponent("api/model"), headers: ["Cookie": "theme=dark; " + cookie]))
        await server.stop()

        XCTAssertEqual(huge.status, 413, huge.text)
        XCTAssertEqual(wrong.status, 401)
        XCTAssertTrue(wrong.text.contains("That is not this server's access token."), wrong.text)
        XCTAssertNil(wrong.headers["set-cookie"])
        XCTAssertEqual(right.status, 303)
        XCTAssertEqual(right.headers["location"], "/")
        // A session cookie (no Expires or Max-Age), out of reach of scripts and of other sites; not Secure over plain HTTP.
        XCTAssertEqual(right.headers["set-cookie"], cookie + "; Path=/; HttpOnly; SameSite=Strict")
        XCTAssertEqual(model.status, 200, model.text)
    }

    /// The comparison's time must not tell how much of a guess is right. A 1 MiB token makes the difference between
    /// comparing one byte and comparing all of them large (a plain `==` stops at the first differing byte).
    func testATokenIsComparedInConstantTime() throws {
        let secret = String(repeating: "a", count: 1 << 20)
        let token = try AccessToken(secret, source: "test")
        let wrongFirst = Array(("b" + secret.dropFirst()).utf8), wrongLast = Array((secret.dropLast() + "b").utf8)
        XCTAssertTrue(token.matches(Array(secret.utf8)))
        for wrong in [wrongFirst, wrongLast, Array(secret.dropLast().utf8), Array((secret + "a").utf8), []] {
            XCTAssertFalse(token.matches(wrong))
        }
        func medianSeconds(_ candidate: [UInt8]) -> Double {
            let times = (0..<15).map { _ in
                let start = DispatchTime.now().uptimeNanoseconds
                XCTAssertFalse(token.matches(candidate))
                return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            }
            return times.sorted()[times.count / 2]
        }
        let (first, last) = (medianSeconds(wrongFirst), medianSeconds(wrongLast))
        XCTAssertEqual(first / last, 1, accuracy: 0.5, "median \(first) s when the first byte differs, \(last) s when the last does")
    }

    func testTokensThatAreTooWeakOrUnsafeInACookieAreRefused() throws {
        for bad in ["", "short-token", "has space in the middle of it", "semi;colon-is-not-allowed-here", "ünïcödé-ünïcödé-ünïcödé"] {
            XCTAssertThrowsError(try AccessToken(bad, source: "BC_SERVE_TOKEN")) { error in
                XCTAssertTrue("\(error)".hasPrefix("BC_SERVE_TOKEN: the access token must be at least 16 characters"), "\(error)")
            }
        }
        let folder = try temporaryFolder(self)
        let file = folder.appendingPathComponent("token")
        try Data((Self.secret + "\n").utf8).write(to: file)
        XCTAssertTrue(try AccessToken.read(file: file.path).matches(Self.secret.utf8))
        XCTAssertThrowsError(try AccessToken.read(file: folder.appendingPathComponent("missing").path)) { error in
            XCTAssertTrue("\(error)".contains("--token-file: cannot read"), "\(error)")
        }
    }

    func testTheRequestLogCountsFilesAndNamesThemOnlyWhenAsked() async throws {
        let good = try Data(contentsOf: try breakHisSamples()[1])
        let files: [(name: String, data: Data)] = [("SOB_B_A-14-22549AB-400-001.png", good), ("broken.png", Data("no".utf8))]
        var logs: [[String]] = []
        for fileNames in [false, true] {
            let lines = NIOLockedValueBox<[String]>([])
            let server = try await RunningServer(requestLog: RequestLogOptions(fileNames: fileNames) { line in
                lines.withLockedValue { $0.append(line) }
            })
            let reply = try await HTTP.upload(files, to: server.base.appendingPathComponent("api/predict").appending(queryItems: [
                URLQueryItem(name: "threshold", value: "0.5")]))
            _ = try await HTTP.get(server.base.appendingPathComponent("healthz"))
            await server.stop()
            XCTAssertEqual(reply.status, 200, reply.text)
            logs.append(lines.withLockedValue { $0 })
        }
        let label = try referenceProbabilities([good])[0][1] >= 0.5 ? "malignant" : "benign"
        for (lines, fileNames) in zip(logs, [false, true]) {
            XCTAssertEqual(lines.count, 2, "\(lines)")
            let predict = lines.first ?? ""
            XCTAssertNotNil(predict.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ 127\.0\.0\.1 POST /api/predict 200 \d+ ms "#,
                                          options: .regularExpression), predict)
            XCTAssertTrue(predict.hasSuffix("files=2 unreadable=1 \(label)=1" + (fileNames ? #" names=["\#(files[0].name)","broken.png"]"# : "")),
                          predict)
            XCTAssertFalse(predict.contains("threshold"), "the query is not logged: \(predict)")
            XCTAssertTrue(lines.last?.contains(" GET /healthz 200 ") == true, "\(lines)")
            if !fileNames { XCTAssertFalse(lines.joined().contains(".png"), "\(lines)") }
        }
    }

    func testServesHTTPSWithASelfSignedCertificate() async throws {
        for tool in ["/usr/bin/openssl", "/usr/bin/curl"] where !FileManager.default.isExecutableFile(atPath: tool) {
            return XCTFail("\(tool) is missing: run ./Launch/test.sh (it installs Debian's openssl and curl)")
        }
        let folder = try temporaryFolder(self)
        let (certificate, key) = (folder.appendingPathComponent("cert.pem").path, folder.appendingPathComponent("key.pem").path)
        let made = try runExecutable("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
                                                          "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"])
        XCTAssertEqual(made.status, 0, made.errors)
        let server = try await RunningServer(token: try AccessToken(Self.secret, source: "test"),
                                             tls: TLSFiles(certificate: certificate, key: key))
        let base = server.base
        let (trusted, plain, unverified) = try await Task.detached {
            (try runExecutable("/usr/bin/curl", ["-sS", "--cacert", certificate, "-H", "Authorization: Bearer \(Self.secret)",
                                                 base.appendingPathComponent("api/model").absoluteString]),
             try runExecutable("/usr/bin/curl", ["-sS", "http://127.0.0.1:\(base.port!)/healthz"]),
             try runExecutable("/usr/bin/curl", ["-sS", base.appendingPathComponent("healthz").absoluteString]))
        }.value
        await server.stop()

        XCTAssertEqual(base.scheme, "https")
        XCTAssertEqual(trusted.status, 0, trusted.errors)
        XCTAssertTrue(trusted.output.contains(#""class_names":["benign","malignant"]"#), trusted.output)
        XCTAssertNotEqual(plain.status, 0, "plain HTTP must not be answered: \(plain.output)")
        XCTAssertNotEqual(unverified.status, 0, "curl must refuse the self-signed certificate without --cacert")
    }
}

/// Lets a test see a redirect instead of following it.
final class NoRedirects: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        completionHandler(nil)
    }
}
