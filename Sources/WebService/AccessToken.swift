import Foundation

/// The secret a bc-serve client must show: as `Authorization: Bearer TOKEN` (scripts) or as the session cookie the
/// sign-in page sets (browsers). Compared in constant time, so a wrong guess learns nothing from how long it took.
public struct AccessToken: Sendable {
    /// Long enough that guessing over the network is hopeless (16 random base64 characters are 96 bits).
    public static let minimumLength = 16
    public static let cookieName = "bc_serve_token"

    let bytes: [UInt8]

    /// Letters, digits and `. _ ~ + / = -`: what `openssl rand -hex` or `-base64` print, and safe in a cookie.
    public init(_ text: String, source: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~+/=-".utf8)
        guard text.utf8.count >= Self.minimumLength, text.utf8.allSatisfy(allowed.contains) else {
            throw ServeSetupError(message: "\(source): the access token must be at least \(Self.minimumLength) characters, "
                                   + "all letters, digits or . _ ~ + / = - (e.g. the output of `openssl rand -hex 32`)")
        }
        bytes = Array(text.utf8)
    }

    /// The token in a file (its first line; a trailing newline is not part of it).
    public static func read(file path: String) throws -> AccessToken {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ServeSetupError(message: "--token-file: cannot read \(path)")
        }
        let line = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).first ?? ""
        return try AccessToken(String(line.hasSuffix("\r") ? line.dropLast() : line), source: "--token-file \(path)")
    }

    /// True when `candidate` is the token. The time taken depends only on the token's length, never on where or
    /// whether the candidate differs.
    public func matches(_ candidate: some Collection<UInt8>) -> Bool {
        var difference = candidate.count == bytes.count ? 0 : 1
        var index = candidate.startIndex
        for byte in bytes {
            let other = index == candidate.endIndex ? 0 : candidate[index]
            difference |= Int(byte ^ other)
            if index != candidate.endIndex { index = candidate.index(after: index) }
        }
        return difference == 0
    }
}

/// A bad token or TLS file: one line naming the option or file and what is wrong.
public struct ServeSetupError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
