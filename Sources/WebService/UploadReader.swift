import Foundation
import HTTPTypes
import NIOCore
import NIOFoundationCompat
import ZIPFoundation

/// A request that cannot be answered as asked: its status and the one message the client sees.
public struct RequestFailure: Error, Sendable, Equatable {
    public let status: HTTPResponse.Status
    public let message: String

    public init(_ status: HTTPResponse.Status, _ message: String) { (self.status, self.message) = (status, message) }
}

/// One file of a request: its bytes, or why it was refused before inference (its row shows that).
struct ReceivedFile: Sendable, Equatable {
    var name: String
    var content: Result<Data, InferenceFailure>
}

/// The files of a `POST /api/predict` body: the file parts of multipart/form-data (zip files among them expanded
/// in memory, `.png` entries only), or one raw PNG body. Nothing is written to disk.
struct UploadReader {
    let limits: ServeLimits
    private static let pngSignature = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    private static let zipSignature = Data([0x50, 0x4B, 0x03, 0x04])

    func files(body: ByteBuffer, contentType: String?, name: String?) throws -> [ReceivedFile] {
        let type = contentType.map { $0.split(separator: ";")[0].trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        let files: [ReceivedFile]
        if type == "multipart/form-data" {
            files = try multipartFiles(body, contentType: contentType ?? "")
        } else {
            files = try rawFile(Data(buffer: body), type: type, name: name ?? "upload.png")
        }
        guard !files.isEmpty else {
            throw RequestFailure(.badRequest, "no files in the request: send PNG images (or zip files of them) as "
                                 + "multipart/form-data file fields, or one image/png body")
        }
        return files
    }

    private func rawFile(_ data: Data, type: String, name: String) throws -> [ReceivedFile] {
        guard !data.isEmpty else {
            throw RequestFailure(.badRequest, "the request body is empty: send a PNG image as an image/png body, "
                                 + "or files as multipart/form-data")
        }
        if data.starts(with: Self.pngSignature) { return [ReceivedFile(name: name, content: .success(data))] }
        if data.starts(with: Self.zipSignature) {
            var unzipped = 0
            return try expand(zip: data, named: name, count: 0, unzipped: &unzipped)
        }
        let start = data.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
        throw RequestFailure(.badRequest, "the request body (Content-Type '\(type.isEmpty ? "none" : type)') is not a PNG "
                             + "image: it starts with bytes \(start), not the PNG signature 89 50 4e 47 0d 0a 1a 0a")
    }

    private func multipartFiles(_ body: ByteBuffer, contentType: String) throws -> [ReceivedFile] {
        guard let boundary = Self.parameter("boundary", in: contentType), !boundary.isEmpty else {
            throw RequestFailure(.badRequest, "multipart/form-data without a boundary in its Content-Type")
        }
        var parts = try MultipartPart.parse(Data(buffer: body), boundary: boundary)
        var files: [ReceivedFile] = [], unzipped = 0
        for index in parts.indices {
            guard let fileName = parts[index].fileName else { continue }  // a plain form field
            let data = parts[index].data
            parts[index].data = Data()
            if data.starts(with: Self.zipSignature) || fileName.lowercased().hasSuffix(".zip") {
                files += try expand(zip: data, named: fileName, count: files.count, unzipped: &unzipped)
            } else {
                files.append(ReceivedFile(name: fileName, content: .success(data)))
            }
            try checkCount(files.count)
        }
        return files
    }

    private func checkCount(_ count: Int) throws {
        if count > limits.maxFiles {
            throw RequestFailure(.contentTooLarge, "too many files: more than \(limits.maxFiles) in one request "
                                 + "(zip files count their .png entries); send them in several requests")
        }
    }

    /// The `.png` entries of a zip file (folders inside allowed, macOS `__MACOSX` metadata skipped); a zip file
    /// that cannot be read, or holds no PNG, becomes one row with the error.
    private func expand(zip data: Data, named zipName: String, count: Int, unzipped: inout Int) throws -> [ReceivedFile] {
        func failed(_ message: String) -> [ReceivedFile] { [ReceivedFile(name: zipName, content: .failure(InferenceFailure(message: message)))] }
        let archive: Archive
        do { archive = try Archive(data: data, accessMode: .read) } catch {
            return failed("cannot read the zip file: it is damaged or not a zip file")
        }
        var files: [ReceivedFile] = []
        for entry in archive where entry.type == .file {
            let path = entry.path
            let base = (path as NSString).lastPathComponent
            guard path.lowercased().hasSuffix(".png"), !path.hasPrefix("__MACOSX/"), !base.hasPrefix("._") else { continue }
            try checkCount(count + files.count + 1)
            let name = zipName + "/" + path
            var bytes = Data()
            do {
                _ = try archive.extract(entry) { chunk in
                    guard bytes.count + chunk.count <= limits.maxFileBytes else { throw EntryTooLarge() }
                    guard unzipped + chunk.count <= limits.maxUnzippedBytes else { throw UnzippedTooLarge() }
                    bytes.append(chunk)
                    unzipped += chunk.count
                }
                files.append(ReceivedFile(name: name, content: .success(bytes)))
            } catch is EntryTooLarge {
                files.append(ReceivedFile(name: name, content: .failure(InferenceFailure(
                    message: "larger than \(limits.maxFileBytes >> 20) MiB unpacked; the server accepts smaller files"))))
            } catch is UnzippedTooLarge {
                throw RequestFailure(.contentTooLarge, "the zip files unpack to more than \(limits.maxUnzippedBytes >> 20) MiB "
                                     + "in one request; send them in several requests")
            } catch {
                files.append(ReceivedFile(name: name, content: .failure(InferenceFailure(message: "cannot unpack this zip entry: \(error)"))))
            }
        }
        return files.isEmpty ? failed("the zip file holds no .png files") : files
    }

    private struct EntryTooLarge: Error {}
    private struct UnzippedTooLarge: Error {}

    /// A parameter of a header value such as `multipart/form-data; boundary="abc"`.
    static func parameter(_ key: String, in header: String) -> String? {
        for item in header.split(separator: ";").dropFirst() {
            let pair = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, pair[0].lowercased() == key else { continue }
            let value = pair[1]
            return value.count >= 2 && value.hasPrefix("\"") && value.hasSuffix("\"") ? String(value.dropFirst().dropLast()) : value
        }
        return nil
    }
}
