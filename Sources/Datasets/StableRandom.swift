import Foundation
import Tensors

/// Randomness that is a pure function of its seed, identical in every process and on every rank
/// (Swift's `Hasher` is seeded per process and `SystemRandomNumberGenerator` cannot be seeded).
public enum StableRandom {
    /// Combines values into one well-mixed 64-bit key, order-sensitive: e.g. a sample's augmentation key
    /// from (seed, epoch, sample index).
    public static func mix(_ parts: UInt64...) -> UInt64 { mix(parts) }

    public static func mix(_ parts: [UInt64]) -> UInt64 {
        var result: UInt64 = 0x6A09_E667_F3BC_C908
        for part in parts { result = SplitMix64.finalize(result ^ SplitMix64.finalize(part &+ 0x9E37_79B9_7F4A_7C15)) }
        return result
    }
}
