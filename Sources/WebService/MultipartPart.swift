import Foundation
import MultipartKit
import NIOCore

/// One part of a multipart/form-data body: a file (with its name) or a plain field.
struct MultipartPart: Sendable, Equatable {
    var fieldName: String?
    var fileName: String?
    var data = Data()

    /// Parses the parts of a whole body.
    static func parse(_ body: ByteBuffer, boundary: String) throws -> [MultipartPart] {
        let parser = MultipartParser(boundary: boundary)
        var parts: [MultipartPart] = [], current = MultipartPart()
        parser.onHeader = { name, value in
            guard name.lowercased() == "content-disposition" else { return }
            let parameters = dispositionParameters(value)
            current.fieldName = parameters["name"]
            current.fileName = parameters["filename"].map(cleanFileName)
        }
        parser.onBody = { chunk in current.data.append(contentsOf: chunk.readableBytesView) }
        parser.onPartComplete = {
            parts.append(current)
            current = MultipartPart()
        }
        do { try parser.execute(body) } catch {
            throw RequestFailure(.badRequest, "the multipart/form-data body is malformed")
        }
        // The parser does not notice a body cut short: a complete one ends with the closing boundary.
        let tail = Data(body.readableBytesView.suffix(boundary.utf8.count + 256))
        guard tail.range(of: Data(("--" + boundary + "--").utf8)) != nil else {
            throw RequestFailure(.badRequest, "the multipart/form-data body ends before its closing boundary (was the upload cut short?)")
        }
        return parts
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
