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
    /// Watches the collective calls, when given.
    let watchdog: StallWatchdog?
    let bucketElements: Int
    let overlapCommunication: Bool
    /// The gradient buckets for the layers trainable now (a frozen backbone has fewer), and which layers they were
    /// made for.
    private var exchange: (trainable: [Bool], plan: GradientPlan)?

    public init(model: Graph, optimizer: Optimizer, loss: CategoricalCrossentropy, backend: Backend, world: MPIWorld,
                synchronizeBatchNorm: Bool = true, bucketElements: Int = 4 << 20, overlapCommunication: Bool = true,
                watchdog: StallWatchdog? = nil) {
        (self.model, self.optimizer, self.loss, self.backend, self.world) = (model, optimizer, loss, backend, world)
        (self.synchronizeBatchNorm, self.bucketElements, self.overlapCommunication, self.watchdog)
            = (synchronizeBatchNorm, bucketElements, overlapCommunication, watchdog)
    }

    /// Trainable weights in the order backward finishes them, each node's share of that order, and their buckets.
    struct GradientPlan {
        let weights: [Weight]
        let indicesOfNode: [Int: [Int]]
        let exchange: GradientExchange

        init(model: Graph, world: MPIWorld, bucketElements: Int, overlap: Bool) {
            var indices: [Int: [Int]] = [:], weights: [Weight] = []
            for (index, node) in model.nodes.enumerated().reversed() where node.layer.trainable {
                for weight in node.layer.weights where weight.isTrainableVariable {
                    indices[index, default: []].append(weights.count)
                    weights.append(weight)
                }
            }
            (self.weights, indicesOfNode) = (weights, indices)
            exchange = GradientExchange(world: world, gradientShapes: weights.map(\.value.shape), bucketElements: bucketElements,
                                        overlap: overlap)
        }
    }

    private func currentPlan() -> GradientPlan {
        let trainable = model.nodes.map(\.layer.trainable)
        if let exchange, exchange.trainable == trainable { return exchange.plan }
        let plan = GradientPlan(model: model, world: world, bucketElements: bucketElements, overlap: overlapCommunication)
        exchange = (trainable, plan)
        return plan
    }

    /// Global batch loss and number of correctly classified samples, identical on every rank.
    public struct Result {
        public var loss: Float
        public var correct: Int
    }

    public func run(_ batch: RankBatch) throws -> Result {
        // Synchronised batch norm takes the same code path on one rank as on many (its sums then stay local), so
        // that any world size computes the same formulas, not just mathematically equal ones.
        var context = RunContext(backend: backend, training: true, sampleKeys: batch.sampleKeys,
                                 crossRankSum: synchronizeBatchNorm ? sumOverRanks : nil)
        let plan = currentPlan()
        plan.exchange.begin()
        context.weightGradientsFinal = { node in
            for index in plan.indicesOfNode[node] ?? [] { plan.exchange.arrived(index, plan.weights[index].gradient!) }
        }
        let probabilities = try Profiler.measure("forward", "phase") { try model.forward(batch.images, context: context) }
        let logitGradient = Profiler.measure("loss gradient", "phase") {
            loss.logitGradient(probabilities: probabilities, labels: batch.labels, globalBatchSize: batch.globalCount)
        }
        Profiler.measure("backward", "phase") { model.backwardToWeights(logitGradient: logitGradient, context: context) }
        // What remains of the gradient allreduce once backward is done: the communication backward did not hide.
        try Profiler.measure("gradient allreduce wait", "phase") {
            try waiting(for: .gradients) {
                guard let sums = try plan.exchange.finish() else { return }
                for (weight, sum) in zip(plan.weights, sums) { weight.gradient = sum }
            }
        }
        let weights = model.trainableWeights
        Profiler.measure("optimizer", "phase") { optimizer.apply(to: weights) }
        // Used: holding them until the next backward would keep a model's worth of memory through its forward pass.
        for (_, weight) in model.namedWeights { weight.gradient = nil }
        // A step is the pool's period: buffers this step did not use go back to the system.
        defer { TensorStorage.trimPool() }

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
