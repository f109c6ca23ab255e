import Cluster
import Layers
import Tensors

/// One data-parallel training step, as every rank runs it: forward on this rank's part of the global batch,
/// loss, backward, gradients summed over ranks (the loss is already divided by the global batch size, so the
/// sum is the global mean gradient), then the same optimizer update on every rank. With synchronised batch
/// norm, statistics are summed over ranks inside forward and backward, so the step computes what one process
/// would on the whole global batch.
public final class DataParallelStep {
    public let model: Graph
    public let optimizer: Optimizer
    public let loss: CategoricalCrossentropy
    public let backend: Backend
    public let world: MPIWorld
    let synchronizeBatchNorm: Bool
    let bucketElements: Int
    /// Watches the collective calls, when given.
    let watchdog: StallWatchdog?

    public init(model: Graph, optimizer: Optimizer, loss: CategoricalCrossentropy, backend: Backend, world: MPIWorld,
                synchronizeBatchNorm: Bool = true, bucketElements: Int = 4 << 20, watchdog: StallWatchdog? = nil) {
        (self.model, self.optimizer, self.loss, self.backend, self.world) = (model, optimizer, loss, backend, world)
        (self.synchronizeBatchNorm, self.bucketElements, self.watchdog) = (synchronizeBatchNorm, bucketElements, watchdog)
    }

    /// Global batch loss and number of correctly classified samples, identical on every rank.
    public struct Result {
        public var loss: Float
        public var correct: Int
    }

    public func run(_ batch: RankBatch) throws -> Result {
        // Synchronised batch norm takes the same code path on one rank as on many (its sums then stay local), so
        // that any world size computes the same formulas, not just mathematically equal ones.
        let context = RunContext(backend: backend, training: true, sampleKeys: batch.sampleKeys,
                                 crossRankSum: synchronizeBatchNorm ? sumOverRanks : nil)
        let probabilities = try Profiler.measure("forward", "phase") { try model.forward(batch.images, context: context) }
        let logitGradient = Profiler.measure("loss gradient", "phase") {
            loss.logitGradient(probabilities: probabilities, labels: batch.labels, globalBatchSize: batch.globalCount)
        }
        Profiler.measure("backward", "phase") { model.backwardToWeights(logitGradient: logitGradient, context: context) }
        let weights = model.trainableWeights
        var gradients = weights.map { $0.weight.gradient! }
        try Profiler.measure("gradient allreduce", "phase") {
            try waiting(for: .gradients) { try world.sum(&gradients, bucketElements: bucketElements) }
        }
        for (entry, gradient) in zip(weights, gradients) { entry.weight.gradient = gradient }
        Profiler.measure("optimizer", "phase") { optimizer.apply(to: weights) }

        return try Profiler.measure("loss and metrics allreduce", "phase") {
            var totals = [loss.loss(probabilities: probabilities, labels: batch.labels, globalBatchSize: batch.globalCount),
                          Float(correctCount(probabilities, batch.labels))]
            try waiting(for: .metrics) { try totals.withUnsafeMutableBufferPointer { try world.sum($0) } }
            return Result(loss: totals[0], correct: Int(totals[1]))
        }
    }

    /// Batch-norm statistics summed over ranks. Layers cannot throw mid-pass, so an MPI failure here ends the
    /// job with its message (a half-synchronised step cannot be recovered).
    private func sumOverRanks(_ values: UnsafeMutableBufferPointer<Double>) {
        do {
            try Profiler.measure("batch-norm allreduce", "communication", ["values": .number(Double(values.count))]) {
                try waiting(for: .batchNormStatistics) { try world.sum(values) }
            }
        } catch {
            print("bc-train: error: \(error)")
            world.abort(code: 1)
        }
    }

    private func waiting(for point: StallPoint, _ body: () throws -> Void) rethrows {
        if let watchdog { try watchdog.waiting(for: point, body) } else { try body() }
    }

    /// Makes every rank start from rank 0's weights.
    public func broadcastWeights() throws {
        for (_, weight) in model.namedWeights { try weight.value.withUnsafeMutableBufferPointer { try world.broadcast($0) } }
    }
}

/// Samples whose highest probability is at their label (a row with NaN counts as wrong).
public func correctCount(_ probabilities: Tensor, _ labels: [Int]) -> Int {
    let classes = probabilities.shape[1]
    return probabilities.withUnsafeBufferPointer { p in
        labels.indices.filter { sample in
            let row = p[(sample * classes)..<((sample + 1) * classes)]
            guard !row.contains(where: \.isNaN) else { return false }
            return row.indices.max { row[$0] < row[$1] }! - sample * classes == labels[sample]
        }.count
    }
}
