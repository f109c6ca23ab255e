import Tensors

/// This rank's share of one global batch.
public struct RankBatch {
    /// (n, height, width, 3), n possibly 0 in a last, short step.
    public var images: Tensor
    public var labels: [Int]
    /// One random key per sample, from (seed, epoch, sample index): augmentation and dropout depend on it alone.
    public var sampleKeys: [UInt64]
    /// Samples in the whole global batch, over all ranks: the loss divides by it.
    public var globalCount: Int

    public init(images: Tensor, labels: [Int], sampleKeys: [UInt64], globalCount: Int) {
        (self.images, self.labels, self.sampleKeys, self.globalCount) = (images, labels, sampleKeys, globalCount)
    }
}

/// What the trainer needs from the data pipeline: the same number of steps on every rank, and each step's
/// batch for this rank, from any (epoch, step) on (for exact resume).
public protocol BatchSource: AnyObject {
    var stepsPerEpoch: Int { get }
    /// Positions the source so that `next()` yields step `step` of `epoch`.
    func start(epoch: Int, step: Int) throws
    func next() throws -> RankBatch
}
