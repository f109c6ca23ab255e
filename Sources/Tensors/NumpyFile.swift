import Foundation

extension Tensor {
    /// The tensor as a `.npy` file (version 1.0, little-endian float32, C order), as `numpy.save` writes it.
    public var numpyData: Data {
        let text = shape.count == 1 ? "(\(shape[0]),)" : "(\(shape.map(String.init).joined(separator: ", ")))"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(text), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
        data.append(Data(header.utf8))
        withUnsafeBufferPointer { data.append(Data(buffer: $0)) }
        return data
    }
}
