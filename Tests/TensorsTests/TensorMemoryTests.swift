import Tensors
import XCTest

/// The tensors' memory pool (CKernels/tensor_memory.c): freed large buffers serve the next tensor of their size (or,
/// when none of its size is kept, a tensor of at least half their size), buffers idle for a whole trim period go back to the
/// system, and what the pool holds stays within half again the most tensors have held at once.
final class TensorMemoryTests: XCTestCase {
    private let megabyte = 1 << 20

    /// Two trims in a row release every kept buffer (nothing is freed in between).
    private func emptyPool() {
        TensorStorage.trimPool()
        TensorStorage.trimPool()
    }

    func testAFreedBufferServesTheNextTensorOfItsSizeClassAndIsCounted() {
        emptyPool()
        let live = TensorStorage.liveBytes
        var tensor: Tensor? = Tensor(zeros: [3 * megabyte / 4])  // 3 MiB
        let first = tensor!.withUnsafeBufferPointer { $0.baseAddress! }
        XCTAssertEqual(Int(bitPattern: first) % 64, 0)
        XCTAssertEqual(TensorStorage.liveBytes - live, 3 * megabyte)
        XCTAssertGreaterThanOrEqual(TensorStorage.peakBytes, TensorStorage.liveBytes)
        tensor = nil
        XCTAssertEqual(TensorStorage.liveBytes, live)
        XCTAssertEqual(TensorStorage.cachedBytes, 3 * megabyte)
        let again = Tensor(zeros: [3 * megabyte / 4])
        XCTAssertEqual(again.withUnsafeBufferPointer { $0.baseAddress! }, first, "the kept buffer is reused")
        XCTAssertEqual(again.scalars.max(), 0, "a reused buffer is zeroed like a new one")
        XCTAssertEqual(TensorStorage.cachedBytes, 0)
        // Classes of 256 KiB between 2 and 4 MiB: 2.8 MiB and 3 MiB share a block, 3.1 MiB does not.
        let shared = again.withUnsafeBufferPointer { $0.baseAddress! }
        _ = consume again
        let nearby = Tensor(zeros: [7 * megabyte / 10])
        XCTAssertEqual(nearby.withUnsafeBufferPointer { $0.baseAddress! }, shared)
        XCTAssertEqual(TensorStorage.liveBytes - live, 7 * megabyte / 10 * 4)
    }

    func testAKeptBufferServesASmallerTensorOfAtLeastHalfItsSizeWhenNoneOfItsOwnSizeIsKept() {
        emptyPool()
        var large: Tensor? = Tensor(zeros: [megabyte + megabyte / 2])  // 6 MiB
        let address = large!.withUnsafeBufferPointer { $0.baseAddress! }
        large = nil
        XCTAssertNil(large)
        var smaller: Tensor? = Tensor(zeros: [megabyte])  // 4 MiB
        XCTAssertEqual(smaller!.withUnsafeBufferPointer { $0.baseAddress! }, address, "the 6 MiB buffer serves 4 MiB")
        XCTAssertEqual(smaller!.scalars.max(), 0)
        XCTAssertEqual(TensorStorage.cachedBytes, 0)
        smaller = nil
        XCTAssertNil(smaller)
        XCTAssertEqual(TensorStorage.cachedBytes, 6 * megabyte, "freed, it is kept as the 6 MiB buffer it is")
        let small = Tensor(zeros: [megabyte / 2])  // 2 MiB: less than half of 6
        XCTAssertNotEqual(small.withUnsafeBufferPointer { $0.baseAddress! }, address)
        XCTAssertEqual(TensorStorage.cachedBytes, 6 * megabyte)
    }

    func testBuffersIdleForAWholePeriodAreReleased() {
        emptyPool()
        var tensors: [Tensor]? = [Tensor(zeros: [megabyte]), Tensor(zeros: [megabyte / 2])]  // 4 and 2 MiB
        tensors = nil
        XCTAssertNil(tensors)
        XCTAssertEqual(TensorStorage.cachedBytes, 6 * megabyte)
        TensorStorage.trimPool()
        XCTAssertEqual(TensorStorage.cachedBytes, 6 * megabyte, "freed in this period: kept for the next")
        let reused = Tensor(zeros: [megabyte])
        TensorStorage.trimPool()
        XCTAssertEqual(TensorStorage.cachedBytes, 0, "the 2 MiB buffer went unused for a whole period")
        XCTAssertEqual(reused.count, megabyte)
    }

    func testAPoolKeepingBuffersOfOtherSizesReleasesThemBeforeGrowing() {
        emptyPool()
        TensorStorage.resetPeakBytes()
        let base = TensorStorage.liveBytes
        // Kept buffers of one size, then a request of another: keeping them all would hold more than half again the
        // peak, so the oldest go first.
        let count = max(16, base / (4 * megabyte) + 1)
        var tensors: [Tensor]? = (0..<count).map { _ in Tensor(zeros: [megabyte]) }
        let peak = TensorStorage.peakBytes
        XCTAssertEqual(peak, base + count * 4 * megabyte)
        tensors = nil
        XCTAssertNil(tensors)
        XCTAssertEqual(TensorStorage.cachedBytes, count * 4 * megabyte)
        let other = Tensor(zeros: [(count + 1) * megabyte])  // all of them and 4 MiB more
        XCTAssertLessThanOrEqual(TensorStorage.liveBytes + TensorStorage.cachedBytes, peak + peak / 2)
        XCTAssertLessThan(TensorStorage.cachedBytes, count * 4 * megabyte)
        XCTAssertEqual(other.count, (count + 1) * megabyte)
    }
}
