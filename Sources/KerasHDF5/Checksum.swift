import Tensors

/// FNV-1a (64-bit) over a tensor's float32 bit patterns, one 32-bit word per step (4x fewer steps than bytewise,
/// and independent of byte order). HDF5 reads corrupted raw data back without complaint, so bc-train stores this
/// next to every array it writes and checks it on read.
public func checksum(_ tensor: Tensor) -> UInt64 {
    tensor.withUnsafeBufferPointer { values in
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for value in values { hash = (hash ^ UInt64(value.bitPattern)) &* 0x100_0000_01b3 }
        return hash
    }
}

/// The attribute holding `checksum(_:)` on every dataset bc-train writes.
let checksumAttribute = "bc_train_fnv1a64"
