import ArgumentParser
import Cluster
import Foundation
import Layers
import OneDNN
import Tensors
import Training

/// At this stage bc-train trains a small CNN on generated stripes images, data-parallel over MPI ranks
/// (`mpirun -n 2 bc-train`). Real datasets, configs and checkpoints arrive with the next issues.
@main
struct BCTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bc-train",
        abstract: "Train a classifier data-parallel over MPI ranks (currently: the built-in generated stripes task).")

    @Option(help: "Training steps.") var steps = 150
    @Option(help: "Global batch size, split over the ranks.") var batchSize = 32
    @Option(help: "Adam learning rate.") var learningRate: Float = 0.003
    @Option(help: "oneDNN threads per rank.") var threads = 1
    @Option(help: "Seed of the generated data and the initial weights.") var seed: UInt64 = 1

    func validate() throws {
        guard steps > 0, batchSize > 0, threads > 0, learningRate > 0 else {
            throw ValidationError("--steps, --batch-size, --threads and --learning-rate must be positive")
        }
    }

    func run() throws {
        let world = try MPIWorld.shared()
        guard batchSize % world.size == 0 else {
            throw ValidationError("--batch-size \(batchSize) must be divisible by the \(world.size) ranks for now")
        }
        let task = StripesTask(seed: seed)
        let step = DataParallelStep(model: try task.makeModel(seed: seed), optimizer: Adam(learningRate: learningRate),
                                    loss: CategoricalCrossentropy(), backend: OneDNNBackend(threads: threads), world: world)
        try step.broadcastWeights()
        let log = { (line: String) in if world.rank == 0 { print(line); fflush(stdout) } }
        log("bc-train: \(world.size) rank(s) x \(threads) thread(s), global batch \(batchSize), model '\(step.model.name)' with \(step.model.parameterCount) parameters")

        let perRank = batchSize / world.size
        let started = Date()
        var window: (loss: Float, correct: Int, count: Int) = (0, 0, 0)
        for index in 0..<steps {
            let first = index * batchSize + world.rank * perRank
            let batch = task.samples(first..<first + perRank)
            let result = try step.run(images: batch.images, labels: batch.labels,
                                      sampleKeys: (first..<first + perRank).map { UInt64($0) }, globalBatchSize: batchSize)
            window = (window.loss + result.loss, window.correct + result.correct, window.count + 1)
            if (index + 1) % 25 == 0 || index + 1 == steps {
                log(String(format: "step %d/%d - loss: %.4f - accuracy: %.4f - %.1fs", index + 1, steps,
                           window.loss / Float(window.count), Double(window.correct) / Double(window.count * batchSize),
                           Date().timeIntervalSince(started)))
                window = (0, 0, 0)
            }
        }
        let heldOut = task.samples(10_000_000..<10_000_500)
        let probabilities = try step.model.forward(heldOut.images, context: RunContext(backend: step.backend, training: false))
        log(String(format: "held-out accuracy on 500 new images: %.4f", Double(correctCount(probabilities, heldOut.labels)) / 500))
    }
}
