import Foundation
import Layers
import Models
import Tensors
import XCTest
@_exported import TestSupport

/// Keras as referee: runs Tests/Python/models_referee.py with the Python of BC_PYTHON (TensorFlow, Keras 3, tf_keras).
enum Referee {
    /// The referee's reference outputs, computed once per test process.
    static let folder: Result<URL, Error> = Result {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bc-models-referee-\(getpid())")
        try run([folder.path])
        return folder
    }

    static func run(_ arguments: [String]) throws { try runPython("models_referee.py", arguments) }

    static func file(_ name: String) throws -> URL { try folder.get().appendingPathComponent(name) }
    static func numpy(_ name: String) throws -> Tensor { try readNumpy(try file(name + ".npy")) }
    static func json(_ name: String) throws -> JSON { try readJSON(try file(name)) }
}

func readJSON(_ url: URL) throws -> JSON { try JSONDecoder().decode(JSON.self, from: try Data(contentsOf: url)) }

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
