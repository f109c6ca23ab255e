import ArgumentParser
import BuildInfo
import Foundation
import OneDNN

struct BCBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bc-bench",
        abstract: "Benchmarks of bc-train's OneDNN backend against TensorFlow/Keras, and of MPI allreduces.",
        version: BuildInfo.describe(tool: "bc-bench"), subcommands: [Conv.self, Step.self, Infer.self, Allreduce.self],
        defaultSubcommand: Conv.self)
}

struct Conv: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Times ResNet-50's convolutions, forward and backward, here and in TensorFlow (median ms, GFLOP/s).",
        discussion: """
            Backward computes the input, kernel and bias gradients. FLOPs: forward 2*N*OH*OW*KH*KW*C*O, backward \
            twice that. The 7x7/2 stem convolves, as Keras' ResNet50 does, a 230x230 input zero-padded beforehand \
            with `valid` padding. For each shape ours runs first, then a TensorFlow subprocess with the same threads.
            """)

    @Option(help: "OneDNN (and TensorFlow) threads.") var threads = 1
    @Option(help: "Batch size.") var batch = 16
    @Option(help: "Untimed runs before the timed ones.") var warmups = 2
    @Option(help: "Timed runs; the median is reported.") var repeats = 5
    @Option(help: "The Python with TensorFlow that runs the peer script.") var peer = "/opt/bc-train-venv/bin/python"
    @Option(help: "The TensorFlow peer script.") var peerScript = Conv.defaultPeerScript
    @Flag(help: "Time only ours.") var noPeer = false
    @Option(help: """
        Layouts our convolution gets its input and output gradient in: preferred (its primitives' own, as inside \
        a model) or plain (NHWC, as at a model's input; the times include the reorders).
        """)
    var activations = ActivationLayouts.preferred

    /// Tests/Benchmarks/tf_conv.py of the source tree this executable was built from.
    static let defaultPeerScript = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Tests/Benchmarks/tf_conv.py").path

    func validate() throws {
        guard threads > 0, batch > 0, warmups >= 0, repeats > 0 else {
            throw ValidationError("--threads, --batch and --repeats must be positive, --warmups not negative")
        }
    }

    func run() throws {
        let backend = OneDNNBackend(threads: threads)
        let timing = Timing(warmups: warmups, repeats: repeats)
        let peerRunner = noPeer ? nil : TensorFlowPeer(python: peer, script: peerScript, threads: threads, timing: timing)
        let table = ResultTable(comparesWithPeer: peerRunner != nil)
        print("bc-bench conv: batch \(batch), \(threads) thread(s), \(activations) activation layouts, "
              + "median of \(repeats) runs after \(warmups) warm-ups")
        print(table.header)
        var peerVersion: String?
        for shape in ConvolutionShape.resNet50 {
            let ours = shape.timeOurs(backend: backend, batch: batch, activations: activations, timing: timing)
            let theirs = try peerRunner?.time(shape, batch: batch)
            peerVersion = theirs?.tensorflow
            print(table.row(shape, flops: shape.forwardFLOPs(batch: batch), ours: ours, peer: theirs?.timings))
        }
        if let peerVersion { print("peer: TensorFlow \(peerVersion)") }
    }
}

struct Step: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Times whole training steps (forward, loss gradient, backward, Adam) of a small ResNet.",
        discussion: """
            The model is ResNet-50's stem and first two bottleneck blocks on 112x112 images, then global average \
            pooling and a 10-class softmax: every kind of layer a ResNet has, with its layout changes at the \
            input and the head.
            """)

    @Option(help: "OneDNN threads.") var threads = 1
    @Option(help: "Batch size.") var batch = 16
    @Option(help: "Untimed steps before the timed ones.") var warmups = 2
    @Option(help: "Timed steps; the median is reported.") var repeats = 5

    func validate() throws {
        guard threads > 0, batch > 0, warmups >= 0, repeats > 0 else {
            throw ValidationError("--threads, --batch and --repeats must be positive, --warmups not negative")
        }
    }

    func run() throws {
        let backend = OneDNNBackend(threads: threads)
        let benchmark = try TrainingStepBenchmark(batch: batch)
        let milliseconds = Timing(warmups: warmups, repeats: repeats).medianMilliseconds {
            benchmark.step(backend: backend)
        }
        print(String(format: "bc-bench step: %@, batch %d, %d thread(s): %.1f ms per step (median of %d)",
                     benchmark.model.name, batch, threads, milliseconds, repeats))
    }
}

BCBench.main()
