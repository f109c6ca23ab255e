import Foundation

/// A coding key for any string, to list the keys a JSON object actually has.
struct AnyCodingKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension Decoder {
    /// Rejects keys the config type does not know, naming the key path and suggesting the closest known key:
    /// a misspelt option must not be silently ignored.
    func rejectUnknownKeys<Key: CodingKey & CaseIterable>(_: Key.Type) throws {
        let known = Key.allCases.map(\.stringValue)
        let present = try container(keyedBy: AnyCodingKey.self).allKeys.map(\.stringValue)
        guard let unknown = present.sorted().first(where: { !known.contains($0) }) else { return }
        let path = (codingPath.map(\.stringValue) + [unknown]).joined(separator: ".")
        var message = "unknown key '\(path)'"
        if let suggestion = known.min(by: { editDistance($0, unknown) < editDistance($1, unknown) }),
           editDistance(suggestion, unknown) <= max(2, unknown.count / 3) {
            message += "; did you mean '\(suggestion)'?"
        } else {
            message += "; known keys here: \(known.joined(separator: ", "))"
        }
        throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: message))
    }
}

extension KeyedDecodingContainer {
    /// A key whose value is one of a few names: another value is refused with the names allowed.
    func decodeChoice<Choice: RawRepresentable & CaseIterable>(_: Choice.Type, forKey key: Key) throws -> Choice?
    where Choice.RawValue == String {
        guard let text = try decodeIfPresent(String.self, forKey: key) else { return nil }
        guard let choice = Choice(rawValue: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath + [key], debugDescription:
                "is \"\(text)\"; allowed: \(Choice.allCases.map(\.rawValue).joined(separator: ", "))"))
        }
        return choice
    }
}

/// Levenshtein distance between two strings.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var previous = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
        var current = [i] + [Int](repeating: 0, count: b.count)
        for j in 1...max(b.count, 1) where !b.isEmpty {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return a.isEmpty ? b.count : previous[b.count]
}
