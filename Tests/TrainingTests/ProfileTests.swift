import Foundation
import Models
import XCTest

/// `bc-train --profile STEPS` under real `mpirun`: a Chrome trace of every rank's recorded steps whose parts add up
/// to the step, every layer and primitive in it, and a summary; the run itself is left as it was.
final class ProfileTests: XCTestCase {
    func testProfileTracesEveryRanksStepsAndLeavesTheRunUnchanged() throws {
        let run = try MPIRun.prepare("profile")
        let outcome = try run.launch(ranks: 2, config: try run.writeConfig(["training.epochs": 1]), arguments: ["--profile", "2"])
        XCTAssertEqual(outcome.status, 0, outcome.output)
        XCTAssertTrue(outcome.output.contains("profile: 2 steps on rank 0"), outcome.output)
        XCTAssertTrue(outcome.output.contains("GFLOP/s"), outcome.output)
        // The barrier report: both ranks, their shares of last arrivals adding up to all barriers.
        let shares = outcome.output.split(separator: "\n").compactMap { line -> Double? in
            guard let range = line.range(of: #"rank \d: last at +[0-9.]+%"#, options: .regularExpression) else { return nil }
            return Double(line[range].split(separator: " ").last!.dropLast())
        }
        XCTAssertEqual(shares.count, 2, outcome.output)
        XCTAssertEqual(shares.reduce(0, +), 100, accuracy: 0.2, outcome.output)
        XCTAssertTrue(outcome.output.contains("barriers (calls every rank must reach; "), outcome.output)
        let files = try FileManager.default.contentsOfDirectory(atPath: run.runFolder.path)
        XCTAssertTrue(files.contains("profile.json") && files.contains("profile.txt"), "\(files)")
        XCTAssertFalse(files.contains { $0.hasPrefix("profile-rank-") }, "the ranks' parts are merged: \(files)")
        XCTAssertFalse(files.contains("last.h5"), "profiling writes no checkpoint")

        let trace = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: run.runFolder.appendingPathComponent("profile.json")))
                                  as? [String: Any])
        let events = try XCTUnwrap(trace["traceEvents"] as? [[String: Any]]).filter { $0["ph"] as? String == "X" }
        struct Span { let name, category: String; let start, end: Double; let arguments: [String: Any] }
        func spans(_ rank: Int) -> [Span] {
            events.filter { $0["pid"] as? Int == rank }.map {
                let start = $0["ts"] as! Double
                return Span(name: $0["name"] as! String, category: $0["cat"] as! String, start: start,
                            end: start + ($0["dur"] as! Double), arguments: $0["args"] as? [String: Any] ?? [:])
            }
        }
        // One time line: the ranks' recorded steps overlap (they meet at every barrier).
        let firstSteps = (0..<2).map { rank in spans(rank).filter { $0.category == "step" }.min { $0.start < $1.start }! }
        XCTAssertLessThan(max(firstSteps[0].start, firstSteps[1].start), min(firstSteps[0].end, firstSteps[1].end))
        let layers = try buildModel(.resnet50, inputShape: [32, 32, 3], head: HeadOptions(classes: 2), seed: 3).nodes.dropFirst()
        for rank in 0..<2 {
            let all = spans(rank)
            let steps = all.filter { $0.category == "step" }
            XCTAssertEqual(steps.count, 2, "rank \(rank)")
            for step in steps {
                let inside = all.filter { $0.start >= step.start && $0.end <= step.end + 1 }
                let phases = inside.filter { $0.category == "phase" }.reduce(0) { $0 + $1.end - $1.start }
                let duration = step.end - step.start
                XCTAssertLessThanOrEqual(phases, duration + 1, "rank \(rank) \(step.name): the phases cannot take longer than the step")
                XCTAssertGreaterThan(phases, 0.95 * duration, "rank \(rank) \(step.name): the phases must account for the step")
                let forward = inside.filter { $0.category == "forward" }
                XCTAssertEqual(forward.map(\.name), layers.map(\.layer.name), "rank \(rank) \(step.name): every layer, in order")
                for convolution in forward where convolution.arguments["class"] as? String == "Conv2D" {
                    let primitives = inside.filter { $0.category == "primitive" && $0.start >= convolution.start && $0.end <= convolution.end }
                    XCTAssertEqual(primitives.filter { $0.name == "convolutionForward" }.count, 1, "\(convolution.name)")
                    XCTAssertGreaterThan(primitives.first { $0.name == "convolutionForward" }?.arguments["flops"] as? Double ?? 0, 0)
                }
                XCTAssertEqual(inside.filter { $0.category == "backward" }.count, inside.filter { $0.category == "forward" }.count)
                XCTAssertEqual(inside.filter { $0.name == "gradient allreduce wait" }.count, 1)
            }
        }
        let resumed = try run.launch(ranks: 2, config: try run.writeConfig(["training.epochs": 1]))
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertFalse(resumed.output.contains("resuming from"), "the profiled steps are not part of the run: \(resumed.output)")
    }
}
