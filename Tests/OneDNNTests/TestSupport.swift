import Foundation
import OneDNN
import Tensors
import XCTest

extension SplitMix64 {
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

extension Tensor {
    /// The same values in oneDNN's blocked layout (converted in plain Swift).
    var blocked: Tensor { converted(to: .channelsBlocked16) }
}

/// Asserts `tensor` is in `layout` and, if blocked, that its channel padding holds zeros (oneDNN relies on it).
func assertLayout(_ tensor: Tensor, _ layout: TensorLayout, _ what: String,
                  file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(tensor.layout, layout, "\(what): layout", file: file, line: line)
    guard tensor.layout == .channelsBlocked16 else { return }
    let block = TensorLayout.channelBlock, channels = tensor.shape[3]
    let usedLanes = channels % block == 0 ? block : channels % block
    let nonzeroPadding = tensor.withUnsafeStorage { storage in
        // Only the last block of each run of blocks holds padding, in its lanes past `usedLanes`.
        stride(from: 0, to: storage.count, by: block).filter { start in
            let blockIndex = start / block, pixels = tensor.shape[1] * tensor.shape[2]
            let blocksPerImage = (channels + block - 1) / block
            return blockIndex / pixels % blocksPerImage == blocksPerImage - 1
                && storage[(start + usedLanes)..<(start + block)].contains { $0 != 0 }
        }.count
    }
    XCTAssertEqual(nonzeroPadding, 0, "\(what): blocks with nonzero channel padding", file: file, line: line)
}
