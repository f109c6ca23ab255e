import Foundation
import Tensors

/// Who keeps the others waiting: the profiled steps' barriers (collective calls every rank must reach: batch-norm
/// allreduces, the step agreement, the wait for the gradient buckets, the metrics allreduce), matched across ranks
/// by name and order, with each rank's arrival time on one time line. At every barrier the last rank to arrive
/// delayed it by the time from the second-last arrival to its own; the report adds those delays up per rank and by
/// what the late rank did just before (the layer or phase that ended last before it arrived), as Horovod's timeline
/// and PyTorch's straggler tools do.
package struct BarrierArrivals {
    /// Each rank's recorded events, times on a common time line (microseconds).
    package let ranks: [[Profiler.Event]]

    package init(ranks: [[Profiler.Event]]) { self.ranks = ranks }

    static let phaseBarriers: Set<String> = ["step agreement", "gradient allreduce wait", "loss and metrics allreduce"]

    static func isBarrier(_ event: Profiler.Event) -> Bool {
        event.category == "communication" || (event.category == "phase" && phaseBarriers.contains(event.name))
    }

    package struct Lateness: Equatable {
        /// Barriers at which each rank arrived last.
        package var lastArrivals: [Int]
        /// Per rank, the summed delay (microseconds) of the barriers it arrived last at.
        package var delays: [Double]
        /// Summed delay by (rank, what that rank did just before arriving).
        package var causes: [String: Double]
        package var barriers: Int
    }

    package func lateness() -> Lateness {
        var result = Lateness(lastArrivals: Array(repeating: 0, count: ranks.count), delays: Array(repeating: 0, count: ranks.count),
                              causes: [:], barriers: 0)
        guard ranks.count > 1 else { return result }
        // Every rank's barriers, in order, grouped by name: the k-th of a name is the same call on every rank.
        let barriers = ranks.map { events in Dictionary(grouping: events.filter(Self.isBarrier), by: \.name) }
        let work = ranks.map { events in events.filter { ["forward", "backward", "phase"].contains($0.category) && !Self.isBarrier($0) } }
        for name in Set(barriers.flatMap(\.keys)).sorted() {
            let count = barriers.map { $0[name]?.count ?? 0 }.min() ?? 0
            for index in 0..<count {
                let arrivals = barriers.map { $0[name]![index].start }
                let order = arrivals.indices.sorted { (arrivals[$0], $0) < (arrivals[$1], $1) }  // a tie: the higher rank
                let last = order[order.count - 1], delay = arrivals[last] - arrivals[order[order.count - 2]]
                result.barriers += 1
                result.lastArrivals[last] += 1
                result.delays[last] += delay
                guard delay > 0 else { continue }  // a tie delayed nothing
                let before = work[last].filter { $0.start + $0.duration <= arrivals[last] }
                    .max { $0.start + $0.duration < $1.start + $1.duration }
                let cause = before.map { "\($0.name) \($0.category)" } ?? "the start"
                result.causes["rank \(last): after \(cause)", default: 0] += delay
            }
        }
        return result
    }

    /// The report's lines: per rank how often it arrived last and how long it delayed the barriers per step, then
    /// the five largest causes.
    package func describe() -> String {
        let steps = max(1, ranks.first?.filter { $0.category == "step" }.count ?? 1)
        let summary = lateness()
        guard summary.barriers > 0 else { return "barriers: none recorded" }
        var lines = ["barriers (calls every rank must reach; \(summary.barriers / steps) per step), the last rank to arrive and "
                     + "how long it delayed them (from the second-last arrival to its own), per step:"]
        for rank in ranks.indices {
            lines.append(String(format: "  rank %d: last at %5.1f%% of them, delaying them by %.2f ms", rank,
                                100 * Double(summary.lastArrivals[rank]) / Double(summary.barriers),
                                summary.delays[rank] / Double(steps) / 1000))
        }
        lines.append("largest delays, by what the late rank did just before it arrived (per step):")
        for (cause, delay) in summary.causes.sorted(by: { $0.value > $1.value }).prefix(5) {
            lines.append("  \(cause) " + String(format: "%.2f ms", delay / Double(steps) / 1000))
        }
        return lines.joined(separator: "\n")
    }
}
