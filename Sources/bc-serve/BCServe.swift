import ArgumentParser
import BuildInfo
import Foundation
import Hummingbird
import Images
import Serving
import WebService

extension TestTimeAugmentation: ExpressibleByArgument {}

/// `bc-serve --model best.h5 [--port 8080] [--host 127.0.0.1]`: the prediction page and JSON API. Beyond
/// loopback it needs an access token (or an explicit `--insecure`); TLS with `--tls-cert` and `--tls-key`.
@main
struct BCServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bc-serve",
        abstract: "Serve a bc-train checkpoint or Keras .h5 model: a web page and a JSON API for batches of PNG patches.",
        version: BuildInfo.describe(tool: "bc-serve"))

    @Option(help: "The model: a bc-train checkpoint or a Keras full-model .h5.") var model: String
    @Option(help: "Address to listen on (127.0.0.1: this machine only).") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0: any free port).") var port = 8080
    @Option(help: "oneDNN threads for inference.") var threads = 1
    @Option(help: "P(malignant) at or above which an image is called malignant (the page's slider starts here).")
    var threshold = 0.5
    @Option(help: "Input preprocessing when the model file does not say (caffe, torch, none).") var preprocessing: String?
    @Option(help: "Test-time augmentation: off, flips (4 views) or dihedral (8 views); with views, each image gets its spread and the page flags images whose views disagree.")
    var tta: TestTimeAugmentation = .off
    @Option(help: "Predict each image from an N x N grid of overlapping crops (each 2/(N+1) of its width and height, resized to the model's input) and average them; the page shows each image's crop map.")
    var crops: Int?
    @Option(help: "Images run through the model at once.") var maxBatch = ServeLimits().maxBatch
    @Option(help: "Files per request (zip entries count).") var maxFiles = ServeLimits().maxFiles
    @Option(help: "MiB per request body.") var maxUploadMb = ServeLimits().maxBodyBytes >> 20
    @Option(help: "Images waiting for the model across all requests; beyond, requests get 503.")
    var queueCapacity = ServeLimits().queueCapacity
    @Option(help: "A file whose first line is the access token (or set BC_SERVE_TOKEN). Required with a --host beyond this machine unless --insecure; browsers sign in once per session, scripts send 'Authorization: Bearer TOKEN'.")
    var tokenFile: String?
    @Flag(help: "Serve beyond this machine without an access token: anyone who reaches the port can use it.")
    var insecure = false
    @Option(help: "PEM certificate (chain) to serve HTTPS with; needs --tls-key.") var tlsCert: String?
    @Option(help: "PEM private key of --tls-cert.") var tlsKey: String?
    @Flag(help: "Name the uploaded files in the request log (off: file names can identify patients).")
    var logFileNames = false

    static let tokenVariable = "BC_SERVE_TOKEN"

    /// 127.0.0.0/8, ::1 and localhost: only processes on this machine can connect.
    var isLoopback: Bool {
        var ipv4 = in_addr(), ipv6 = in6_addr()
        if inet_pton(AF_INET, host, &ipv4) == 1 { return UInt32(bigEndian: ipv4.s_addr) >> 24 == 127 }
        if inet_pton(AF_INET6, host, &ipv6) == 1 { return withUnsafeBytes(of: ipv6) { $0.elementsEqual([UInt8](repeating: 0, count: 15) + [1]) } }
        return host == "localhost"
    }

    func validate() throws {
        guard FileManager.default.fileExists(atPath: model) else { throw ValidationError("--model: no file at \(model)") }
        guard (0...1).contains(threshold) else { throw ValidationError("--threshold must be between 0 and 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        if let crops, CropGrid(side: crops) == nil { throw ValidationError("--crops must be 2 to 16 (crops per side), got \(crops)") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard maxBatch >= 1, maxFiles >= 1, maxUploadMb >= 1 else {
            throw ValidationError("--max-batch, --max-files and --max-upload-mb must be at least 1")
        }
        guard queueCapacity >= maxFiles else { throw ValidationError("--queue-capacity must be at least --max-files") }
        if let preprocessing, Preprocessing(rawValue: preprocessing) == nil {
            throw ValidationError("--preprocessing must be caffe, torch or none")
        }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        if tokenFile != nil, ProcessInfo.processInfo.environment[Self.tokenVariable] != nil {
            throw ValidationError("--token-file and \(Self.tokenVariable) both give a token: keep one")
        }
        if !isLoopback, !insecure, tokenFile == nil, ProcessInfo.processInfo.environment[Self.tokenVariable] == nil {
            throw ValidationError("--host \(host) opens the page and API to the network: give an access token "
                                  + "(--token-file FILE or \(Self.tokenVariable)), or --insecure to serve without one")
        }
    }

    func accessToken() throws -> AccessToken? {
        if let tokenFile { return try AccessToken.read(file: tokenFile) }
        return try ProcessInfo.processInfo.environment[Self.tokenVariable].map { try AccessToken($0, source: Self.tokenVariable) }
    }

    var tlsFiles: TLSFiles? { tlsCert.flatMap { certificate in tlsKey.map { TLSFiles(certificate: certificate, key: $0) } } }

    func run() async throws {
        var limits = ServeLimits()
        (limits.maxBatch, limits.maxFiles, limits.maxBodyBytes, limits.queueCapacity) = (maxBatch, maxFiles, maxUploadMb << 20, queueCapacity)
        let (path, threads, preprocessing, tta) = (model, threads, preprocessing.flatMap(Preprocessing.init(rawValue:)), tta)
        let grid = crops.flatMap(CropGrid.init(side:))
        let log = RequestLogOptions(fileNames: logFileNames) { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
        let server: WebServer, token: AccessToken?, tls = tlsFiles
        do {
            token = try accessToken()
            try tls?.check()
            server = try WebServer(limits: limits, threshold: threshold, token: token, requestLog: log) {
                try Predictor(modelPath: path, threads: threads, preprocessing: preprocessing, testTimeAugmentation: tta, crops: grid)
            }
        } catch {
            FileHandle.standardError.write(Data("bc-serve: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        if let warning = server.model.cropWarning { FileHandle.standardError.write(Data("bc-serve: warning: \(warning)\n".utf8)) }
        if !isLoopback, tls == nil {
            FileHandle.standardError.write(Data(("bc-serve: warning: without --tls-cert and --tls-key, images"
                + (token == nil ? "" : " and the access token") + " cross the network unencrypted\n").utf8))
        }
        let (host, info, scheme) = (host, server.model, tls == nil ? "http" : "https")
        let access = (info.temperature.map { String(format: ", temperature %.4f", $0) } ?? "") + (token == nil ? "" : ", access token required")
        do {
            let app = try server.application(host: host, port: port, tls: tls) { bound in
                let shown = host.contains(":") ? "[\(host)]" : host
                FileHandle.standardError.write(Data(("bc-serve: \(info.model) (\(info.architecture), \(info.inputShape[0])x\(info.inputShape[1]), "
                    + "classes \(info.classNames.joined(separator: ", "))) on \(scheme)://\(shown):\(bound)/\(access)\n").utf8))
            }
            try await app.runService()
        } catch {
            FileHandle.standardError.write(Data("bc-serve: error: cannot serve on \(host):\(port): \(error)\n".utf8))
            throw ExitCode(1)
        }
        server.stop()
    }
}
