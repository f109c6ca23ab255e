import ArgumentParser
import Foundation
import Layers
import OneDNN
import Tensors

/// One convolution of the benchmark: a square kernel over an NHWC input, Keras semantics.
struct ConvolutionShape: CustomStringConvertible {
    let height, width, channels, filters, kernel, stride: Int
    let padding: Padding

    static let resNet50 = [
        ConvolutionShape(height: 56, width: 56, channels: 64, filters: 64, kernel: 3, stride: 1, padding: .same),
        ConvolutionShape(height: 56, width: 56, channels: 64, filters: 256, kernel: 1, stride: 1, padding: .valid),
        ConvolutionShape(height: 14, width: 14, channels: 256, filters: 256, kernel: 3, stride: 1, padding: .same),
        ConvolutionShape(height: 230, width: 230, channels: 3, filters: 64, kernel: 7, stride: 2, padding: .valid),
    ]

    var description: String {
        "\(kernel)x\(kernel)/\(stride) \(channels)->\(filters) @\(height)x\(width) \(padding)"
    }

    var geometry: WindowGeometry {
        WindowGeometry(kernel: (kernel, kernel), strides: (stride, stride), padding: padding,
                       inputHeight: height, inputWidth: width)
    }

    func outputShape(batch: Int) -> [Int] {
        [batch, geometry.outputHeight(height), geometry.outputWidth(width), filters]
    }

    /// Multiplies and adds of the forward pass; backward data and backward weights each cost as much again.
    func forwardFLOPs(batch: Int) -> Double {
        let output = outputShape(batch: batch)
        return 2 * Double(output.reduce(1, *)) * Double(kernel * kernel * channels)
    }

    func timeOurs(backend: OneDNNBackend, batch: Int, activations: ActivationLayouts, timing: Timing) -> Timings {
        var random = SplitMix64(seed: 0)
        func uniform(_ shape: [Int]) -> Tensor {
            Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in random.nextUnitFloat() - 0.5 })
        }
        var x = uniform([batch, height, width, channels])
        let weights = uniform([kernel, kernel, channels, filters])
        var outputGradient = uniform(outputShape(batch: batch))
        let bias = uniform([filters]), geometry = self.geometry
        if activations == .preferred {
            let layouts = backend.convolutionLayouts(inputShape: x.shape, kernelShape: weights.shape,
                                                     geometry: geometry, withBias: true)
            (x, outputGradient) = (x.converted(to: layouts.input), outputGradient.converted(to: layouts.output))
        }
        func forward() { _ = backend.conv2D(x, kernel: weights, bias: bias, geometry: geometry) }
        func backward() {
            _ = backend.conv2DBackward(x, kernel: weights, outputGradient: outputGradient, geometry: geometry,
                                       withBias: true, inputGradient: true)
        }
        return Timings(forward: timing.medianMilliseconds(forward),
                       backward: timing.medianMilliseconds(backward),
                       forwardBackward: timing.medianMilliseconds { forward(); backward() })
    }
}

/// The layouts the benchmark hands activations (input and output gradient) to the convolution in.
enum ActivationLayouts: String, ExpressibleByArgument, CaseIterable {
    /// The layouts the convolution's primitives prefer: what a convolution inside a model receives.
    case preferred
    /// Plain NHWC, as at a model's input: includes the reorders to and from the preferred layouts.
    case plain
}

/// Median milliseconds of one shape's forward pass, backward pass (all three gradients), and both in turn.
struct Timings: Decodable {
    let forward, backward, forwardBackward: Double

    enum CodingKeys: String, CodingKey {
        case forward = "forward_ms", backward = "backward_ms", forwardBackward = "forward_backward_ms"
    }
}

struct Timing {
    let warmups, repeats: Int

    func medianMilliseconds(_ body: () -> Void) -> Double {
        for _ in 0..<warmups { body() }
        let clock = ContinuousClock()
        let times = (0..<repeats).map { _ in clock.measure(body) / .milliseconds(1) }.sorted()
        return (times[(repeats - 1) / 2] + times[repeats / 2]) / 2
    }
}

/// Runs Tests/Benchmarks/tf_conv.py on one shape and reads the JSON it prints.
struct TensorFlowPeer {
    let python, script: String
    let threads: Int
    let timing: Timing

    struct Measurement: Decodable {
        let tensorflow: String
        let timings: Timings

        init(from decoder: Decoder) throws {
            tensorflow = try decoder.container(keyedBy: VersionKey.self).decode(String.self, forKey: .tensorflow)
            timings = try Timings(from: decoder)
        }

        private enum VersionKey: CodingKey { case tensorflow }
    }

    func time(_ shape: ConvolutionShape, batch: Int) throws -> Measurement {
        let options: KeyValuePairs = [
            "batch": batch, "height": shape.height, "width": shape.width, "channels": shape.channels,
            "filters": shape.filters, "kernel": shape.kernel, "stride": shape.stride,
            "threads": threads, "warmups": timing.warmups, "repeats": timing.repeats,
        ]
        return try runPeer(python: python, script: script, arguments: ["--padding", shape.padding.rawValue]
                           + options.flatMap { ["--\($0.key)", "\($0.value)"] })
    }
}

struct PeerFailure: Error, CustomStringConvertible {
    let description: String
}

/// Runs a peer script (Tests/Benchmarks) and decodes the one JSON line it prints.
func runPeer<Measurement: Decodable>(python: String, script: String, arguments: [String]) throws -> Measurement {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = [script] + arguments
    let output = Pipe(), errors = Pipe()
    (process.standardOutput, process.standardError) = (output, errors)
    try process.run()
    // TensorFlow logs to stderr even when all is well: keep it for failures. stdout is one short JSON line,
    // which fits in the pipe's buffer, so reading stderr to the end first cannot stall the peer.
    let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let json = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0, let measurement = try? JSONDecoder().decode(Measurement.self, from: json) else {
        throw PeerFailure(description: "\(script) \(arguments.joined(separator: " ")) failed (exit \(process.terminationStatus)):\n"
                          + errorText.suffix(3000) + String(decoding: json, as: UTF8.self))
    }
    return measurement
}

/// Fixed-width text table: per shape, ms and GFLOP/s of forward, backward and both, ours then TensorFlow's,
/// and our fwd+bwd speed relative to TensorFlow's (above 1: we are faster).
struct ResultTable {
    let comparesWithPeer: Bool
    private let shapeWidth = 30, columnWidth = 9

    var header: String {
        let owners = comparesWithPeer ? ["ours", "TF"] : ["ours"]
        let passes = owners.flatMap { owner in ["forward", "backward", "fwd+bwd"].map { "\(owner) \($0)" } }
        var titles = "shape".rightPadded(to: shapeWidth) + passes.map { $0.leftPadded(to: 2 * columnWidth) }.joined()
        var units = "".rightPadded(to: shapeWidth)
            + String(repeating: "ms".leftPadded(to: columnWidth) + "GFLOP/s".leftPadded(to: columnWidth),
                     count: passes.count)
        if comparesWithPeer {
            titles += "ours/TF".leftPadded(to: columnWidth)
            units += "speed".leftPadded(to: columnWidth)
        }
        return titles + "\n" + units
    }

    func row(_ shape: ConvolutionShape, flops forwardFLOPs: Double, ours: Timings, peer: Timings?) -> String {
        let number = "%\(columnWidth).1f"
        func cells(_ timings: Timings) -> String {
            [(timings.forward, 1.0), (timings.backward, 2), (timings.forwardBackward, 3)].map { ms, multiple in
                String(format: number + number, ms, multiple * forwardFLOPs / ms / 1e6)
            }.joined()
        }
        var line = "\(shape)".rightPadded(to: shapeWidth) + cells(ours)
        if let peer {
            line += cells(peer) + String(format: "%\(columnWidth).2f", peer.forwardBackward / ours.forwardBackward)
        }
        return line
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: " ", count: max(width - count, 0)) + self }
    func rightPadded(to width: Int) -> String { self + String(repeating: " ", count: max(width - count, 0)) }
}
