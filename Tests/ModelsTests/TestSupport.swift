import Foundation
import Layers
import Models
import Tensors
import XCTest

/// Keras as referee: runs Tests/Python/models_referee.py with the Python of BC_PYTHON (TensorFlow, Keras 3, tf_keras).
enum Referee {
    static let python = ProcessInfo.processInfo.environment["BC_PYTHON"] ?? "/opt/bc-train-venv/bin/python"
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Python/models_referee.py")

    /// The referee's reference outputs, computed once per test process.
    static let folder: Result<URL, Error> = Result {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bc-models-referee-\(getpid())")
        try run([folder.path])
        return folder
    }

    static func run(_ arguments: [String]) throws {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw NSError(domain: "referee", code: 1, userInfo: [NSLocalizedDescriptionKey:
                "no Python referee at \(python): run ./Launch/test.sh (it installs TensorFlow/Keras) or set BC_PYTHON"])
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script.path] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(["TF_CPP_MIN_LOG_LEVEL": "3"]) { $1 }
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw NSError(domain: "referee", code: 2, userInfo: [NSLocalizedDescriptionKey:
                "\(script.path) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)"])
        }
    }

    static func file(_ name: String) throws -> URL { try folder.get().appendingPathComponent(name) }
    static func numpy(_ name: String) throws -> Tensor { try readNumpy(try file(name + ".npy")) }
    static func json(_ name: String) throws -> JSON { try readJSON(try file(name)) }
}

let kerasReference = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("../shared/keras-reference").standardizedFileURL

func readJSON(_ url: URL) throws -> JSON { try JSONDecoder().decode(JSON.self, from: try Data(contentsOf: url)) }

/// Minimal reader of little-endian float32/float64 C-order `.npy` files (test fixtures only).
func readNumpy(_ url: URL) throws -> Tensor {
    let data = try Data(contentsOf: url)
    guard data.count > 10, data.prefix(6) == Data([0x93] + Array("NUMPY".utf8)) else {
        throw NSError(domain: "npy", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(url.path): not a .npy file"])
    }
    let major = data[6]
    let headerLength = major == 1 ? Int(data[8]) | Int(data[9]) << 8
                                  : Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
    let headerStart = major == 1 ? 10 : 12
    let header = String(decoding: data[headerStart..<headerStart + headerLength], as: UTF8.self)
    guard !header.contains("'fortran_order': True") else { throw NSError(domain: "npy", code: 2) }
    let shapeText = header.components(separatedBy: "'shape': (")[1].components(separatedBy: ")")[0]
    let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    let body = data[(headerStart + headerLength)...]
    guard header.contains("'<f4'") else {
        throw NSError(domain: "npy", code: 3, userInfo: [NSLocalizedDescriptionKey: "unsupported dtype in \(header)"])
    }
    return Tensor(shape: shape, scalars: body.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) })
}

/// Asserts two tensors agree elementwise within `tolerance` relative (absolute below magnitude 1); returns the
/// measured difference so tests can report it.
@discardableResult
func assertClose(_ actual: Tensor, _ expected: Tensor, tolerance: Float, _ message: String = "",
                 file: StaticString = #filePath, line: UInt = #line) -> Float {
    XCTAssertEqual(actual.shape, expected.shape, message, file: file, line: line)
    guard actual.shape == expected.shape else { return .infinity }
    let difference = actual.maxRelativeDifference(to: expected)
    XCTAssertLessThanOrEqual(difference, tolerance, "\(message): max relative difference \(difference)", file: file, line: line)
    return difference
}

/// Sets every weight from one flat array holding them in Keras' order: weighted layers in `model.layers` order,
/// each layer's weights in file order (how Keras pairs weights with layers when loading a file).
func loadPositionally(_ graph: Graph, from flat: Tensor, file: StaticString = #filePath, line: UInt = #line) {
    let values = flat.scalars
    var offset = 0
    for layer in kerasLayerOrder(graph) {
        for weight in layer.weights where offset + weight.value.count <= values.count {
            weight.value = Tensor(shape: weight.value.shape, scalars: Array(values[offset..<offset + weight.value.count]))
            offset += weight.value.count
        }
    }
    XCTAssertEqual(offset, values.count, "Keras' weights and the model's differ in size", file: file, line: line)
}

/// One layer as the tests compare it with Keras: name, class, weight shapes, and the config values Keras'
/// layer-order dumps record, normalised (an axis as a non-negative integer, numbers at float32 precision).
struct LayerSummary: Equatable, CustomStringConvertible {
    var name: String
    var className: String
    var weightShapes: [[Int]]
    var config: [String: JSON]

    static let comparedKeys: Set = ["epsilon", "momentum", "padding", "strides", "use_bias", "kernel_size", "pool_size",
                                    "axis", "activation"]

    init(name: String, className: String, weightShapes: [[Int]], config: [String: JSON], rank: Int) {
        (self.name, self.className, self.weightShapes) = (name, className, weightShapes)
        self.config = config.filter { Self.comparedKeys.contains($0.key) }.mapValues { Self.normalised($0) }
        if var axis = self.config["axis"] {
            if case .array(let items) = axis, items.count == 1 { axis = items[0] }
            if case .number(let value) = axis, value < 0 { axis = .number(Double(rank) + value) }
            self.config["axis"] = axis
        }
    }

    /// Keras' description from the referee's JSON: {"name", "class", "weights": [[shape]], "config": {...}}.
    init(keras json: JSON, rank: Int) {
        guard case .object(let layer) = json, case .string(let name)? = layer["name"], case .string(let className)? = layer["class"],
              case .array(let weights)? = layer["weights"], case .object(let config)? = layer["config"] else {
            preconditionFailure("malformed referee layer \(json)")
        }
        let shapes = weights.map { shape -> [Int] in
            guard case .array(let dimensions) = shape else { return [] }
            return dimensions.map { if case .number(let value) = $0 { Int(value) } else { -1 } }
        }
        self.init(name: name, className: className, weightShapes: shapes, config: config, rank: rank)
    }

    private static func normalised(_ value: JSON) -> JSON {
        switch value {
        case .number(let number): .number(Double(Float(number)))
        case .array(let items): .array(items.map(normalised))
        default: value
        }
    }

    var description: String { "\(name) \(className) \(weightShapes) \(config.sorted { $0.key < $1.key })" }
}

/// Our layers in Keras' order, summarised like the referee's.
func summaries(_ graph: Graph) -> [LayerSummary] {
    let rankOfLayer = Dictionary(uniqueKeysWithValues: graph.nodes.map { (ObjectIdentifier($0.layer), $0.outputShape.count + 1) })
    return kerasLayerOrder(graph).map { layer in
        LayerSummary(name: layer.name, className: layer.className, weightShapes: layer.weights.map(\.value.shape),
                     config: layer.config, rank: rankOfLayer[ObjectIdentifier(layer)]!)
    }
}

/// Compares layer lists row by row, reporting the first differences (a single assert on 700 rows is unreadable).
func assertSameLayers(_ actual: [LayerSummary], _ expected: [LayerSummary], _ message: String,
                      file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(message): layer count", file: file, line: line)
    let mismatches = zip(actual, expected).enumerated().filter { $0.element.0 != $0.element.1 }
    for (index, (ours, theirs)) in mismatches.prefix(5) {
        XCTFail("\(message): layer \(index):\n  ours  \(ours)\n  Keras \(theirs)", file: file, line: line)
    }
}

extension JSON {
    subscript(key: String) -> JSON? {
        if case .object(let members) = self { members[key] } else { nil }
    }

    var array: [JSON] { if case .array(let items) = self { items } else { [] } }

    /// A copy of a model_config with the layer entry named `name` changed.
    func changingLayer(_ name: String, _ change: (inout [String: JSON]) -> Void) -> JSON {
        guard case .object(var top) = self, case .object(var config)? = top["config"] else { return self }
        config["layers"] = .array(config["layers"]!.array.map { entry in
            guard case .object(var layer) = entry, layer["name"] == .string(name) else { return entry }
            change(&layer)
            return .object(layer)
        })
        top["config"] = .object(config)
        return .object(top)
    }

    func changingLayerConfig(_ name: String, _ change: @escaping (inout [String: JSON]) -> Void) -> JSON {
        changingLayer(name) { layer in
            guard case .object(var config)? = layer["config"] else { return }
            change(&config)
            layer["config"] = .object(config)
        }
    }
}
