import Foundation
import Layers
import Tensors
import XCTest

let sharedFixtures = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("../shared/keras-reference/fixtures").standardizedFileURL

let pythonScripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Python")

func fixture(_ name: String) -> String { sharedFixtures.appendingPathComponent(name).path }

/// A fresh empty folder, removed when the test ends.
func temporaryFolder(_ test: XCTestCase) throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bc-kerashdf5-\(getpid())-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
    return folder
}

/// Runs a Python script from Tests/Python with the referee interpreter (env BC_PYTHON), failing with its output.
func runPython(_ script: String, _ arguments: [String]) throws {
    let python = ProcessInfo.processInfo.environment["BC_PYTHON"] ?? "/opt/bc-train-venv/bin/python"
    guard FileManager.default.isExecutableFile(atPath: python) else {
        throw NSError(domain: "referee", code: 1, userInfo: [NSLocalizedDescriptionKey:
            "no Python referee at \(python): run ./Launch/test.sh (it installs TensorFlow/Keras) or set BC_PYTHON"])
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = [pythonScripts.appendingPathComponent(script).path] + arguments
    process.environment = ProcessInfo.processInfo.environment.merging(["TF_CPP_MIN_LOG_LEVEL": "3"]) { $1 }
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw NSError(domain: "referee", code: 2, userInfo: [NSLocalizedDescriptionKey:
            "\(script) exited with \(process.terminationStatus):\n\(text.suffix(4000))"])
    }
}

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
    let values: [Float]
    if header.contains("'<f4'") {
        values = body.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    } else if header.contains("'<f8'") {
        values = body.withUnsafeBytes { $0.bindMemory(to: Double.self).map(Float.init) }
    } else {
        throw NSError(domain: "npy", code: 3, userInfo: [NSLocalizedDescriptionKey: "unsupported dtype in \(header)"])
    }
    return Tensor(shape: shape, scalars: values)
}

/// Writes a little-endian float32 `.npy` file (version 1.0).
func writeNumpy(_ tensor: Tensor, to url: URL) throws {
    let shape = tensor.shape.count == 1 ? "(\(tensor.shape[0]),)" : "(\(tensor.shape.map(String.init).joined(separator: ", ")))"
    var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
    while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
    data.append(Data(header.utf8))
    tensor.withUnsafeBufferPointer { data.append(Data(buffer: $0)) }
    try data.write(to: url)
}

/// Asserts two tensors agree elementwise within `tolerance` relative (absolute below magnitude 1).
func assertClose(_ actual: Tensor, _ expected: Tensor, tolerance: Float, _ message: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.shape, expected.shape, message, file: file, line: line)
    guard actual.shape == expected.shape else { return }
    let difference = actual.maxRelativeDifference(to: expected)
    XCTAssertLessThanOrEqual(difference, tolerance, "\(message): max relative difference \(difference)", file: file, line: line)
}

/// Asserts that `body` throws an error whose description contains every one of `fragments`; returns the description.
@discardableResult
func assertThrows(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) -> String {
    do {
        try body()
        XCTFail("expected an error containing \(fragments)", file: file, line: line)
        return ""
    } catch {
        let text = "\(error)"
        for fragment in fragments where !text.contains(fragment) {
            XCTFail("error \"\(text)\" does not contain \"\(fragment)\"", file: file, line: line)
        }
        return text
    }
}

/// The tiny reference model of shared/keras-reference (Conv2D+BN+ReLU+GAP+Dropout+BN+Dense softmax).
func tinyModel(seed: UInt64 = 1) throws -> Graph {
    let builder = GraphBuilder(seed: seed)
    var x = try builder.input(shape: [8, 8, 3], name: "input_1")
    x = try Conv2D(4, kernelSize: 3, padding: .same, name: "conv")(x)
    x = try BatchNormalization(epsilon: 1.001e-5, name: "bn")(x)
    x = try Activation(.relu, name: "relu")(x)
    x = try GlobalAveragePooling2D(name: "avg_pool")(x)
    x = try Dropout(0.5, name: "dropout")(x)
    x = try BatchNormalization(name: "bn_head")(x)
    x = try Dense(5, activation: .softmax, name: "predictions")(x)
    return try builder.build(output: x, name: "tiny")
}
