import Foundation

/// Runs `body` with a config file that sets only what has no default (`data.root`), removed afterwards: for tests of
/// how keys are read, with `--set` style overrides.
func withMinimalConfig(_ body: (URL) throws -> Void) throws {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(getpid())-\(UUID().uuidString).json")
    try Data(#"{"data": {"root": "x"}}"#.utf8).write(to: file)
    defer { try? FileManager.default.removeItem(at: file) }
    try body(file)
}
