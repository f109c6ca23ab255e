import Cluster
import Foundation
import Tensors

/// `bc-train --profile STEPS`: the recorded steps of every rank as one Chrome trace (`profile.json` in the run
/// folder, one track per rank; open it in Perfetto or chrome://tracing) and a summary of rank 0's steps by
/// operation and by layer (`profile.txt`, also printed).
enum TrainingProfile {
    /// Every rank writes its events beside the others' (with its clock's origin); rank 0 merges them once all have,
    /// on one time line.
    static func write(_ profiler: Profiler, world: MPIWorld, directory: URL) throws -> String {
        let part = directory.appendingPathComponent("profile-rank-\(world.rank).json")
        try world.together(TrainingError("another rank could not write its profile (its error is in its output)")) {
            let content: [String: Any] = ["origin": profiler.originMicrosecondsSince1970,
                                          "events": profiler.traceEvents(process: world.rank)]
            try JSONSerialization.data(withJSONObject: content).write(to: part)
        }
        var summary = ""
        try world.together(TrainingError("rank 0 could not write profile.json (its error is in rank 0's output)")) {
            guard world.rank == 0 else { return }
            var parts: [(origin: Double, events: [[String: Any]])] = []
            for rank in 0..<world.size {
                let file = directory.appendingPathComponent("profile-rank-\(rank).json")
                let content = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any] ?? [:]
                parts.append((content["origin"] as? Double ?? 0, content["events"] as? [[String: Any]] ?? []))
                try FileManager.default.removeItem(at: file)
            }
            let earliest = parts.map(\.origin).min() ?? 0
            var events: [Any] = []
            var ranks: [[Profiler.Event]] = []
            for part in parts {
                let shift = part.origin - earliest
                events += part.events.map { event in event.merging(["ts": (event["ts"] as? Double ?? 0) + shift]) { $1 } }
                ranks.append(part.events.map { event in
                    Profiler.Event(name: event["name"] as? String ?? "", category: event["cat"] as? String ?? "",
                                   start: (event["ts"] as? Double ?? 0) + shift, duration: event["dur"] as? Double ?? 0)
                })
            }
            events += (0..<world.size).map { ["name": "process_name", "ph": "M", "pid": $0, "args": ["name": "rank \($0)"]] }
            try JSONSerialization.data(withJSONObject: ["traceEvents": events, "displayTimeUnit": "ms"])
                .write(to: directory.appendingPathComponent("profile.json"), options: .atomic)
            summary = describe(profiler.events)
                + (world.size > 1 ? "\n" + BarrierArrivals(ranks: ranks).describe() : "")
                + "\nwritten: \(directory.appendingPathComponent("profile.json").path) (every rank; Perfetto or chrome://tracing)"
            try summary.write(to: directory.appendingPathComponent("profile.txt"), atomically: true, encoding: .utf8)
        }
        return summary
    }

    /// Rank 0's recorded steps: the step time, then where it goes by phase, by primitive (with GFLOP/s for
    /// convolutions) and the layers that take longest (forward plus backward, and recomputing their output for
    /// backward), each per step and as a share.
    static func describe(_ events: [Profiler.Event]) -> String {
        let steps = events.filter { $0.category == "step" }
        guard !steps.isEmpty else { return "profile: no step was recorded" }
        let stepMicroseconds = steps.reduce(0) { $0 + $1.duration } / Double(steps.count)
        func table(_ title: String, _ category: String, limit: Int = .max, extra: (([Profiler.Event]) -> String)? = nil) -> [String] {
            let groups = Dictionary(grouping: events.filter { $0.category == category }, by: \.name)
            let rows = groups.map { name, group in (name, group.reduce(0) { $0 + $1.duration } / Double(steps.count), group) }
                .sorted { $0.1 > $1.1 }.prefix(limit)
            let width = rows.map(\.0.count).max() ?? 0
            return ["\(title) (per step):"] + rows.map { name, microseconds, group in
                "  " + name.padding(toLength: width, withPad: " ", startingAt: 0)
                    + String(format: " %9.2f ms %5.1f%%", microseconds / 1000, 100 * microseconds / stepMicroseconds)
                    + String(format: " %6d calls", group.count / steps.count) + (extra?(group) ?? "")
            }
        }
        let rate = { (group: [Profiler.Event]) -> String in
            let flops = group.reduce(0.0) { if case .number(let value)? = $1.arguments["flops"] { $0 + value } else { $0 } }
            let seconds = group.reduce(0) { $0 + $1.duration } / 1e6
            return flops > 0 ? String(format: " %7.1f GFLOP/s", flops / seconds / 1e9) : ""
        }
        var lines = [String(format: "profile: %d steps on rank 0, %.1f ms per step", steps.count, stepMicroseconds / 1000)]
        lines += table("phases", "phase")
        lines += table("batch-norm statistics", "communication")
        lines += table("oneDNN primitives", "primitive", extra: rate)
        var layers: [String: Double] = [:]
        for event in events where ["forward", "backward", "recompute"].contains(event.category) { layers[event.name, default: 0] += event.duration }
        lines.append("layers, forward and backward, recomputing included (per step, the 15 longest):")
        for (name, microseconds) in layers.sorted(by: { $0.value > $1.value }).prefix(15) {
            lines.append("  " + name + String(format: " %.2f ms %.1f%%", microseconds / Double(steps.count) / 1000,
                                               100 * microseconds / Double(steps.count) / stepMicroseconds))
        }
        return lines.joined(separator: "\n")
    }
}
