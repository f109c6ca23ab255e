import CHDF5
import Foundation
import Layers
import Tensors
import XCTest
@_exported import TestSupport

/// Seeded uniform values in [low, high).
func randomTensor(_ shape: [Int], seed: UInt64, in range: ClosedRange<Float> = -1...1) -> Tensor {
    var generator = SplitMix64(seed: seed)
    let values = (0..<shape.reduce(1, *)).map { _ in
        range.lowerBound + generator.nextUnitFloat() * (range.upperBound - range.lowerBound)
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
