import Foundation
import Training
import XCTest

/// ReduceLROnPlateau, EarlyStopping and the best-checkpoint tracker decide as Keras' own callbacks do on the
/// same metric sequences (Tests/Python/keras_callbacks_referee.py runs Keras as the referee).
final class CallbackTests: XCTestCase {
    struct Sequence: Decodable {
        let monitor: String
        let values: [Double]
        let learning_rates: [Double]
        let stop: [Bool]
    }

    func kerasDecisions() throws -> [String: Sequence] {
        let python = ProcessInfo.processInfo.environment["BC_PYTHON"] ?? "/opt/bc-train-venv/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw NSError(domain: "referee", code: 1, userInfo: [NSLocalizedDescriptionKey:
                "no Python referee at \(python): run ./Launch/test.sh or set BC_PYTHON"])
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Python/keras_callbacks_referee.py")
        let process = Process(), output = Pipe()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script.path]
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        return try JSONDecoder().decode([String: Sequence].self, from: data)
    }

    func testReduceLROnPlateauAndEarlyStoppingMatchKeras() throws {
        let sequences = try kerasDecisions()
        XCTAssertEqual(sequences.count, 2)
        for (name, sequence) in sequences {
            var reduce = ReduceLROnPlateau(.init(monitor: sequence.monitor, factor: 0.5, patience: 2, minDelta: 0.005,
                                                 cooldown: 1, minLR: 0.02))
            var stop = EarlyStopping(.init(monitor: sequence.monitor, patience: 3, minDelta: 0.001))
            var learningRate: Float = 0.1
            for (epoch, value) in sequence.values.enumerated() {
                learningRate = reduce.epochEnded(value: value, learningRate: learningRate)
                XCTAssertEqual(Double(learningRate), sequence.learning_rates[epoch], accuracy: 1e-7, "\(name) epoch \(epoch)")
                XCTAssertEqual(stop.epochEnded(epoch: epoch, value: value), sequence.stop[epoch], "\(name) epoch \(epoch)")
            }
        }
    }

    func testCallbackStateSurvivesACheckpointRoundTrip() throws {
        var reduce = ReduceLROnPlateau(.init(monitor: "val_loss", factor: 0.5, patience: 1))
        _ = reduce.epochEnded(value: 1, learningRate: 0.1)
        _ = reduce.epochEnded(value: 2, learningRate: 0.1)
        let restored = try JSONDecoder().decode(ReduceLROnPlateau.self, from: JSONEncoder().encode(reduce))
        XCTAssertEqual(restored, reduce)
    }

    func testBestTrackerFollowsTheMonitorDirection() {
        var accuracy = BestCheckpointTracker(monitor: "val_accuracy", mode: .auto)
        XCTAssertEqual([0.5, 0.7, 0.7, 0.6, 0.8].map { accuracy.improves($0) }, [true, true, false, false, true])
        var loss = BestCheckpointTracker(monitor: "val_loss", mode: .auto)
        XCTAssertEqual([0.9, 0.5, .nan, 0.6, 0.4].map { loss.improves($0) }, [true, true, false, false, true])
    }

    func testWarmupRampsLinearly() {
        XCTAssertEqual(warmupLearningRate(base: 1, globalStep: 0, warmupSteps: 4), 0.25)
        XCTAssertEqual(warmupLearningRate(base: 1, globalStep: 3, warmupSteps: 4), 1)
        XCTAssertEqual(warmupLearningRate(base: 1, globalStep: 10, warmupSteps: 4), 1)
        XCTAssertEqual(warmupLearningRate(base: 0.5, globalStep: 0, warmupSteps: 0), 0.5)
    }
}
