import Foundation
import Images
import Tensors

public struct LoaderConfiguration: Sendable {
    public var height: Int
    public var width: Int
    public var resize: ResizeMethod = .bilinear
    public var augmentation: Augmentation = .none
    public var preprocessing: Preprocessing
    /// Samples per step over all ranks.
    public var globalBatchSize: Int
    public var worldSize = 1
    public var rank = 0
    /// Fixes every epoch's order and every sample's augmentation key.
    public var seed: UInt64
    public var order: SampleOrder = .shuffled
    public var dropRemainder = false
    /// Threads that decode and augment ahead of the consumer (0: the consumer builds each batch itself).
    /// They never call MPI.
    public var workerThreads = 2
    /// Batches built or being built ahead of the one the consumer waits for.
    public var prefetchBatches = 4
    /// Memory for decoded images (original RGB, before resizing and augmentation), filled first come first kept.
    public var cacheBytes = 0

    public init(height: Int, width: Int, resize: ResizeMethod = .bilinear, augmentation: Augmentation = .none,
                preprocessing: Preprocessing, globalBatchSize: Int, worldSize: Int = 1, rank: Int = 0,
                seed: UInt64, order: SampleOrder = .shuffled, dropRemainder: Bool = false,
                workerThreads: Int = 2, prefetchBatches: Int = 4, cacheBytes: Int = 0) {
        (self.height, self.width, self.resize, self.augmentation) = (height, width, resize, augmentation)
        (self.preprocessing, self.globalBatchSize, self.worldSize, self.rank) = (preprocessing, globalBatchSize, worldSize, rank)
        (self.seed, self.order, self.dropRemainder) = (seed, order, dropRemainder)
        (self.workerThreads, self.prefetchBatches, self.cacheBytes) = (workerThreads, prefetchBatches, cacheBytes)
    }
}

/// This rank's part of one step's global batch.
public struct Batch {
    public let epoch: Int
    public let step: Int
    /// [n, height, width, 3], n = this rank's sample count (0 is possible in an epoch's last step).
    public let images: Tensor
    public let labels: [Int]
    /// Per-sample keys for augmentation (already applied) and dropout; independent of rank and world size.
    public let sampleKeys: [UInt64]
    /// Indices into the loader's sample list.
    public let sampleIndices: [Int]
    /// Samples in this step over all ranks, the divisor of the loss.
    public let globalBatchSize: Int
}

public enum LoaderError: Error, CustomStringConvertible, Equatable {
    case invalidConfiguration(String)
    case unreadableImage(path: String, message: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let message): return "loader: \(message)"
        case .unreadableImage(let path, let message): return "\(path): \(message)"
        }
    }
}

/// Turns a sample list into this rank's batches, epoch after epoch, exactly as described by `BatchSchedule` and
/// `EpochOrder`: the batches depend on (seed, epoch, step, rank, world size) only, so a loader started at any
/// (epoch, step) yields what an uninterrupted one yields from there.
public final class Loader: @unchecked Sendable {
    public let samples: [Sample]
    public let classCount: Int
    public let configuration: LoaderConfiguration
    public let schedule: BatchSchedule
    private let pipeline: ImagePipeline
    private let cache: DecodedImageCache

    public init(samples: [Sample], classCount: Int, configuration: LoaderConfiguration) throws {
        let c = configuration
        guard c.height > 0, c.width > 0 else { throw LoaderError.invalidConfiguration("image size \(c.height)x\(c.width)") }
        guard c.rank >= 0, c.rank < c.worldSize else {
            throw LoaderError.invalidConfiguration("rank \(c.rank) outside 0..<\(c.worldSize)")
        }
        guard c.workerThreads >= 0, c.prefetchBatches >= 1, c.cacheBytes >= 0 else {
            throw LoaderError.invalidConfiguration("worker threads \(c.workerThreads) must be >= 0, prefetch "
                                                   + "\(c.prefetchBatches) >= 1, cache bytes \(c.cacheBytes) >= 0")
        }
        do { try c.augmentation.validate() } catch { throw LoaderError.invalidConfiguration("\(error)") }
        guard !c.augmentation.randomRotation90 || c.height == c.width else {
            throw LoaderError.invalidConfiguration("random_rotation_90 needs a square input, got \(c.height)x\(c.width)")
        }
        if let bad = samples.first(where: { $0.label < 0 || $0.label >= classCount }) {
            throw LoaderError.invalidConfiguration("\(bad.path): label \(bad.label) outside 0..<\(classCount)")
        }
        do {
            schedule = try BatchSchedule(sampleCount: samples.count, globalBatchSize: c.globalBatchSize,
                                         worldSize: c.worldSize, dropRemainder: c.dropRemainder)
        } catch { throw LoaderError.invalidConfiguration("\(error)") }
        (self.samples, self.classCount, self.configuration) = (samples, classCount, configuration)
        pipeline = ImagePipeline(height: c.height, width: c.width, resize: c.resize, augmentation: c.augmentation,
                                 preprocessing: c.preprocessing)
        cache = DecodedImageCache(budget: c.cacheBytes)
    }

    public var stepsPerEpoch: Int { schedule.stepsPerEpoch }

    /// Bytes of decoded images held in the cache.
    public var cachedBytes: Int { cache.usedBytes }

    public func order(epoch: Int) -> EpochOrder {
        EpochOrder(configuration.order, labels: samples.map(\.label), classCount: classCount,
                   seed: configuration.seed, epoch: epoch)
    }

    /// The batches of `epoch` from `step` on, built ahead by the worker threads and handed out in order.
    public func batches(epoch: Int, startingAt step: Int = 0) throws -> EpochBatches {
        guard epoch >= 0, step >= 0, step <= stepsPerEpoch else {
            throw LoaderError.invalidConfiguration("cannot start at epoch \(epoch), step \(step) "
                                                   + "(an epoch has \(stepsPerEpoch) steps)")
        }
        return EpochBatches(loader: self, epoch: epoch, order: order(epoch: epoch), steps: step..<stepsPerEpoch)
    }

    /// One batch, built on the calling thread.
    public func batch(epoch: Int, step: Int) throws -> Batch {
        guard epoch >= 0, step >= 0, step < stepsPerEpoch else {
            throw LoaderError.invalidConfiguration("no step \(step) in epoch \(epoch) of \(stepsPerEpoch) steps")
        }
        return try makeBatch(epoch: epoch, step: step, order: order(epoch: epoch))
    }

    func makeBatch(epoch: Int, step: Int, order: EpochOrder) throws -> Batch {
        let positions = schedule.positions(step: step, rank: configuration.rank)
        let indices = Array(order.sampleIndices[positions])
        let imageSize = configuration.height * configuration.width * 3
        var images = Tensor(uninitializedShape: [indices.count, configuration.height, configuration.width, 3])
        try images.withUnsafeMutableBufferPointer { buffer in
            for (slot, position) in positions.enumerated() {
                let image = try decodedImage(order.sampleIndices[position])
                let output = UnsafeMutableBufferPointer(rebasing: buffer[(slot * imageSize)..<((slot + 1) * imageSize)])
                pipeline.process(image, augmentationKey: order.keys[position], into: output)
            }
        }
        return Batch(epoch: epoch, step: step, images: images, labels: indices.map { samples[$0].label },
                     sampleKeys: Array(order.keys[positions]), sampleIndices: indices,
                     globalBatchSize: schedule.globalPositions(step: step).count)
    }

    private func decodedImage(_ index: Int) throws -> RGBImage {
        if let image = cache.image(index) { return image }
        let path = samples[index].path
        let image: RGBImage
        do { image = try PNGCodec.decode(contentsOf: URL(fileURLWithPath: path)) } catch let error as ImageError {
            throw LoaderError.unreadableImage(path: path, message: error.message)
        } catch {
            throw LoaderError.unreadableImage(path: path, message: "\(error)")
        }
        cache.insert(image, for: index)
        return image
    }
}

/// Decoded images kept while they fit the byte budget; nothing is evicted, so the first images stay.
final class DecodedImageCache: @unchecked Sendable {
    private let budget: Int
    private var images: [Int: RGBImage] = [:]
    private var used = 0
    private let lock = NSLock()

    init(budget: Int) { self.budget = budget }

    var usedBytes: Int { lock.withLock { used } }

    func image(_ index: Int) -> RGBImage? { lock.withLock { images[index] } }

    func insert(_ image: RGBImage, for index: Int) {
        lock.withLock {
            guard images[index] == nil, used + image.pixels.count <= budget else { return }
            images[index] = image
            used += image.pixels.count
        }
    }
}

/// One epoch's batches for this rank, in step order. Worker threads build up to `prefetchBatches` steps ahead;
/// the first failure (e.g. a file that does not decode) is thrown from `next()` at its step, and ends the epoch.
public final class EpochBatches {
    private let production: Production

    init(loader: Loader, epoch: Int, order: EpochOrder, steps: Range<Int>) {
        production = Production(loader: loader, epoch: epoch, order: order, steps: steps)
        for _ in 0..<min(loader.configuration.workerThreads, steps.count) {
            let production = production
            let thread = Thread { production.work() }
            thread.name = "bc-data loader"
            thread.start()
        }
    }

    deinit { production.cancel() }

    /// The next batch, or nil after the epoch's last step (and after a thrown error).
    public func nextBatch() throws -> Batch? { try production.take() }
}

/// State shared by the consumer and the worker threads, guarded by one condition.
private final class Production: @unchecked Sendable {
    let loader: Loader
    let epoch: Int
    let order: EpochOrder
    let steps: Range<Int>
    private let condition = NSCondition()
    private var nextToClaim: Int
    private var nextToTake: Int
    private var finished: [Int: Result<Batch, Error>] = [:]
    private var cancelled = false

    init(loader: Loader, epoch: Int, order: EpochOrder, steps: Range<Int>) {
        (self.loader, self.epoch, self.order, self.steps) = (loader, epoch, order, steps)
        (nextToClaim, nextToTake) = (steps.lowerBound, steps.lowerBound)
    }

    func work() {
        while true {
            condition.lock()
            while !cancelled, nextToClaim < steps.upperBound,
                  nextToClaim >= nextToTake + loader.configuration.prefetchBatches {
                condition.wait()
            }
            guard !cancelled, nextToClaim < steps.upperBound else { condition.unlock(); return }
            let step = nextToClaim
            nextToClaim += 1
            condition.unlock()

            let result = Result { try loader.makeBatch(epoch: epoch, step: step, order: order) }
            condition.lock()
            finished[step] = result
            condition.broadcast()
            condition.unlock()
        }
    }

    func take() throws -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        guard !cancelled, nextToTake < steps.upperBound else { return nil }
        let step = nextToTake
        if loader.configuration.workerThreads == 0 {
            nextToClaim = step + 1
            finished[step] = Result { try loader.makeBatch(epoch: epoch, step: step, order: order) }
        }
        while finished[step] == nil { condition.wait() }
        let result = finished.removeValue(forKey: step)!
        nextToTake += 1
        condition.broadcast()
        if case .failure = result { cancelled = true }
        return try result.get()
    }

    func cancel() {
        condition.lock()
        cancelled = true
        finished.removeAll()
        condition.broadcast()
        condition.unlock()
    }
}
