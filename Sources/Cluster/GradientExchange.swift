import CMPI
import Tensors

/// Sums a model's gradients over all ranks in fixed buckets, as PyTorch DDP and Horovod do. The gradients are
/// numbered in the order backward produces them; a bucket holds consecutive gradients up to `bucketElements`
/// floats (a larger gradient gets a bucket of its own), so buckets depend only on the model and the bucket size,
/// never on timing. With `overlap`, a bucket's allreduce starts the moment its last gradient arrives (and every
/// earlier bucket has started), and runs on the communication thread while backward goes on; without it, all
/// buckets start after backward. Both issue the same calls in the same order, so the sums are bit-identical.
public final class GradientExchange {
    public let world: MPIWorld
    public let overlap: Bool
    /// Gradient shapes and sizes in backward order, each gradient's bucket and offset in the flat buffer.
    let shapes: [[Int]]
    let counts: [Int]
    package let offsets: [Int]
    package let bucketOfGradient: [Int]
    /// Bucket `b` is `buckets[b]` (a range of flat-buffer elements) with `missing[b]` gradients not yet arrived.
    package let buckets: [Range<Int>]
    private let bucketSizes: [Int]
    private var missing: [Int] = []
    /// Which gradients have arrived this step.
    private var hasArrived: [Bool] = []
    private var started: [CommunicationThread.Completion] = []
    private let buffer: UnsafeMutableBufferPointer<Float>

    public init(world: MPIWorld, gradientShapes shapes: [[Int]], bucketElements: Int, overlap: Bool) {
        let counts = shapes.map { $0.reduce(1, *) }
        (self.world, self.overlap, self.shapes, self.counts) = (world, overlap, shapes, counts)
        var offsets: [Int] = [], bucketOfGradient: [Int] = [], buckets: [Range<Int>] = [], sizes: [Int] = []
        var offset = 0
        for count in counts {
            if let last = buckets.last, last.count + count <= bucketElements {
                buckets[buckets.count - 1] = last.lowerBound..<(last.upperBound + count)
                sizes[sizes.count - 1] += 1
            } else {
                buckets.append(offset..<(offset + count))
                sizes.append(1)
            }
            offsets.append(offset)
            bucketOfGradient.append(buckets.count - 1)
            offset += count
        }
        (self.offsets, self.bucketOfGradient, self.buckets, self.bucketSizes) = (offsets, bucketOfGradient, buckets, sizes)
        buffer = .allocate(capacity: world.size > 1 ? offset : 0)
    }

    deinit { buffer.deallocate() }

    /// Starts a step: no gradient has arrived.
    public func begin() {
        missing = bucketSizes
        hasArrived = Array(repeating: false, count: counts.count)
        started = []
    }

    /// Gradient `index` (backward order) is final: it is copied into its bucket, and every bucket that is now
    /// complete starts (with `overlap`).
    public func arrived(_ index: Int, _ gradient: Tensor) {
        guard world.size > 1 else { return }
        precondition(gradient.count == counts[index], "gradient \(index) has \(gradient.count) values, expected \(counts[index])")
        gradient.withUnsafeBufferPointer { buffer.baseAddress!.advanced(by: offsets[index]).update(from: $0.baseAddress!, count: $0.count) }
        hasArrived[index] = true
        missing[bucketOfGradient[index]] -= 1
        if overlap { startCompleteBuckets() }
    }

    /// Starts every bucket not started yet (gradients that never arrived count as zeros: a rank without samples in
    /// the step, a layer backward did not reach), waits for all of them and returns the summed gradients in backward
    /// order. A world of one returns nil: the gradients are already the sums.
    public func finish() throws -> [Tensor]? {
        guard world.size > 1 else { return nil }
        for index in counts.indices where !hasArrived[index] {
            buffer.baseAddress!.advanced(by: offsets[index]).update(repeating: 0, count: counts[index])
        }
        while started.count < buckets.count { start(bucket: started.count) }
        var failure: Error?
        for completion in started {
            do { try world.communication.wait(completion) } catch { failure = failure ?? error }
        }
        if let failure { throw failure }
        return shapes.indices.map { index in
            var sum = Tensor(uninitializedShape: shapes[index])
            sum.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: buffer.baseAddress!.advanced(by: offsets[index]), count: $0.count) }
            return sum
        }
    }

    private func startCompleteBuckets() {
        while started.count < buckets.count && missing[started.count] == 0 { start(bucket: started.count) }
    }

    private func start(bucket: Int) {
        let range = buckets[bucket], base = buffer.baseAddress!.advanced(by: range.lowerBound)
        let communicator = world.gradientCommunicator
        started.append(world.communication.start {
            var request = cmpi_request_null()
            try MPIWorld.check(MPI_Iallreduce(cmpi_in_place(), base, Int32(range.count), cmpi_float(), cmpi_sum(),
                                              communicator, &request), "MPI_Iallreduce(sum) of \(range.count) floats")
            return request
        })
    }
}
