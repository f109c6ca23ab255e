import Tensors
import XCTest

/// The tensors' memory pool (CKernels/tensor_memory.c): freed large buffers serve the next tensor of their size (or,
/// when none of its size is kept, a tensor of at least four fifths their size), a tensor no kept buffer serves is
/// made of kept buffers' pages instead of new ones, and buffers idle for a whole trim period go back to the system.
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

    func testAKeptBufferServesASmallerTensorOfAtLeastFourFifthsItsSizeWhenNoneOfItsOwnSizeIsKept() {
        emptyPool()
        var large: Tensor? = Tensor(zeros: [megabyte + megabyte / 4])  // 5 MiB
        let address = large!.withUnsafeBufferPointer { $0.baseAddress! }
        let mapped = TensorStorage.mappedBytes
        large = nil
        XCTAssertNil(large)
        var smaller: Tensor? = Tensor(zeros: [megabyte])  // 4 MiB
        XCTAssertEqual(smaller!.withUnsafeBufferPointer { $0.baseAddress! }, address, "the 5 MiB buffer serves 4 MiB")
        XCTAssertEqual(smaller!.scalars.max(), 0)
        XCTAssertEqual(TensorStorage.cachedBytes, 0)
        smaller = nil
        XCTAssertNil(smaller)
        XCTAssertEqual(TensorStorage.cachedBytes, 5 * megabyte, "freed, it is kept as the 5 MiB buffer it is")
        let small = Tensor(zeros: [megabyte * 3 / 4])  // 3 MiB: less than four fifths of 5
        XCTAssertNotEqual(small.withUnsafeBufferPointer { $0.baseAddress! }, address)
        XCTAssertEqual(TensorStorage.cachedBytes, 2 * megabyte - 4096, "the rest of the 5 MiB buffer, less a header page")
        XCTAssertEqual(TensorStorage.mappedBytes, mapped, "its tail moved, nothing mapped anew")
    }

    /// A tensor of `count` elements filled with their indices, read back: every page of it is there and its own. With
    /// `reusingPages`, it also checks that no page was new (a new page reads all zero; the pages this test's buffers
    /// give hold their indices or a block's header).
    private func tensorHoldingItsIndices(_ count: Int, reusingPages: Bool = false, file: StaticString = #filePath,
                                         line: UInt = #line) -> Tensor {
        var tensor = Tensor(uninitializedShape: [count])
        if reusingPages {
            let newPages = tensor.withUnsafeStorage { values in
                stride(from: 0, to: count, by: 1024).filter { start in values[start..<min(start + 1024, count)].allSatisfy { $0 == 0 } }
            }
            XCTAssertEqual(newPages.count, 0, "pages not taken from kept buffers", file: file, line: line)
        }
        tensor.withUnsafeMutableStorage { for i in 0..<count { $0[i] = Float(i % 65_536) } }
        XCTAssertTrue(tensor.withUnsafeStorage { values in (0..<count).allSatisfy { values[$0] == Float($0 % 65_536) } },
                      file: file, line: line)
        return tensor
    }

    /// Every boundary between the system's mappings inside a tensor's buffer (and the page in front of it) is one the
    /// pool recorded: each recorded mapping lies within one of the system's, so mremap can move it in one call (kernels
    /// before 6.17 move no range spanning two; this machine's may, so only the system's list can tell).
    private func assertMappingsAreTheSystems(_ tensor: Tensor, file: StaticString = #filePath, line: UInt = #line) {
        let base = tensor.withUnsafeStorage { UnsafeRawPointer($0.baseAddress!) }
        let lengths = TensorStorage.mappingLengths(of: base, bytes: tensor.count * 4)
        XCTAssertFalse(lengths.isEmpty, file: file, line: line)
        let start = Int(bitPattern: base) - 4096, end = start + lengths.reduce(0, +)
        let recorded = Set(lengths.indices.map { start + lengths[..<$0].reduce(0, +) } + [end])
        let maps = (try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8)) ?? ""
        let systems = maps.split(separator: "\n").flatMap { entry in
            entry.split(separator: " ")[0].split(separator: "-").compactMap { Int($0, radix: 16) }
        }
        XCTAssertFalse(systems.isEmpty, file: file, line: line)
        for boundary in systems where boundary > start && boundary < end {
            XCTAssertTrue(recorded.contains(boundary), "a mapping starts or ends at \(boundary - start) bytes into the buffer",
                          file: file, line: line)
        }
    }

    func testATensorNoKeptBufferServesIsMadeOfKeptBuffersPagesNotNewOnes() {
        emptyPool()
        var buffers: [Tensor]? = (0..<4).map { _ in tensorHoldingItsIndices(megabyte) }  // 4 x 4 MiB
        let mapped = TensorStorage.mappedBytes
        buffers = nil
        XCTAssertNil(buffers)
        // 12 MiB: three of them moved whole, with their header pages.
        var assembled: Tensor? = tensorHoldingItsIndices(3 * megabyte, reusingPages: true)
        assertMappingsAreTheSystems(assembled!)
        XCTAssertEqual(TensorStorage.mappedBytes, mapped, "no new pages")
        XCTAssertEqual(TensorStorage.cachedBytes, 4 * megabyte)
        assembled = nil
        XCTAssertNil(assembled)
        // 8 MiB: the tail of the 12 MiB buffer (the smallest kept one large enough), its pages in two of the three
        // mappings it is made of; the rest of it stays kept.
        let tail = tensorHoldingItsIndices(2 * megabyte, reusingPages: true)
        assertMappingsAreTheSystems(tail)
        XCTAssertEqual(TensorStorage.mappedBytes, mapped)
        XCTAssertEqual(TensorStorage.cachedBytes, 4 * megabyte + 4 * megabyte + 4096, "the untouched 4 MiB buffer and the rest")
        XCTAssertEqual(tail.count, 2 * megabyte)
        // The rest (a whole mapping and the first page of the next) serves 4 MiB once the untouched buffer is taken,
        // and then, freed, gives its pages with the untouched one to 8 MiB.
        var untouched: Tensor? = tensorHoldingItsIndices(megabyte, reusingPages: true)
        var rest: Tensor? = tensorHoldingItsIndices(megabyte, reusingPages: true)
        assertMappingsAreTheSystems(rest!)
        XCTAssertEqual(TensorStorage.cachedBytes, 0)
        (untouched, rest) = (nil, nil)
        XCTAssertNil(untouched)
        XCTAssertNil(rest)
        let both = tensorHoldingItsIndices(2 * megabyte, reusingPages: true)
        assertMappingsAreTheSystems(both)
        XCTAssertEqual(TensorStorage.cachedBytes, 0)
        XCTAssertEqual(TensorStorage.mappedBytes, mapped)
        XCTAssertEqual(both.count, 2 * megabyte)
    }

    func testABufferMadeOfManyOthersGoesBackToTheSystemWhenFreed() {
        emptyPool()
        let base = TensorStorage.mappedBytes
        var buffers: [Tensor]? = (0..<40).map { _ in tensorHoldingItsIndices(megabyte / 4) }  // 40 x 1 MiB
        let mapped = TensorStorage.mappedBytes
        XCTAssertEqual(mapped, base + 40 * (megabyte + 4096))
        buffers = nil
        XCTAssertNil(buffers)
        // 40 MiB from forty mappings: more than a kept buffer may span, so the system takes it back when it is freed.
        var assembled: Tensor? = tensorHoldingItsIndices(10 * megabyte, reusingPages: true)
        assertMappingsAreTheSystems(assembled!)
        XCTAssertEqual(TensorStorage.mappingLengths(of: assembled!.withUnsafeStorage { UnsafeRawPointer($0.baseAddress!) },
                                                    bytes: 40 * megabyte).count, 40)
        XCTAssertEqual(TensorStorage.mappedBytes, mapped)
        XCTAssertEqual(TensorStorage.cachedBytes, 0)
        assembled = nil
        XCTAssertNil(assembled)
        XCTAssertEqual(TensorStorage.mappedBytes, base)
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
}
