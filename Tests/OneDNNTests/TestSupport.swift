import Foundation
import OneDNN
import Tensors
import XCTest

/// SplitMix64: a tiny deterministic generator, so every run compares the same inputs.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [-1, 1].
    mutating func nextFloat() -> Float { Float(next() >> 40) / Float(1 << 24) * 2 - 1 }
}

/// Seeded uniform values in [low, high].
func randomTensor(_ shape: [Int], seed: UInt64, in range: ClosedRange<Float> = -1...1) -> Tensor {
    var generator = SplitMix64(seed: seed)
    let count = shape.reduce(1, *)
    let scalars = (0..<count).map { _ in
        range.lowerBound + (generator.nextFloat() + 1) / 2 * (range.upperBound - range.lowerBound)
    }
    return Tensor(shape: shape, scalars: scalars)
}

/// Both backends, shared by the tests of one class.
class BackendComparisonCase: XCTestCase {
    let fast = OneDNNBackend(threads: 2)
    let reference = ReferenceBackend()

    /// Asserts equal shapes and `maxRelativeDifference` within `tolerance`. With ONEDNN_TEST_REPORT set,
    /// prints every observed difference (for reporting accuracy).
    func assertClose(_ actual: Tensor, _ expected: Tensor, tolerance: Float, _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.shape, expected.shape, "\(what): shape", file: file, line: line)
        guard actual.shape == expected.shape else { return }
        let difference = actual.maxRelativeDifference(to: expected)
        if ProcessInfo.processInfo.environment["ONEDNN_TEST_REPORT"] != nil {
            print("difference \(difference) (tolerance \(tolerance)): \(what)")
        }
        XCTAssertLessThanOrEqual(difference, tolerance, "\(what)", file: file, line: line)
    }
}
