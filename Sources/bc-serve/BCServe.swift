import ArgumentParser
import BuildInfo
import Foundation
import Hummingbird
import Images
import Serving
import WebService

/// `bc-serve --model best.h5 [--port 8080] [--host 127.0.0.1]`: the prediction page and JSON API.
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
    @Option(help: "Images run through the model at once.") var maxBatch = ServeLimits().maxBatch
    @Option(help: "Files per request (zip entries count).") var maxFiles = ServeLimits().maxFiles
    @Option(help: "MiB per request body.") var maxUploadMb = ServeLimits().maxBodyBytes >> 20
    @Option(help: "Images waiting for the model across all requests; beyond, requests get 503.")
    var queueCapacity = ServeLimits().queueCapacity

    func validate() throws {
        guard FileManager.default.fileExists(atPath: model) else { throw ValidationError("--model: no file at \(model)") }
        guard (0...1).contains(threshold) else { throw ValidationError("--threshold must be between 0 and 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard maxBatch >= 1, maxFiles >= 1, maxUploadMb >= 1 else {
            throw ValidationError("--max-batch, --max-files and --max-upload-mb must be at least 1")
        }
        guard queueCapacity >= maxFiles else { throw ValidationError("--queue-capacity must be at least --max-files") }
        if let preprocessing, Preprocessing(rawValue: preprocessing) == nil {
            throw ValidationError("--preprocessing must be caffe, torch or none")
        }
    }

    func run() async throws {
        var limits = ServeLimits()
        (limits.maxBatch, limits.maxFiles, limits.maxBodyBytes, limits.queueCapacity) = (maxBatch, maxFiles, maxUploadMb << 20, queueCapacity)
        let (path, threads, preprocessing) = (model, threads, preprocessing.flatMap(Preprocessing.init(rawValue:)))
        let server: WebServer
        do {
            server = try WebServer(limits: limits, threshold: threshold) {
                try Predictor(modelPath: path, threads: threads, preprocessing: preprocessing)
            }
        } catch {
            FileHandle.standardError.write(Data("bc-serve: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let (host, info) = (host, server.model)
        let app = server.application(host: host, port: port) { bound in
            let shown = host.contains(":") ? "[\(host)]" : host
            FileHandle.standardError.write(Data(("bc-serve: \(info.model) (\(info.architecture), \(info.inputShape[0])x\(info.inputShape[1]), "
                + "classes \(info.classNames.joined(separator: ", "))) on http://\(shown):\(bound)/\n").utf8))
        }
        do {
            try await app.runService()
        } catch {
            FileHandle.standardError.write(Data("bc-serve: error: cannot serve on \(host):\(port): \(error)\n".utf8))
            throw ExitCode(1)
        }
        server.stop()
    }
}
