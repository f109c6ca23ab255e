import Foundation

/// What a run of one of the package's executables printed, and how it ended.
public struct ProductRun {
    public let status: Int32
    public let output: String
    public let errors: String
}

/// Runs an executable of this package (`bc-predict`, `bc-eval`, `bc-inspect`, ...) from the build folder, where
/// `swift build -c release --build-tests` puts it next to the test bundle.
public func runProduct(_ name: String, _ arguments: [String], environment: [String: String]? = nil) throws -> ProductRun {
    let folders = [Bundle.main.bundleURL, URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
    let candidates = folders.map { $0.appendingPathComponent(name).path }
    return try runExecutable(candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[1], arguments,
                             environment: environment)
}

/// Runs any executable (`/usr/bin/openssl`, ...) to its end; `environment` replaces the inherited one when given.
public func runExecutable(_ path: String, _ arguments: [String], environment: [String: String]? = nil) throws -> ProductRun {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let environment { process.environment = environment }
    // Standard error goes to a file, so that neither stream can fill its pipe while the other is being read.
    let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("bc-product-\(UUID().uuidString).err")
    _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: errorFile) }
    let output = Pipe()
    process.standardOutput = output
    process.standardError = try FileHandle(forWritingTo: errorFile)
    try process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return ProductRun(status: process.terminationStatus, output: text, errors: try String(contentsOf: errorFile, encoding: .utf8))
}
