import ArgumentParser
import Foundation
import Layers
import Models
import OneDNN
import Tensors

struct Infer: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inference images/s of whole Keras models here (batch norm folded or not) and in Keras `predict`.",
        discussion: """
            Each architecture with the report's classifier head, random weights, one fixed random batch. Ours: \
            `Graph.forward` as stored and with batch norm folded into the convolutions (what bc-predict and \
            bc-serve run), the folded model also with its ReLUs and additions run apart from the convolutions \
            before them (`fusesIntoConvolutions` off) to show what fusing them gains. The peer (Tests/Benchmarks/keras_predict.py) builds the same model in tf_keras and \
            times `model.predict` on the same shapes and threads.
            """)

    @Option(help: "OneDNN (and TensorFlow) threads.") var threads = 1
    @Option(help: "Images per batch.") var batch = 32
    @Option(help: "Input height and width.") var size = 224
    @Option(parsing: .upToNextOption, help: "Architectures to time.") var architectures: [Architecture] = [.resnet50, .densenet201]
    @Option(help: "Untimed batches before the timed ones.") var warmups = 1
    @Option(help: "Timed batches; the median is reported.") var repeats = 3
    @Option(help: "The Python with TensorFlow that runs the peer script.") var peer = "/opt/bc-train-venv/bin/python"
    @Option(help: "The Keras peer script.") var peerScript = Infer.defaultPeerScript
    @Flag(help: "Time only ours.") var noPeer = false

    static let defaultPeerScript = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Tests/Benchmarks/keras_predict.py").path

    func validate() throws {
        guard threads > 0, batch > 0, size >= Architecture.minimumInputSize, warmups >= 0, repeats > 0 else {
            throw ValidationError("--threads, --batch and --repeats must be positive, --size at least 32")
        }
    }

    func run() throws {
        let backend = OneDNNBackend(threads: threads)
        let timing = Timing(warmups: warmups, repeats: repeats)
        print("bc-bench infer: batch \(batch), \(size)x\(size), \(threads) thread(s), median of \(repeats) batches after \(warmups) warm-up(s)")
        print("model        | ours images/s | folded, ops apart | folded images/s | Keras predict images/s | folded / Keras")
        for architecture in architectures {
            let model = try buildModel(architecture, inputShape: [size, size, 3], head: HeadOptions(classes: 2), seed: 1)
            let folded = try model.foldingBatchNormIntoConvolutions().graph
            let foldedApart = try model.foldingBatchNormIntoConvolutions().graph
            foldedApart.fusesIntoConvolutions = false
            var random = SplitMix64(seed: 2)
            let shape = [batch, size, size, 3]
            let images = Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in random.nextUnitFloat() * 255 - 128 })
            let context = RunContext(backend: backend, training: false)
            func rate(_ graph: Graph) -> Double {
                // Throws only for a batch of another shape than the model's input, which `images` cannot be.
                Double(batch) / (timing.medianMilliseconds { _ = try! graph.forward(images, context: context) } / 1000)
            }
            let (ours, oursApart, oursFolded) = (rate(model), rate(foldedApart), rate(folded))
            let keras = noPeer ? nil : try kerasRate(architecture)
            let kerasColumn = keras.map { String(format: "%.2f", $0) } ?? "-"
            print(architecture.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)
                  + String(format: " | %13.2f | %17.2f | %15.2f | ", ours, oursApart, oursFolded)
                  + String(repeating: " ", count: max(0, 22 - kerasColumn.count)) + kerasColumn
                  + " | " + (keras.map { String(format: "%.2fx", oursFolded / $0) } ?? "-"))
        }
    }

    private func kerasRate(_ architecture: Architecture) throws -> Double {
        struct Measurement: Decodable { let images_per_second: Double }
        let measurement: Measurement = try runPeer(python: peer, script: peerScript, arguments: [
            "--architecture", architecture.rawValue, "--batch", "\(batch)", "--size", "\(size)", "--threads", "\(threads)",
            "--warmups", "\(warmups)", "--repeats", "\(repeats)"])
        return measurement.images_per_second
    }
}

extension Architecture: ExpressibleByArgument {}
