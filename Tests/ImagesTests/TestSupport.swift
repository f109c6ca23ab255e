import Foundation
import XCTest

/// The repository's test fixtures, Tests/Fixtures (this target does not depend on TestSupport, which defines it too).
let fixturesFolder = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

let breakHisSample = fixturesFolder.appendingPathComponent("breakhis-sample/400X")

/// The eight real BreakHis 400X samples, benign then malignant, sorted by name.
func breakHisSamplePaths() throws -> [URL] {
    try ["benign", "malignant"].flatMap { label -> [URL] in
        let folder = breakHisSample.appendingPathComponent(label)
        return try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasSuffix(".png") }.sorted().map { folder.appendingPathComponent($0) }
    }.sorted { $0.path < $1.path }
}

/// Runs Tests/Python/images_referee.py (TensorFlow, Keras, PIL) once per test process; its results are files in
/// a temporary folder.
enum ImagesReferee {
    static let folder: Result<URL, Error> = Result {
        let python = ProcessInfo.processInfo.environment["BC_PYTHON"] ?? "/opt/bc-train-venv/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw NSError(domain: "referee", code: 1, userInfo: [NSLocalizedDescriptionKey:
                "no Python referee at \(python): run ./Launch/test.sh (it installs TensorFlow/Keras) or set BC_PYTHON"])
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bc-images-referee-\(getpid())")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Python/images_referee.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script.path, folder.path, breakHisSample.path]
        process.environment = ProcessInfo.processInfo.environment.merging(["TF_CPP_MIN_LOG_LEVEL": "3"]) { $1 }
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw NSError(domain: "referee", code: 2, userInfo: [NSLocalizedDescriptionKey:
                "\(script.path) exited with \(process.terminationStatus)"])
        }
        return folder
    }

    static func url(_ name: String) throws -> URL { try folder.get().appendingPathComponent(name) }
}

/// A `.npy` array read back: shape and values (uint8 or float32 files).
struct NumpyArray {
    var shape: [Int]
    var values: [Float]
    var bytes: [UInt8]

    /// Minimal reader of little-endian, C-order `.npy` files of dtype `|u1` or `<f4` (test fixtures only).
    init(contentsOf url: URL) throws {
        let data = try Data(contentsOf: url)
        guard data.count > 10, data.prefix(6) == Data([0x93] + Array("NUMPY".utf8)) else {
            throw NSError(domain: "npy", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(url.path): not a .npy file"])
        }
        let major = data[data.startIndex + 6]
        let headerStart = major == 1 ? 10 : 12
        let lengthBytes = data[(data.startIndex + 8)..<(data.startIndex + headerStart)]
        let headerLength = lengthBytes.reversed().reduce(0) { $0 << 8 | Int($1) }
        let header = String(decoding: data[(data.startIndex + headerStart)..<(data.startIndex + headerStart + headerLength)],
                            as: UTF8.self)
        guard !header.contains("'fortran_order': True") else {
            throw NSError(domain: "npy", code: 2, userInfo: [NSLocalizedDescriptionKey: "\(url.path): Fortran order"])
        }
        let shapeText = header.components(separatedBy: "'shape': (")[1].components(separatedBy: ")")[0]
        shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let body = Data(data[(data.startIndex + headerStart + headerLength)...])
        if header.contains("'|u1'") {
            bytes = Array(body)
            values = bytes.map(Float.init)
        } else if header.contains("'<f4'") {
            values = body.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            bytes = []
        } else {
            throw NSError(domain: "npy", code: 3, userInfo: [NSLocalizedDescriptionKey: "\(url.path): unsupported dtype in \(header)"])
        }
    }
}

/// The largest absolute elementwise difference (equal counts asserted by the caller).
func maxAbsoluteDifference(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
