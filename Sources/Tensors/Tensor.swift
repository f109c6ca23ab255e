#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CKernels

/// 64-byte-aligned Float32 buffer. Owned by `Tensor` values, which copy it before writing when it is shared.
/// Large buffers come from a pool that keeps freed ones for the next tensor of about the same size (see
/// `CKernels/tensor_memory.h`): a training step's tensors are the same every step, so steps after the first rarely
/// ask the system for memory, and the process holds little more than what one step needs at once.
public final class TensorStorage {
    public let count: Int
    public let base: UnsafeMutablePointer<Float>

    /// Room for `count` floats, contents undefined.
    public init(count: Int) {
        precondition(count >= 0, "negative element count")
        let bytes = Self.bytes(count)
        guard let raw = ck_tensor_memory_allocate(bytes) else { exitOutOfMemory(bytes: bytes) }
        self.count = count
        self.base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    deinit { ck_tensor_memory_free(base, Self.bytes(count)) }

    private static func bytes(_ count: Int) -> Int { max(count, 1) * MemoryLayout<Float>.stride }

    /// Bytes all tensors hold now, and the most they have held since the last `resetPeakBytes` (or the start).
    public static var liveBytes: Int { ck_tensor_memory_live() }
    public static var peakBytes: Int { ck_tensor_memory_peak() }
    public static func resetPeakBytes() { ck_tensor_memory_reset_peak() }
    /// Bytes the pool keeps for reuse.
    public static var cachedBytes: Int { ck_tensor_memory_cached() }
    /// Bytes of the pool's blocks, serving tensors or kept (tensors under 1 MiB use malloc and are not among them).
    public static var mappedBytes: Int { ck_tensor_memory_mapped() }
    /// The lengths of the mappings a tensor's pooled buffer lies in, the page in front of it first, in address order
    /// (empty under 1 MiB): where the pool may move its pages with one mremap each. For tests, against the system's.
    public static func mappingLengths(of base: UnsafeRawPointer, bytes: Int) -> [Int] {
        var lengths = [Int](repeating: 0, count: 64)
        let count = lengths.withUnsafeMutableBufferPointer { ck_tensor_memory_mappings(base, bytes, $0.baseAddress, 64) }
        return Array(lengths.prefix(count))
    }
    /// Gives the system back the pooled buffers no tensor has used since the previous call: call it once per
    /// repeated unit of work (a training step, a batch of predictions), so that buffers of sizes no longer asked
    /// for (after a change of batch size, say) do not stay.
    public static func trimPool() { ck_tensor_memory_trim() }
}

/// Tensors are made everywhere and cannot each report failure, so an allocation that fails ends the process with
/// one line (tools check their inputs' memory needs beforehand, see `MemoryBudget`; this is the last line of
/// defence, never a trap with a stack trace).
private func exitOutOfMemory(bytes: Int) -> Never {
    let tool = CommandLine.arguments.first.map { String($0.split(separator: "/").last ?? Substring($0)) } ?? "bc-train"
    let gigabytes = Double(bytes) / 1_073_741_824
    fputs("\(tool): error: out of memory: a tensor of \(bytes) bytes (\((gigabytes * 100).rounded() / 100) GiB) could not be "
          + "allocated; use a smaller input size or batch\n", stderr)
    exit(1)
}

/// How a tensor's elements lie in its storage. Either way `shape` is the logical shape (NHWC for images)
/// and indices, `scalars` and `withUnsafeBufferPointer` mean row-major order in that shape.
public enum TensorLayout: Hashable, Sendable {
    /// Row-major in the order of `shape`: what Keras, files and plain-Swift code use.
    case plain
    /// oneDNN's nChw16c, for rank-4 NHWC tensors: each image's channels in blocks of 16, each block stored as
    /// (H, W, 16) after the previous one, channels padded with zeros up to a multiple of 16. The oneDNN backend's
    /// convolutions run fastest on it, so activations stay in it between layers.
    case channelsBlocked16

    /// Channels per block of `channelsBlocked16`.
    public static let channelBlock = 16

    /// Floats of storage a tensor of `shape` needs in this layout (padding included).
    public func storageCount(_ shape: [Int]) -> Int {
        switch self {
        case .plain: return shape.reduce(1, *)
        case .channelsBlocked16:
            precondition(shape.count == 4, "the blocked layout is for NHWC tensors, got shape \(shape)")
            return shape[0] * shape[1] * shape[2] * paddedChannels(shape[3])
        }
    }
}

/// Channels rounded up to whole blocks of 16.
private func paddedChannels(_ channels: Int) -> Int {
    (channels + TensorLayout.channelBlock - 1) / TensorLayout.channelBlock * TensorLayout.channelBlock
}

/// A dense Float32 tensor. Images are NHWC, Conv2D kernels HWIO, Dense kernels (in, out): the layouts Keras
/// uses, so weights go to and from files unchanged. Storage is row-major (`.plain`) unless `layout` says
/// otherwise; only the oneDNN backend creates other layouts, and every accessor here that speaks of flat
/// indices means plain row-major order whatever the layout (converting a copy when it must).
/// A value type: copies share storage until one of them writes.
public struct Tensor {
    public private(set) var shape: [Int]
    public private(set) var layout: TensorLayout
    private var storage: TensorStorage

    /// Number of elements (the product of `shape`).
    public var count: Int { layout == .plain ? storage.count : shape.reduce(1, *) }
    /// Number of floats in storage: `count` plus the blocked layout's channel padding.
    public var storageCount: Int { storage.count }
    public var rank: Int { shape.count }

    /// A tensor whose contents are undefined; for kernels that overwrite every element (and, in the blocked
    /// layout, zero the channel padding).
    public init(uninitializedShape shape: [Int], layout: TensorLayout = .plain) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.layout = layout
        self.storage = TensorStorage(count: layout.storageCount(shape))
    }

    public init(shape: [Int], repeating value: Float) {
        self.init(uninitializedShape: shape)
        storage.base.initialize(repeating: value, count: storage.count)
    }

    public init(zeros shape: [Int], layout: TensorLayout = .plain) {
        self.init(uninitializedShape: shape, layout: layout)
        storage.base.initialize(repeating: 0, count: storage.count)
    }

    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.reduce(1, *) == scalars.count,
                     "shape \(shape) needs \(shape.reduce(1, *)) values, got \(scalars.count)")
        self.init(uninitializedShape: shape)
        scalars.withUnsafeBufferPointer { storage.base.update(from: $0.baseAddress!, count: $0.count) }
    }

    /// The elements in row-major order.
    public var scalars: [Float] { withUnsafeBufferPointer { Array($0) } }

    /// The element at a row-major index.
    public subscript(index: Int) -> Float {
        get { precondition(index >= 0 && index < count); return storage.base[storageOffset(index)] }
        set {
            precondition(index >= 0 && index < count)
            makeUnique()
            storage.base[storageOffset(index)] = newValue
        }
    }

    /// The elements in row-major order (of a plain copy if the tensor is blocked).
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        guard layout == .plain else { return try plain().withUnsafeBufferPointer(body) }
        return try withUnsafeStorage(body)
    }

    /// The elements in row-major order, for writing. A blocked tensor becomes plain first.
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        if layout != .plain { self = plain() }
        return try withUnsafeMutableStorage(body)
    }

    /// The raw storage in `layout` order, `storageCount` floats (for code that handles layouts itself).
    public func withUnsafeStorage<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.base, count: storage.count))
    }

    /// The raw storage in `layout` order, for writing. Writers keep the blocked layout's padding zero.
    public mutating func withUnsafeMutableStorage<R>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        makeUnique()
        return try body(UnsafeMutableBufferPointer(start: storage.base, count: storage.count))
    }

    /// The same elements under another shape of equal element count (storage is shared until a write;
    /// a blocked tensor is made plain first).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        var copy = plain()
        copy.shape = newShape
        return copy
    }

    private mutating func makeUnique() {
        guard !isKnownUniquelyReferenced(&storage) else { return }
        let fresh = TensorStorage(count: storage.count)
        fresh.base.update(from: storage.base, count: storage.count)
        storage = fresh
    }
}

// MARK: Layout conversion (plain Swift; the oneDNN backend converts with its own reorders)

extension Tensor {
    /// This tensor in the plain layout (itself if it already is).
    public func plain() -> Tensor { converted(to: .plain) }

    /// The same elements in `newLayout` (itself if it already is in it).
    public func converted(to newLayout: TensorLayout) -> Tensor {
        guard newLayout != layout else { return self }
        var result = Tensor(zeros: shape, layout: newLayout)
        let toBlocked = newLayout == .channelsBlocked16
        withUnsafeStorage { source in
            result.withUnsafeMutableStorage { destination in
                forEachChannelRun { plainOffset, blockedOffset, lanes in
                    let (from, to) = toBlocked ? (plainOffset, blockedOffset) : (blockedOffset, plainOffset)
                    (destination.baseAddress! + to).update(from: source.baseAddress! + from, count: lanes)
                }
            }
        }
        return result
    }

    /// Calls `body` for every run of channels one pixel holds in one block: where the run starts in plain and
    /// in blocked storage, and how many channels it has (16, or fewer in a last, padded block).
    private func forEachChannelRun(_ body: (_ plainOffset: Int, _ blockedOffset: Int, _ lanes: Int) -> Void) {
        precondition(rank == 4, "the blocked layout is for NHWC tensors, got shape \(shape)")
        let (n, pixels, c) = (shape[0], shape[1] * shape[2], shape[3]), block = TensorLayout.channelBlock
        var blockedOffset = 0
        for image in 0..<n { for firstChannel in stride(from: 0, to: c, by: block) {
            for pixel in 0..<pixels {
                body((image * pixels + pixel) * c + firstChannel, blockedOffset, min(block, c - firstChannel))
                blockedOffset += block
            }
        } }
    }

    /// A copy of the first `width` channels (the last axis), in this tensor's layout. In the blocked layout an
    /// image's first channels are the beginning of its storage, so a prefix of whole blocks is one copy per image.
    public func channelPrefix(_ width: Int) -> Tensor {
        let channels = shape.last ?? 0
        precondition(rank >= 1 && (0...channels).contains(width), "a prefix of \(width) channels of \(shape)")
        let prefix = Tensor(uninitializedShape: shape.dropLast() + [width], layout: layout)
        let runs = layout == .plain ? shape.dropLast().reduce(1, *) : shape[0]
        let (from, to) = (storage.count / max(runs, 1), prefix.storage.count / max(runs, 1))
        for run in 0..<runs {
            (prefix.storage.base + run * to).update(from: storage.base + run * from, count: to)
        }
        if layout == .channelsBlocked16, width % TensorLayout.channelBlock != 0 {
            // The last block's lanes past `width` are channels of this tensor; the prefix's padding must be zero.
            prefix.forEachChannelRun { _, blockedOffset, lanes in
                guard lanes < TensorLayout.channelBlock else { return }
                (prefix.storage.base + blockedOffset + lanes).update(repeating: 0, count: TensorLayout.channelBlock - lanes)
            }
        }
        return prefix
    }

    /// Where the element at a row-major index lies in storage.
    private func storageOffset(_ index: Int) -> Int {
        guard layout == .channelsBlocked16 else { return index }
        let (h, w, c) = (shape[1], shape[2], shape[3]), block = TensorLayout.channelBlock
        let channel = index % c, pixel = index / c % (h * w), image = index / (c * h * w)
        return ((image * (paddedChannels(c) / block) + channel / block) * h * w + pixel) * block + channel % block
    }
}
extension Tensor: CustomStringConvertible {
    public var description: String {
        let preview = (0..<min(count, 6)).map { "\(self[$0])" }.joined(separator: ", ")
        let layoutNote = layout == .plain ? "" : " \(layout)"
        return "Tensor(\(shape)\(layoutNote): [\(preview)\(count > 6 ? ", ..." : "")])"
    }
}

extension Tensor {
    /// The elementwise product with an equally shaped tensor, in this tensor's layout (`other` is converted to
    /// it first; blocked padding stays zero).
    public func multiplied(elementwiseBy other: Tensor) -> Tensor {
        precondition(shape == other.shape, "multiplying \(shape) by \(other.shape)")
        var product = self
        let factors = other.converted(to: layout)
        product.withUnsafeMutableStorage { values in
            factors.withUnsafeStorage { factors in for i in values.indices { values[i] *= factors[i] } }
        }
        return product
    }

    /// Largest |a - b| / max(1, |b|) over all elements: relative error that falls back to absolute near zero.
    public func maxRelativeDifference(to other: Tensor) -> Float {
        precondition(shape == other.shape, "comparing \(shape) with \(other.shape)")
        return withUnsafeBufferPointer { a in
            other.withUnsafeBufferPointer { b in
                var worst: Float = 0
                for i in 0..<a.count {
                    let difference = abs(a[i] - b[i]) / max(1, abs(b[i]))
                    if difference.isNaN { return .nan }
                    worst = max(worst, difference)
                }
                return worst
            }
        }
    }
}
