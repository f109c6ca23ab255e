import Foundation

/// Where training time goes, recorded as Chrome trace events (they open in Perfetto or chrome://tracing): every
/// layer's forward and backward, every oneDNN primitive inside them (reorders included), and the step's other
/// parts (loss, allreduces, optimizer, data waits). Nothing is recorded unless a profiler is `current`; then the
/// training thread records (one thread: events nest by time).
public final class Profiler {
    /// A complete ("X") trace event: name, category, start and duration in microseconds, arguments.
    public struct Event: Sendable {
        public let name: String
        public let category: String
        public let start: Double
        public let duration: Double
        public let arguments: [String: Argument]

        public init(name: String, category: String, start: Double, duration: Double, arguments: [String: Argument] = [:]) {
            (self.name, self.category, self.start, self.duration, self.arguments) = (name, category, start, duration, arguments)
        }
    }

    public enum Argument: Sendable, Equatable {
        case text(String)
        case number(Double)
    }

    /// The profiler recording now, if any. Set and read by the training thread only.
    nonisolated(unsafe) public static var current: Profiler?

    public private(set) var events: [Event] = []
    private let origin = Date()

    public init() {}

    /// Runs `body`, recorded as an event when a profiler is current (otherwise only `body` runs).
    @inline(__always)
    public static func measure<T>(_ name: @autoclosure () -> String, _ category: String,
                                  _ arguments: @autoclosure () -> [String: Argument] = [:], _ body: () throws -> T) rethrows -> T {
        guard let profiler = current else { return try body() }
        let start = profiler.microseconds()
        let result = try body()
        profiler.events.append(Event(name: name(), category: category, start: start,
                                     duration: profiler.microseconds() - start, arguments: arguments()))
        return result
    }

    /// Microseconds since the profiler was made: the time base of its events.
    public func microseconds() -> Double { Date().timeIntervalSince(origin) * 1e6 }

    /// The time base of the events as microseconds since 1970, to put the events of several processes on one
    /// time line (exact for processes on one machine, as good as the clocks' synchronisation across machines).
    public var originMicrosecondsSince1970: Double { origin.timeIntervalSince1970 * 1e6 }

    /// Records an event that began at `start` (from `microseconds()`) and ends now, for spans no closure encloses.
    public func record(_ name: String, _ category: String, since start: Double, _ arguments: [String: Argument] = [:]) {
        events.append(Event(name: name, category: category, start: start, duration: microseconds() - start, arguments: arguments))
    }

    /// The events as Chrome trace JSON objects of process `process` (one track per MPI rank), their times moved
    /// by `shift` microseconds.
    public func traceEvents(process: Int, shift: Double = 0) -> [[String: Any]] {
        events.map { event in
            ["name": event.name, "cat": event.category, "ph": "X", "ts": event.start + shift, "dur": event.duration,
             "pid": process, "tid": 0,
             "args": event.arguments.mapValues { argument -> Any in
                 switch argument {
                 case .text(let text): text
                 case .number(let number): number
                 }
             }]
        }
    }
}
