#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// 64-byte-aligned Float32 buffer. Owned by `Tensor` values, which copy it before writing when it is shared.
public final class TensorStorage {
    public let count: Int
    public let base: UnsafeMutablePointer<Float>

    init(count: Int) {
        precondition(count >= 0, "negative element count")
        var raw: UnsafeMutableRawPointer?
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            fatalError("out of memory allocating \(bytes) bytes for a tensor")
        }
        self.count = count
        self.base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    deinit { free(base) }
}

/// A dense Float32 tensor in row-major order. Images are NHWC, Conv2D kernels HWIO, Dense kernels (in, out):
/// the layouts Keras uses, so weights go to and from files unchanged.
/// A value type: copies share storage until one of them writes.
public struct Tensor {
    public private(set) var shape: [Int]
    private var storage: TensorStorage

    public var count: Int { storage.count }
    public var rank: Int { shape.count }

    /// A tensor whose contents are undefined; for kernels that overwrite every element.
    public init(uninitializedShape shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.storage = TensorStorage(count: shape.reduce(1, *))
    }

    public init(shape: [Int], repeating value: Float) {
        self.init(uninitializedShape: shape)
        storage.base.initialize(repeating: value, count: storage.count)
    }

    public init(zeros shape: [Int]) { self.init(shape: shape, repeating: 0) }

    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.reduce(1, *) == scalars.count,
                     "shape \(shape) needs \(shape.reduce(1, *)) values, got \(scalars.count)")
        self.init(uninitializedShape: shape)
        scalars.withUnsafeBufferPointer { storage.base.update(from: $0.baseAddress!, count: $0.count) }
    }

    public var scalars: [Float] { withUnsafeBufferPointer { Array($0) } }

    public subscript(index: Int) -> Float {
        get { precondition(index >= 0 && index < count); return storage.base[index] }
        set {
            precondition(index >= 0 && index < count)
            makeUnique()
            storage.base[index] = newValue
        }
    }

    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.base, count: storage.count))
    }

    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        makeUnique()
        return try body(UnsafeMutableBufferPointer(start: storage.base, count: storage.count))
    }

    /// The same elements under another shape of equal element count (storage is shared until a write).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        var copy = self
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

extension Tensor: CustomStringConvertible {
    public var description: String {
        let preview = withUnsafeBufferPointer { $0.prefix(6).map { "\($0)" }.joined(separator: ", ") }
        return "Tensor(\(shape): [\(preview)\(count > 6 ? ", ..." : "")])"
    }
}

extension Tensor {
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
