import ArgumentParser
import BuildInfo
import Foundation
import KerasHDF5
import Layers

/// Prints what a Keras weights/model file or bc-train checkpoint holds and which backbone it fits.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bc-inspect",
        abstract: "Show the format, Keras version, layers, weight shapes and parameter counts of a Keras .h5 / .weights.h5 "
            + "file or a bc-train checkpoint, and which keras.applications architecture it fits.",
        version: BuildInfo.describe(tool: "bc-inspect"))

    @Argument(help: "The file to inspect.")
    var file: String

    @Flag(name: .long, help: "Print only the summary, not one line per weighted layer.")
    var summary = false

    func run() throws {
        let contents: KerasWeightsFile
        do {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: file, isDirectory: &isFolder) else { fail("\(file): no such file") }
            guard !isFolder.boolValue else { fail("\(file): is a folder, not a Keras file") }
            contents = try KerasWeightsFile.read(file)
        } catch {
            // The errors of KerasWeightsFile.read name the file.
            fail("\(error)")
        }
        print(report(contents, perLayer: !summary), terminator: "")
    }
}

/// Every failure is one line on standard error, `bc-inspect: error: ...` like the other tools' errors, and exit
/// status 1.
func fail(_ message: String) -> Never {
    let line = message.split(whereSeparator: \.isNewline).joined(separator: " ")
    FileHandle.standardError.write(Data("bc-inspect: error: \(line)\n".utf8))
    exit(1)
}

func report(_ file: KerasWeightsFile, perLayer: Bool) -> String {
    var lines = ["file: \(file.path)", "format: \(file.format.rawValue)"]
    lines.append("keras_version: \(file.kerasVersion ?? "(not recorded)"), backend: \(file.backend ?? "(not recorded)")")
    if case .object(let config)? = file.modelConfig, case .object(let body)? = config["config"] {
        let layers = body["layers"].flatMap { if case .array(let list) = $0 { list.count } else { nil } } ?? 0
        lines.append("model_config: \(text(config["class_name"])) '\(text(body["name"]))' with \(layers) layers")
    }
    if case .object(let training)? = file.trainingConfig {
        var optimizer = "?"
        if case .object(let optimizerConfig)? = training["optimizer_config"] { optimizer = text(optimizerConfig["class_name"]) }
        lines.append("training_config: loss \(text(training["loss"])), optimizer \(optimizer)")
    }
    if let state = file.trainingState {
        var keys: [String] = []
        if case .object(let object) = state.json { keys = object.keys.sorted() }
        lines.append("training state: \(state.tensors.count) tensors (\(grouped(state.tensors.values.reduce(0) { $0 + $1.count })) values), "
                     + "optimizer iterations \(state.optimizerIterations), JSON keys: \(keys.joined(separator: ", "))")
    }
    let weighted = file.weightedLayers
    let arrays = weighted.reduce(0) { $0 + $1.weights.count }
    lines.append("layers: \(file.layers.count), with weights: \(weighted.count), weight arrays: \(arrays)")
    if perLayer {
        if file.format == .keras3Weights {
            lines.append("  (a .weights.h5 file does not record the model's layer order, only each layer's place among those of its class "
                         + "(conv2d_3): listed by that place, then class)")
        }
        let width = weighted.map(\.name.count).max() ?? 0
        for layer in weighted {
            let shapes = layer.weights.map { "\($0.name) \($0.value.shape)" }.joined(separator: ", ")
            let count = layer.weights.reduce(0) { $0 + $1.value.count }
            lines.append("  \(layer.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(grouped(count).leftPadded(11))  \(shapes)")
        }
    }
    lines.append("parameters: \(grouped(file.parameterCount))")
    lines.append("architecture: \(file.architectureDescription)")
    return lines.joined(separator: "\n") + "\n"
}

private func text(_ value: JSON?) -> String {
    if case .string(let string)? = value { return string }
    return "?"
}

/// 23587712 -> "23,587,712".
private func grouped(_ value: Int) -> String {
    let digits = Array(String(value))
    return String(digits.enumerated().flatMap { index, digit in
        (index > 0 && (digits.count - index) % 3 == 0) ? [",", digit] : [digit]
    })
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}

// Like `Inspect.main()`, but a wrong command line (no file, an unknown option) is one error line with status 1
// too, not ArgumentParser's message and usage with status 64; --help still prints the help.
do {
    var command = try Inspect.parseAsRoot()  // Inspect, or ArgumentParser's help command for --help
    try command.run()
} catch {
    if Inspect.exitCode(for: error) == .success { Inspect.exit(withError: error) }
    fail("\(Inspect.message(for: error)) (usage: \(Inspect.usageString()))")
}
