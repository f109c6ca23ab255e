import Foundation
import Tensors
import XCTest

/// Runs Tests/Python/training_referee.py with the referee interpreter (BC_PYTHON, installed by Launch/test.sh).
func runReferee(_ arguments: [String]) throws {
    let python = ProcessInfo.processInfo.environment["BC_PYTHON"] ?? "/opt/bc-train-venv/bin/python"
    guard FileManager.default.isExecutableFile(atPath: python) else {
        throw NSError(domain: "referee", code: 1, userInfo: [NSLocalizedDescriptionKey:
            "no Python referee at \(python): run ./Launch/test.sh (it installs TensorFlow/Keras) or set BC_PYTHON"])
    }
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Python/training_referee.py")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = [script.path] + arguments
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw NSError(domain: "referee", code: 2, userInfo: [NSLocalizedDescriptionKey: "\(script.path) \(arguments) failed"])
    }
}

func randomInput(_ shape: [Int], seed: UInt64 = 11) -> Tensor {
    var state = seed
    let values = (0..<shape.reduce(1, *)).map { _ -> Float in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(state >> 40) / Float(1 << 24) * 2 - 1
    }
    return Tensor(shape: shape, scalars: values)
}

/// Writes a little-endian float32 C-order `.npy` file.
func writeNumpy(_ tensor: Tensor, to path: String) throws {
    var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(tensor.shape.map(String.init).joined(separator: ", ")),), }"
    while (10 + header.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count & 0xff), UInt8(header.count >> 8)])
    data += Data(header.utf8)
    tensor.scalars.withUnsafeBytes { data += Data($0) }
    try data.write(to: URL(fileURLWithPath: path))
}

/// Reads a little-endian float32 C-order `.npy` file.
func readNumpy(_ url: URL) throws -> Tensor {
    let data = try Data(contentsOf: url)
    let headerLength = Int(data[8]) | Int(data[9]) << 8
    let header = String(decoding: data[10..<10 + headerLength], as: UTF8.self)
    guard header.contains("'<f4'"), !header.contains("'fortran_order': True") else {
        throw NSError(domain: "npy", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(url.path): not a C-order float32 .npy"])
    }
    let shapeText = header.components(separatedBy: "'shape': (")[1].components(separatedBy: ")")[0]
    let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    let values = data[(10 + headerLength)...].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    return Tensor(shape: shape, scalars: values)
}
