import Training
import XCTest

/// The stall watchdog on a made-up clock: it stays silent for normal steps and waits below its threshold, warns once a
/// wait passes max(floor, factor x median step time), again only when the wait has doubled, and says when it ended.
final class StallWatchdogTests: XCTestCase {
    private var now = 0.0
    private var lines: [String] = []

    private func makeWatchdog(floor: Double, factor: Double) -> StallWatchdog {
        StallWatchdog(floorSeconds: floor, factor: factor, rankName: "rank 1 (node7)", clock: { [unowned self] in now },
                      report: { [unowned self] in lines.append($0) })
    }

    /// One step of `seconds`: a quarter computing, the rest waiting in the gradient allreduce. Times are multiples of
    /// 1/16 s, exact in binary, so that the comparisons at the thresholds are exact.
    private func normalStep(_ watchdog: StallWatchdog, _ number: Int, seconds: Double) {
        watchdog.stepStarted("step \(number) of epoch 1")
        now += seconds / 4
        watchdog.waiting(for: .gradients) { advance(watchdog, by: seconds * 3 / 4) }
        watchdog.stepFinished()
    }

    private func advance(_ watchdog: StallWatchdog, by seconds: Double) {
        let end = now + seconds
        while now < end - 1e-9 {
            now = min(now + 0.0625, end)
            watchdog.check()
        }
    }

    func testWarnsOnlyWhenAWaitExceedsTheThresholdAndThenAtDoublingIntervals() {
        let watchdog = makeWatchdog(floor: 5, factor: 10)
        // Steps of 1.5 s, among them a slow one of 4 s (its 3 s wait is below the 5 s floor): no warning.
        for number in 1...9 { normalStep(watchdog, number, seconds: number == 5 ? 4 : 1.5) }
        XCTAssertEqual(lines, [], "normal steps must not warn")

        // Median 1.5 s, so the threshold is max(5, 10 x 1.5) = 15 s.
        watchdog.stepStarted("step 10 of epoch 1")
        watchdog.waiting(for: .gradients) {
            advance(watchdog, by: 14.9375)
            XCTAssertEqual(lines, [], "below the 15 s threshold")
            advance(watchdog, by: 0.0625)
            XCTAssertEqual(lines, ["bc-train: rank 1 (node7): step 10 of epoch 1 has waited 15 s in the gradient allreduce "
                                   + "(steps usually take 1.5 s); another rank may be stuck or dead"])
            advance(watchdog, by: 14.9375)
            XCTAssertEqual(lines.count, 1, "no repetition before the wait doubled")
            advance(watchdog, by: 0.0625)
            XCTAssertEqual(lines.count, 2)
            XCTAssertTrue(lines.last!.contains("has waited 30 s in the gradient allreduce"), lines.last!)
            advance(watchdog, by: 29.9375)
            XCTAssertEqual(lines.count, 2, "next warning at 60 s")
            advance(watchdog, by: 0.0625)
            XCTAssertEqual(lines.count, 3)
            advance(watchdog, by: 2)
        }
        XCTAssertEqual(lines.count, 4)
        XCTAssertEqual(lines.last, "bc-train: rank 1 (node7): step 10 of epoch 1 went on after waiting 62 s in the gradient allreduce")
        watchdog.stepFinished()

        // Back to normal: silent again, and the stalled step hardly moves the median.
        for number in 11...20 { normalStep(watchdog, number, seconds: 1.5) }
        XCTAssertEqual(lines.count, 4)
    }

    func testBeforeAnyStepTheFloorAppliesAndTheLineSaysWhatIsAwaited() {
        let watchdog = makeWatchdog(floor: 3, factor: 10)
        watchdog.stepStarted("step 1 of epoch 2")
        watchdog.waiting(for: .trainingBatch) { advance(watchdog, by: 2.9375) }
        XCTAssertEqual(lines, [])
        watchdog.enter("the end of epoch 2")
        watchdog.waiting(for: .checkpointWrite) { advance(watchdog, by: 3) }
        XCTAssertEqual(lines.first, "bc-train: rank 1 (node7): the end of epoch 2 has waited 3.0 s in the checkpoint write "
                       + "(rank 0 writes, the other ranks wait for it) (no step has finished yet); the checkpoint folder's "
                       + "file system may be slow, or a rank may be stuck or dead")
        XCTAssertEqual(lines.count, 2, "the warning and the line saying the wait ended")
    }

    /// A watchdog that could not look for a while (its whole process was stopped) warns once on waking, not once per
    /// missed threshold, and next when the wait has doubled from there.
    func testAWatchdogWakingLateWarnsOnce() {
        let watchdog = makeWatchdog(floor: 5, factor: 10)
        watchdog.waiting(for: .gradients) {
            now += 40
            watchdog.check()
            watchdog.check()
            XCTAssertEqual(lines.count, 1)
            XCTAssertTrue(lines[0].contains("has waited 40 s"), lines[0])
            advance(watchdog, by: 39.9375)
            XCTAssertEqual(lines.count, 1)
            advance(watchdog, by: 0.0625)
            XCTAssertEqual(lines.count, 2)
        }
    }

    /// The waits are added up per point for the epoch's timing line, and the line divides them by the steps.
    func testWaitsAddUpIntoTheEpochTimingLine() {
        let watchdog = makeWatchdog(floor: 60, factor: 10)
        watchdog.waiting(for: .gradients) { now += 3 }
        watchdog.resetWaitedSeconds()
        for number in 1...4 {
            watchdog.stepStarted("step \(number) of epoch 1")
            watchdog.waiting(for: .trainingBatch) { now += 0.25 }
            watchdog.waiting(for: .batchNormStatistics) { now += 0.5 }
            now += 1
            watchdog.waiting(for: .gradients) { now += 0.75 }
            watchdog.waiting(for: .metrics) { now += 0.125 }
            watchdog.stepFinished()
        }
        XCTAssertEqual(watchdog.secondsWaited, [.trainingBatch: 1, .batchNormStatistics: 2, .gradients: 3, .metrics: 0.5])
        XCTAssertEqual(EpochTiming(steps: 4, images: 64, seconds: 10.5, waited: watchdog.secondsWaited).description,
                       "timing: 4 steps in 10.5 s, 6.1 images/s; per step 2.625 s, of which 1.375 s in allreduces "
                       + "(gradients 0.750, batch norm 0.500, metrics and step agreement 0.125), 0.250 s waiting for data")
        XCTAssertTrue(EpochTiming(steps: 4, images: 64, seconds: 10.5, waited: [:], peakMemoryBytes: 3 << 29).description
            .hasSuffix("0.000 s waiting for data; peak memory 1.5 GiB"))
        XCTAssertTrue(EpochTiming(steps: 4, images: 64, seconds: 10.5, waited: [:], peakMemoryBytes: 3 << 29,
                                  peakTensorBytes: 5 << 28).description.hasSuffix("; peak memory 1.5 GiB (tensors 1.3 GiB)"))
        XCTAssertEqual(lines, [])
    }

    func testAZeroFloorTurnsTheWarningsOff() {
        let watchdog = makeWatchdog(floor: 0, factor: 10)
        watchdog.waiting(for: .gradients) { advance(watchdog, by: 1000) }
        XCTAssertEqual(lines, [])
    }

    /// The background thread on the real clock reports a wait longer than the floor by itself.
    func testTheBackgroundThreadReportsALongWait() {
        let reported = expectation(description: "warning")
        let watchdog = StallWatchdog(floorSeconds: 0.2, factor: 1, rankName: "rank 0 (here)", report: { line in
            if line.contains("has waited") { reported.fulfill() }
        })
        watchdog.start()
        defer { watchdog.stop() }
        watchdog.waiting(for: .metrics) { wait(for: [reported], timeout: 10) }
    }
}

/// `distributed.stall_abort_seconds`: a wait that long ends the job (exactly then, warnings on or off), naming the
/// waiting rank, what it waits for and the exit status.
final class StallAbortTests: XCTestCase {
    func testAbortsExactlyAtTheThresholdEvenWithWarningsOff() {
        var now = 0.0, aborted: [String] = [], warned: [String] = []
        let watchdog = StallWatchdog(floorSeconds: 0, factor: 10, abortSeconds: 30, rankName: "rank 2 (node3)",
                                     clock: { now }, report: { warned.append($0) }, abort: { aborted.append($0) })
        watchdog.stepStarted("step 7 of epoch 2")
        watchdog.waiting(for: .trainingBatch) {
            while now < 29.9375 { now += 0.0625; watchdog.check() }
            XCTAssertEqual(aborted, [], "below the threshold")
            now += 0.0625
            watchdog.check()
        }
        XCTAssertEqual(aborted, ["bc-train: rank 2 (node3): step 7 of epoch 2 has waited 30 s in the data loader (next training "
                                 + "batch), longer than distributed.stall_abort_seconds (30 s); the data loader may be stuck or its "
                                 + "disk slow. Ending the job with exit status 76 so that it can be requeued; the re-run resumes "
                                 + "from the last checkpoint"])
        XCTAssertEqual(warned, [], "warnings are off")
        now += 100
        watchdog.check()
        XCTAssertEqual(aborted.count, 1, "no wait, no abort")
    }
}

/// The watchdog's config keys are checked like every other key, each error naming its key.
final class StallWarningConfigTests: XCTestCase {
    func testBadStallWarningValuesAreRefusedNamingTheKey() throws {
        try withMinimalConfig { file in
            let defaults = try TrainingConfig.load(from: file).distributed
            XCTAssertEqual([defaults.stallWarningSeconds, defaults.stallWarningFactor], [60, 10])
            let cases = [
                ("distributed.stall_warning_seconds=-1", "distributed.stall_warning_seconds: must not be negative (0 turns the stall warnings off)"),
                ("distributed.stall_warning_factor=0.5", "distributed.stall_warning_factor: must be at least 1"),
                ("distributed.stall_warning_seconds=soon", "distributed.stall_warning_seconds: expected a number, found a string (\"soon\")"),
                ("distributed.stall_warning_second=5", "unknown key 'distributed.stall_warning_second'; did you mean 'stall_warning_seconds'?"),
                ("distributed.stall_abort_seconds=-3", "distributed.stall_abort_seconds: must not be negative (0, the default, never ends the job)"),
            ]
            for (override, message) in cases {
                XCTAssertThrowsError(try TrainingConfig.load(from: file, overrides: [override])) { error in
                    XCTAssertTrue("\(error)".hasPrefix(file.path + ": "), "\(error)")
                    XCTAssertTrue("\(error)".hasSuffix(message), "\(override): \(error)")
                }
            }
        }
    }
}
