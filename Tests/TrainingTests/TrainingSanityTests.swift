import Cluster
import Layers
import OneDNN
import Tensors
import Training
import XCTest

/// A small CNN must learn the generated stripes task with the oneDNN backend and Adam, and its loss must fall.
final class TrainingSanityTests: XCTestCase {
    static let world = try! MPIWorld.shared()

    func testSmallCNNLearnsStripes() throws {
        let task = StripesTask(seed: 1)
        let step = DataParallelStep(model: try task.makeModel(), optimizer: Adam(learningRate: 0.003),
                                    loss: CategoricalCrossentropy(), backend: OneDNNBackend(threads: 1), world: Self.world)
        let batchSize = 32
        var losses: [Float] = []
        for index in 0..<120 {
            let samples = index * batchSize..<(index + 1) * batchSize
            let batch = task.samples(samples)
            let result = try step.run(RankBatch(images: batch.images, labels: batch.labels,
                                                sampleKeys: samples.map { UInt64($0) }, globalCount: batchSize))
            losses.append(result.loss)
        }
        let test = task.samples(1_000_000..<1_000_400)
        let predictions = try step.model.forward(test.images, context: RunContext(backend: step.backend, training: false))
        let accuracy = Double(correctCount(predictions, test.labels)) / 400
        let windows = stride(from: 0, to: losses.count, by: 20).map { losses[$0..<$0 + 20].reduce(0, +) / 20 }
        print("stripes: held-out accuracy \(accuracy), loss window means \(windows)")
        XCTAssertGreaterThan(accuracy, 0.95, "held-out accuracy")
        XCTAssertLessThan(windows.last!, windows.first! * 0.3, "loss should fall: window means \(windows)")
        for (earlier, later) in zip(windows, windows.dropFirst()) {
            XCTAssertLessThan(later, earlier * 1.1, "loss should fall on average: window means \(windows)")
        }
        XCTAssertEqual(step.optimizer.iterations, 120)
    }

    func testSamplesArePureFunctionsOfSeedAndIndex() {
        let task = StripesTask(seed: 9)
        let whole = task.samples(0..<6)
        let part = task.samples(3..<6)
        XCTAssertEqual(Array(whole.images.scalars[(3 * 12 * 12 * 3)...]), part.images.scalars)
        XCTAssertEqual(Array(whole.labels[3...]), part.labels)
        XCTAssertNotEqual(StripesTask(seed: 10).samples(0..<6).images.scalars, whole.images.scalars)
    }
}
