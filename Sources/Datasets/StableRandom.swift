import Foundation

/// Randomness that is a pure function of its seed, identical in every process and on every rank
/// (Swift's `Hasher` is seeded per process and `SystemRandomNumberGenerator` cannot be seeded).
public enum StableRandom {
    /// Combines values into one well-mixed 64-bit key, order-sensitive: e.g. a sample's augmentation key
    /// from (seed, epoch, sample index).
    public static func mix(_ parts: UInt64...) -> UInt64 { mix(parts) }

    public static func mix(_ parts: [UInt64]) -> UInt64 {
        var result: UInt64 = 0x6A09_E667_F3BC_C908
        for part in parts { result = finalize(result ^ finalize(part &+ 0x9E37_79B9_7F4A_7C15)) }
        return result
    }

    /// SplitMix64's finaliser: a bijection on 64 bits with full avalanche.
    static func finalize(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// SplitMix64 stream; internal so that it never clashes with other modules' generators.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return StableRandom.finalize(state)
    }

    /// Uniform in [0, 1) with 53 random bits.
    mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in [low, high).
    mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * nextUnit() }

    /// Standard normal (Box-Muller).
    mutating func normal() -> Double {
        let u = 1 - nextUnit(), v = nextUnit()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }

    /// Uniform integer in 0..<bound without modulo bias, so shuffles are the same on every platform.
    mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0)
        let limit = UInt64.max - UInt64.max % UInt64(bound)
        while true {
            let value = next()
            if value < limit { return Int(value % UInt64(bound)) }
        }
    }

    /// Fisher-Yates with `below`, whose result is fixed by the seed (Swift's `shuffle(using:)` makes no promise
    /// that its algorithm stays the same across releases).
    mutating func shuffle<T>(_ values: inout [T]) {
        guard values.count > 1 else { return }
        for i in stride(from: values.count - 1, to: 0, by: -1) { values.swapAt(i, below(i + 1)) }
    }
}
