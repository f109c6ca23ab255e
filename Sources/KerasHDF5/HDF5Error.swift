import CHDF5

/// A failed HDF5 call: what we tried, on which object of which file, and HDF5's own explanation (its error stack,
/// innermost cause first).
public struct HDF5Error: Error, CustomStringConvertible {
    public let file: String
    public let object: String
    public let message: String
    public let hdf5Messages: [String]

    public var description: String {
        let cause = hdf5Messages.isEmpty ? "" : " (HDF5: \(hdf5Messages.joined(separator: "; ")))"
        return "\(file): \(object.isEmpty ? "" : "'\(object)': ")\(message)\(cause)"
    }
}

/// HDF5 prints its error stack to stderr by default; we report errors ourselves. The setting is per thread in
/// thread-safe builds (Debian's is one), so every entry point calls this.
func silenceHDF5Diagnostics() {
    H5Eset_auto2(chdf5_error_default(), nil, nil)
}

/// The descriptions on the current thread's HDF5 error stack, innermost (the cause) first; clears the stack.
func takeHDF5ErrorMessages() -> [String] {
    var messages: [String] = []
    withUnsafeMutablePointer(to: &messages) { pointer in
        _ = H5Ewalk2(chdf5_error_default(), H5E_WALK_UPWARD, { _, error, context in
            if let error, let description = error.pointee.desc {
                // One line each: some descriptions end in ctime()'s newline ("time = Fri Nov 27 18:00:06 2026\n").
                let text = String(cString: description).split(whereSeparator: \.isNewline).joined(separator: " ")
                context!.assumingMemoryBound(to: [String].self).pointee.append(text)
            }
            return 0
        }, pointer)
    }
    H5Eclear2(chdf5_error_default())
    return messages
}

/// Turns a negative HDF5 return value into an `HDF5Error`.
@discardableResult
func check<T: BinaryInteger>(_ status: T, file: String, object: String, _ message: @autoclosure () -> String) throws -> T {
    guard status >= 0 else {
        throw HDF5Error(file: file, object: object, message: message(), hdf5Messages: takeHDF5ErrorMessages())
    }
    return status
}
