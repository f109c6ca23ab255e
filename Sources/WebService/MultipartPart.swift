import Foundation

/// One part of a multipart/form-data body: a file (with its name) or a plain field.
struct MultipartPart: Sendable, Equatable {
    var fieldName: String?
    var fileName: String?
    var data = Data()

    /// Splits a whole body at its boundary lines (RFC 7578); any preamble and epilogue are ignored.
    static func parse(_ body: Data, boundary: String) throws -> [MultipartPart] {
        let crlf = Data("\r\n".utf8), headerEnd = Data("\r\n\r\n".utf8)
        let malformed = RequestFailure(.badRequest, "the multipart/form-data body is malformed")
        guard let first = body.range(of: Data(("--" + boundary).utf8)) else {
            throw RequestFailure(.badRequest, "the multipart/form-data body does not contain its boundary")
        }
        let delimiter = Data(("\r\n--" + boundary).utf8)
        var parts: [MultipartPart] = [], position = first.upperBound
        while true {
            if body[position...].starts(with: Data("--".utf8)) { return parts }
            guard body[position...].starts(with: crlf) else { throw malformed }
            position += 2
            var part = MultipartPart()
            if body[position...].starts(with: crlf) {
                position += 2
            } else {
                guard let end = body.range(of: headerEnd, in: position..<body.endIndex) else { throw malformed }
                for line in String(decoding: body[position..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n") {
                    let pair = line.split(separator: ":", maxSplits: 1)
                    guard pair.count == 2, pair[0].lowercased() == "content-disposition" else { continue }
                    let parameters = dispositionParameters(String(pair[1]))
                    (part.fieldName, part.fileName) = (parameters["name"], parameters["filename"].map(cleanFileName))
                }
                position = end.upperBound
            }
            guard let next = body.range(of: delimiter, in: position..<body.endIndex) else {
                throw RequestFailure(.badRequest, "the multipart/form-data body ends before its closing boundary (was the upload cut short?)")
            }
            part.data = body.subdata(in: position..<next.lowerBound)
            parts.append(part)
            position = next.upperBound
        }
    }

    /// `form-data; name="files"; filename="a;b.png"` as ["name": "files", "filename": "a;b.png"]; quoted values
    /// may hold ';' and backslash-escaped quotes.
    static func dispositionParameters(_ value: String) -> [String: String] {
        var result: [String: String] = [:]
        var characters = Substring(value)
        characters = characters.drop { $0 != ";" }
        while characters.first == ";" {
            characters = characters.dropFirst().drop { $0 == " " || $0 == "\t" }
            let key = characters.prefix { $0 != "=" && $0 != ";" }.trimmingCharacters(in: .whitespaces).lowercased()
            characters = characters.dropFirst(characters.prefix { $0 != "=" && $0 != ";" }.count)
            guard characters.first == "=" else { continue }
            characters = characters.dropFirst()
            var text = ""
            if characters.first == "\"" {
                characters = characters.dropFirst()
                while let character = characters.first, character != "\"" {
                    characters = characters.dropFirst()
                    if character == "\\", let next = characters.first { text.append(next); characters = characters.dropFirst() }
                    else { text.append(character) }
                }
                characters = characters.dropFirst().drop { $0 != ";" }
            } else {
                text = characters.prefix { $0 != ";" }.trimmingCharacters(in: .whitespaces)
                characters = characters.drop { $0 != ";" }
            }
            result[key] = text
        }
        return result
    }

    /// The last path component (old browsers send whole paths), without control characters.
    static func cleanFileName(_ name: String) -> String {
        let base = name.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        let clean = String(base.unicodeScalars.filter { !CharacterSet.controlCharacters.contains($0) }.map(Character.init))
        return clean.isEmpty ? "unnamed" : clean
    }
}
