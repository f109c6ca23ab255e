import Foundation
import Tensors
import XCTest

/// The repository's root, and its test fixtures (Tests/Fixtures: reference Keras files, the BreakHis samples).
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
public let fixturesFolder = repositoryRoot.appendingPathComponent("Tests/Fixtures")
/// Keras' reference files: `fixtures/` (tiny model `.h5`/`.npy`), `layer-orders/` (ResNet50, DenseNet201).
public let kerasReference = fixturesFolder.appendingPathComponent("keras-reference")
/// The tiny reference model's files written by tf_keras, Keras 3 and h5py, with Keras' outputs.
public let kerasFixtures = kerasReference.appendingPathComponent("fixtures")
/// The eight real BreakHis images: `400X/{benign,malignant}/*.png`, 7 patients.
public let breakHisSampleFolder = fixturesFolder.appendingPathComponent("breakhis-sample")
public let pythonScripts = repositoryRoot.appendingPathComponent("Tests/Python")

/// The referee interpreter: BC_PYTHON (set by Launch/test.sh), else the venv it creates.
public var refereePython: String { ProcessInfo.processInfo.environment["BC_PYTHON"] ?? "/opt/bc-train-venv/bin/python" }

/// Runs a script of Tests/Python with the referee interpreter; throws with its output when it fails.
@discardableResult
public func runPython(_ script: String, _ arguments: [String]) throws -> String {
    guard FileManager.default.isExecutableFile(atPath: refereePython) else {
        throw NSError(domain: "referee", code: 1, userInfo: [NSLocalizedDescriptionKey:
            "no Python referee at \(refereePython): run ./Launch/test.sh (it installs TensorFlow/Keras) or set BC_PYTHON"])
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: refereePython)
    process.arguments = [pythonScripts.appendingPathComponent(script).path] + arguments
    process.environment = ProcessInfo.processInfo.environment.merging(["TF_CPP_MIN_LOG_LEVEL": "3"]) { $1 }
    let output = Pipe()
    (process.standardOutput, process.standardError) = (output, output)
    try process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw NSError(domain: "referee", code: 2, userInfo: [NSLocalizedDescriptionKey:
            "\(script) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus):\n\(text.suffix(4000))"])
    }
    return text
}

/// Runs the pieces of work at once, each on its own thread, and rethrows the first failure once all have ended.
/// For the Python referee, whose runs are mostly single-threaded (imports, building and tracing models), next to
/// each other or next to a bc-train run.
public func runConcurrently(_ work: [() throws -> Void]) throws {
    let failuresLock = NSLock()
    var failures: [Error] = []
    DispatchQueue.concurrentPerform(iterations: work.count) { index in
        do { try work[index]() } catch {
            failuresLock.withLock { failures.append(error) }
        }
    }
    if let failure = failures.first { throw failure }
}

/// A fresh empty folder, removed when the test ends.
public func temporaryFolder(_ test: XCTestCase) throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bc-test-\(getpid())-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
    return folder
}

/// Asserts two tensors agree elementwise within `tolerance` relative (absolute below magnitude 1); returns the
/// measured difference so tests can report it.
@discardableResult
public func assertClose(_ actual: Tensor, _ expected: Tensor, tolerance: Float, _ message: String = "",
                        file: StaticString = #filePath, line: UInt = #line) -> Float {
    XCTAssertEqual(actual.shape, expected.shape, message, file: file, line: line)
    guard actual.shape == expected.shape else { return .infinity }
    let difference = actual.maxRelativeDifference(to: expected)
    XCTAssertLessThanOrEqual(difference, tolerance, "\(message): max relative difference \(difference)", file: file, line: line)
    return difference
}
