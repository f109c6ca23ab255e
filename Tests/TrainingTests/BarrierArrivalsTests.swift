import Training
import Tensors
import XCTest

/// The barrier report on hand-made events of two ranks: rank 1 arrives 3 ms late at the first batch-norm
/// allreduce after a slow convolution, rank 0 1 ms late at the metrics allreduce after the optimizer; the step
/// agreement is reached at the same moment (on a tie the higher rank counts as last, delaying it by 0, with no cause).
final class BarrierArrivalsTests: XCTestCase {
    func event(_ name: String, _ category: String, _ start: Double, _ duration: Double) -> Profiler.Event {
        Profiler.Event(name: name, category: category, start: start, duration: duration)
    }

    func testTheLastArrivalAndWhatItDidBeforeAreFound() {
        let rank0 = [event("step 1", "step", 0, 20_000), event("step agreement", "phase", 0, 100),
                     event("conv1", "forward", 100, 1_000), event("batch-norm allreduce", "communication", 1_100, 3_100),
                     event("optimizer", "phase", 4_200, 5_000), event("loss and metrics allreduce", "phase", 9_200, 100)]
        let rank1 = [event("step 1", "step", 0, 20_000), event("step agreement", "phase", 0, 100),
                     event("conv1", "forward", 100, 4_000), event("batch-norm allreduce", "communication", 4_100, 100),
                     event("optimizer", "phase", 4_200, 4_000), event("loss and metrics allreduce", "phase", 8_200, 1_100)]
        let lateness = BarrierArrivals(ranks: [rank0, rank1]).lateness()
        XCTAssertEqual(lateness.barriers, 3)
        XCTAssertEqual(lateness.lastArrivals, [1, 2])
        XCTAssertEqual(lateness.delays, [1_000, 3_000])
        XCTAssertEqual(lateness.causes, ["rank 1: after conv1 forward": 3_000, "rank 0: after optimizer phase": 1_000],
                       "the tie delayed nothing and names no cause")
        let report = BarrierArrivals(ranks: [rank0, rank1]).describe()
        XCTAssertTrue(report.contains("rank 1: last at  66.7% of them, delaying them by 3.00 ms"), report)
        XCTAssertTrue(report.contains("rank 1: after conv1 forward 3.00 ms"), report)
    }
}
