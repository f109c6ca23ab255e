import Datasets
import XCTest

final class BatchScheduleTests: XCTestCase {
    func testLastStepLeavesLaterRanksEmpty() throws {
        let schedule = try BatchSchedule(sampleCount: 10, globalBatchSize: 4, worldSize: 3)
        XCTAssertEqual(schedule.stepsPerEpoch, 3)
        XCTAssertEqual((0..<3).map { schedule.positions(step: 0, rank: $0) }, [0..<2, 2..<3, 3..<4])
        XCTAssertEqual(schedule.globalPositions(step: 2), 8..<10)
        XCTAssertEqual((0..<3).map { schedule.positions(step: 2, rank: $0) }, [8..<9, 9..<10, 10..<10])
    }

    func testRanksTileEveryGlobalBatchForManyShapes() throws {
        for sampleCount in [1, 2, 7, 10, 33, 64] {
            for batchSize in [1, 3, 4, 8, 50] {
                let steps = try BatchSchedule(sampleCount: sampleCount, globalBatchSize: batchSize, worldSize: 1).stepsPerEpoch
                XCTAssertEqual(steps, (sampleCount + batchSize - 1) / batchSize)
                for worldSize in [1, 2, 3, 5, 8] {
                    let schedule = try BatchSchedule(sampleCount: sampleCount, globalBatchSize: batchSize, worldSize: worldSize)
                    XCTAssertEqual(schedule.stepsPerEpoch, steps, "every world size runs the same steps")
                    var covered: [Int] = []
                    for step in 0..<steps {
                        let pieces = (0..<worldSize).map { schedule.positions(step: step, rank: $0) }
                        XCTAssertLessThanOrEqual(pieces.map(\.count).max()! - pieces.map(\.count).min()!, 1)
                        XCTAssertEqual(pieces.map(\.count), pieces.map(\.count).sorted(by: >), "extra samples go to the first ranks")
                        XCTAssertEqual(Array(pieces.joined()), Array(schedule.globalPositions(step: step)))
                        covered += pieces.joined()
                    }
                    XCTAssertEqual(covered, Array(0..<sampleCount))
                }
            }
        }
    }

    func testDropRemainder() throws {
        let schedule = try BatchSchedule(sampleCount: 10, globalBatchSize: 4, worldSize: 2, dropRemainder: true)
        XCTAssertEqual(schedule.stepsPerEpoch, 2)
        XCTAssertEqual(schedule.globalPositions(step: 1), 4..<8)
        XCTAssertThrowsMentioning("no full batch", try BatchSchedule(sampleCount: 3, globalBatchSize: 4, worldSize: 1,
                                                                      dropRemainder: true))
        XCTAssertThrowsMentioning("0 samples", try BatchSchedule(sampleCount: 0, globalBatchSize: 4, worldSize: 1))
        XCTAssertThrowsMentioning("must be positive", try BatchSchedule(sampleCount: 5, globalBatchSize: 0, worldSize: 1))
    }

    func testEpochOrdersArePermutationsFixedBySeedAndEpoch() {
        let labels = (0..<50).map { $0 % 3 == 0 ? 1 : 0 }
        let first = EpochOrder(.shuffled, labels: labels, classCount: 2, seed: 7, epoch: 0)
        XCTAssertEqual(first.sampleIndices.sorted(), Array(0..<50))
        XCTAssertEqual(first, EpochOrder(.shuffled, labels: labels, classCount: 2, seed: 7, epoch: 0))
        XCTAssertNotEqual(first.sampleIndices, EpochOrder(.shuffled, labels: labels, classCount: 2, seed: 7, epoch: 1).sampleIndices)
        XCTAssertNotEqual(first.sampleIndices, EpochOrder(.shuffled, labels: labels, classCount: 2, seed: 8, epoch: 0).sampleIndices)
        XCTAssertEqual(Set(first.keys).count, 50, "every sample gets its own key")
        let sequential = EpochOrder(.sequential, labels: labels, classCount: 2, seed: 7, epoch: 3)
        XCTAssertEqual(sequential.sampleIndices, Array(0..<50))
        // A sample's key depends on (seed, epoch, sample index), not on where the shuffle put it.
        let keyOf = Dictionary(uniqueKeysWithValues: zip(first.sampleIndices, first.keys))
        let sequentialEpoch0 = EpochOrder(.sequential, labels: labels, classCount: 2, seed: 7, epoch: 0)
        XCTAssertEqual(sequentialEpoch0.keys, sequentialEpoch0.sampleIndices.map { keyOf[$0]! })
    }

    func testClassBalancedOrderGivesEachClassAnEqualShare() {
        let labels = Array(repeating: 0, count: 40) + Array(repeating: 1, count: 9) + Array(repeating: 2, count: 3)
        let order = EpochOrder(.classBalanced, labels: labels, classCount: 3, seed: 11, epoch: 2)
        XCTAssertEqual(order.sampleIndices.count, labels.count, "the epoch keeps its length")
        var perClass = [0, 0, 0]
        for index in order.sampleIndices { perClass[labels[index]] += 1 }
        XCTAssertEqual(perClass.sorted(), [17, 17, 18], "52 positions over 3 classes")
        // The minority class repeats; each repetition of a sample has its own key.
        XCTAssertEqual(Set(order.sampleIndices.filter { labels[$0] == 2 }), [49, 50, 51])
        XCTAssertEqual(Set(order.keys).count, labels.count)
        // The majority class is subsampled without repeats.
        let majority = order.sampleIndices.filter { labels[$0] == 0 }
        XCTAssertEqual(Set(majority).count, majority.count)
        XCTAssertEqual(order, EpochOrder(.classBalanced, labels: labels, classCount: 3, seed: 11, epoch: 2))
        XCTAssertNotEqual(order.sampleIndices, EpochOrder(.classBalanced, labels: labels, classCount: 3, seed: 11, epoch: 3).sampleIndices)
    }

    func testStableMixIsFixed() {
        // Pinned values (computed independently in Python): keys never change between processes or releases.
        XCTAssertEqual(StableRandom.mix(1, 2, 3), 0x22C8_3DC3_0271_9DC9)
        XCTAssertEqual(StableRandom.mix([1, 2, 3]), StableRandom.mix(1, 2, 3))
        XCTAssertNotEqual(StableRandom.mix(1, 2, 3), StableRandom.mix(1, 3, 2))
    }
}
