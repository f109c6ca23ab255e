import Foundation
import Tensors

/// Minimal reader of little-endian float32/float64 C-order `.npy` files (test fixtures and referee outputs).
public func readNumpy(_ url: URL) throws -> Tensor {
    let data = try Data(contentsOf: url)
    guard data.count > 10, data.prefix(6) == Data([0x93] + Array("NUMPY".utf8)) else {
        throw NSError(domain: "npy", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(url.path): not a .npy file"])
    }
    let major = data[6]
    let headerLength = major == 1 ? Int(data[8]) | Int(data[9]) << 8
                                  : Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
    let headerStart = major == 1 ? 10 : 12
    let header = String(decoding: data[headerStart..<headerStart + headerLength], as: UTF8.self)
    guard !header.contains("'fortran_order': True") else {
        throw NSError(domain: "npy", code: 2, userInfo: [NSLocalizedDescriptionKey: "\(url.path): Fortran order"])
    }
    let shapeText = header.components(separatedBy: "'shape': (")[1].components(separatedBy: ")")[0]
    let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    let body = data[(headerStart + headerLength)...]
    let values: [Float]
    if header.contains("'<f4'") {
        values = body.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    } else if header.contains("'<f8'") {
        values = body.withUnsafeBytes { $0.bindMemory(to: Double.self).map(Float.init) }
    } else {
        throw NSError(domain: "npy", code: 3, userInfo: [NSLocalizedDescriptionKey: "\(url.path): unsupported dtype in \(header)"])
    }
    return Tensor(shape: shape, scalars: values)
}

/// Writes a little-endian float32 `.npy` file (version 1.0).
public func writeNumpy(_ tensor: Tensor, to url: URL) throws {
    try tensor.numpyData.write(to: url)
}
