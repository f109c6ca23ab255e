import Datasets

/// The data pipeline's loader as the trainer's batch source.
final class LoaderBatchSource: BatchSource {
    let loader: Loader
    private var batches: EpochBatches?

    init(_ loader: Loader) { self.loader = loader }

    var stepsPerEpoch: Int { loader.stepsPerEpoch }

    func start(epoch: Int, step: Int) throws { batches = try loader.batches(epoch: epoch, startingAt: step) }

    func next() throws -> RankBatch {
        guard let batch = try batches?.nextBatch() else {
            throw TrainingError("the loader ran out of batches before the epoch's \(stepsPerEpoch) steps")
        }
        return RankBatch(images: batch.images, labels: batch.labels, sampleKeys: batch.sampleKeys,
                         globalCount: batch.globalBatchSize)
    }
}
