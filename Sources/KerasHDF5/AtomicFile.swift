import Foundation

/// Writes a file so that readers see either the previous file or the complete new one, never a partial file:
/// `write` fills `NAME.tmp.PID`, which is then fsynced, renamed over `NAME`, and the directory fsynced so the
/// rename itself survives a crash. If anything fails, the temporary file is removed and `NAME` is untouched.
func writeAtomically(to path: String, write: (_ temporaryPath: String) throws -> Void) throws {
    let temporaryPath = path + temporarySuffix + "\(getpid())"
    do {
        try write(temporaryPath)
        try fsyncFile(temporaryPath)
        guard rename(temporaryPath, path) == 0 else { throw posixError("cannot rename \(temporaryPath) to", path) }
        try fsyncFile(URL(fileURLWithPath: path).deletingLastPathComponent().path)
    } catch {
        unlink(temporaryPath)
        throw error
    }
}

private let temporarySuffix = ".tmp."

/// Whether the file `name` is the temporary file of a `writeAtomically` that never finished (its process was killed
/// mid-write): `NAME.tmp.PID`.
public func isUnfinishedAtomicWrite(_ name: String) -> Bool {
    guard let suffix = name.range(of: temporarySuffix, options: .backwards) else { return false }
    let pid = name[suffix.upperBound...]
    return suffix.lowerBound > name.startIndex && !pid.isEmpty && pid.allSatisfy(\.isNumber)
}

/// Flushes a file's (or directory's) contents and metadata to disk.
private func fsyncFile(_ path: String) throws {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { throw posixError("cannot open for fsync", path) }
    defer { close(descriptor) }
    guard fsync(descriptor) == 0 else { throw posixError("cannot fsync", path) }
}

private func posixError(_ what: String, _ path: String) -> KerasFileError {
    KerasFileError(file: path, "\(what): \(String(cString: strerror(errno)))")
}
