import CHDF5
import Foundation
import Layers
import Tensors
import XCTest

/// Seeded uniform values in [low, high).
func randomTensor(_ shape: [Int], seed: UInt64, in range: ClosedRange<Float> = -1...1) -> Tensor {
    var generator = SplitMix64(seed: seed)
    let values = (0..<shape.reduce(1, *)).map { _ in
        range.lowerBound + generator.nextUnitFloat() * (range.upperBound - range.lowerBound)
    }
    return Tensor(shape: shape, scalars: values)
}

let sharedFixtures = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("../shared/keras-reference/fixtures").standardizedFileURL

/// Minimal reader of little-endian float32/float64 C-order `.npy` files (test fixtures only).
func readNumpy(_ url: URL) throws -> Tensor {
    let data = try Data(contentsOf: url)
    guard data.count > 10, data.prefix(6) == Data([0x93] + Array("NUMPY".utf8)) else {
        throw NSError(domain: "npy", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(url.path): not a .npy file"])
    }
    let major = data[6]
    let headerLength = major == 1 ? Int(data[8]) | Int(data[9]) << 8
                                  : Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
    let headerStart = major == 1 ? 10 : 12
    let header = String(decoding: data[headerStart..<headerStart + headerLength], as: UTF8.self)
    guard !header.contains("'fortran_order': True") else { throw NSError(domain: "npy", code: 2) }
    let shapeText = header.components(separatedBy: "'shape': (")[1].components(separatedBy: ")")[0]
    let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    let body = data[(headerStart + headerLength)...]
    let values: [Float]
    if header.contains("'<f4'") {
        values = body.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    } else if header.contains("'<f8'") {
        values = body.withUnsafeBytes { $0.bindMemory(to: Double.self).map(Float.init) }
    } else {
        throw NSError(domain: "npy", code: 3, userInfo: [NSLocalizedDescriptionKey: "unsupported dtype in \(header)"])
    }
    return Tensor(shape: shape, scalars: values)
}

/// Reads one float32 dataset from an HDF5 file (test helper; the real Keras reader is the KerasHDF5 target's job).
func readHDF5Dataset(_ file: URL, path: String) throws -> [Float] {
    let fileID = H5Fopen(file.path, chdf5_acc_rdonly(), hid_t(H5P_DEFAULT))
    guard fileID >= 0 else { throw NSError(domain: "h5", code: 1, userInfo: [NSLocalizedDescriptionKey: "cannot open \(file.path)"]) }
    defer { H5Fclose(fileID) }
    let dataset = H5Dopen2(fileID, path, hid_t(H5P_DEFAULT))
    guard dataset >= 0 else { throw NSError(domain: "h5", code: 2, userInfo: [NSLocalizedDescriptionKey: "no dataset \(path)"]) }
    defer { H5Dclose(dataset) }
    let space = H5Dget_space(dataset)
    defer { H5Sclose(space) }
    var values = [Float](repeating: 0, count: Int(H5Sget_simple_extent_npoints(space)))
    let status = values.withUnsafeMutableBytes {
        H5Dread(dataset, chdf5_native_float(), 0, 0 /* H5S_ALL */, hid_t(H5P_DEFAULT), $0.baseAddress)
    }
    guard status >= 0 else { throw NSError(domain: "h5", code: 3) }
    return values
}

/// Asserts two tensors agree elementwise within `tolerance` relative (absolute below magnitude 1).
func assertClose(_ actual: Tensor, _ expected: Tensor, tolerance: Float, _ message: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.shape, expected.shape, message, file: file, line: line)
    guard actual.shape == expected.shape else { return }
    let difference = actual.maxRelativeDifference(to: expected)
    XCTAssertLessThanOrEqual(difference, tolerance, "\(message): max relative difference \(difference)", file: file, line: line)
}
