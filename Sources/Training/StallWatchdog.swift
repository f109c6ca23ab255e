import Foundation

/// Where a rank can wait during training, and what a long wait there most likely means.
public enum StallPoint: String {
    case stepAgreement = "the step-boundary agreement (stop signals, checkpoint timing)"
    case trainingBatch = "the data loader (next training batch)"
    case batchNormStatistics = "a batch-norm statistics allreduce"
    case gradients = "the gradient allreduce"
    case metrics = "the metrics allreduce"
    case checkpointWrite = "the checkpoint write (rank 0 writes, the other ranks wait for it)"
    case validationBatch = "the data loader (next validation batch)"
    case validationMetrics = "the validation metrics allreduce"

    var likelyCause: String {
        switch self {
        case .trainingBatch, .validationBatch: "the data loader may be stuck or its disk slow"
        case .checkpointWrite: "the checkpoint folder's file system may be slow, or a rank may be stuck or dead"
        default: "another rank may be stuck or dead"
        }
    }
}

/// Reports a rank that waits far longer than usual: in a collective call (a rank that died or hangs leaves the others
/// waiting there without an error) or for data. A wait is too long once it exceeds
/// `max(floorSeconds, factor x the median of the recent step times)`; the rank then prints one line to standard error
/// naming itself, its host, the step, what it waits for, for how long and how long steps usually take, again each time
/// the wait doubles, and a last line when the wait ends. It only reads clocks: training computes exactly the same.
/// A background thread (`start`) calls `check`; tests call it themselves with an injected clock. It also adds up the
/// time waited at each point, for the trainer's per-epoch timing line.
public final class StallWatchdog {
    /// 0 turns the warnings off.
    public let floorSeconds: Double
    public let factor: Double
    /// A wait this long ends the job (`abort`); 0 never does.
    public let abortSeconds: Double
    /// Exit status of a job the watchdog ended (a stuck rank, a hung filesystem): it can be requeued.
    public static let stalledExitCode: Int32 = 76
    /// "rank 3 (node7)"
    let rankName: String
    private let clock: () -> Double
    private let report: (String) -> Void
    private let abort: (String) -> Void

    private let lock = NSLock()
    private var recentStepSeconds: [Double] = []
    private let recentStepLimit = 50
    private var position = "the start of training"
    private var stepStartedAt: Double?
    private var wait: Wait?
    private var waitedSeconds: [StallPoint: Double] = [:]
    private var running = false

    private struct Wait {
        let point: StallPoint
        let position: String
        let since: Double
        let usualStepSeconds: Double?
        /// Seconds of waiting at which the next warning is due; twice the wait at the last warning.
        var nextWarning: Double
        var warned = false
    }

    /// `abort` ends the process by default, from the watchdog's own thread, with `_exit`: the training thread is
    /// blocked in MPI, and exit handlers (MPI_Finalize) must not run beside it; `mpirun` then ends the other ranks.
    public init(floorSeconds: Double, factor: Double, abortSeconds: Double = 0, rankName: String,
                clock: @escaping () -> Double = monotonicSeconds,
                report: @escaping (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) },
                abort: @escaping (String) -> Void = {
                    FileHandle.standardError.write(Data(($0 + "\n").utf8))
                    _exit(StallWatchdog.stalledExitCode)
                }) {
        (self.floorSeconds, self.factor, self.abortSeconds, self.rankName) = (floorSeconds, factor, abortSeconds, rankName)
        (self.clock, self.report, self.abort) = (clock, report, abort)
    }

    /// Where training is now, as the warnings name it ("step 412 of epoch 5", "the validation after epoch 5").
    public func enter(_ position: String) {
        lock.withLock { self.position = position }
    }

    /// A training step begins at `position`; `stepFinished` ends it and adds its time to the usual step time.
    public func stepStarted(_ position: String) {
        let now = clock()
        lock.withLock { (self.position, stepStartedAt) = (position, now) }
    }

    public func stepFinished() {
        let now = clock()
        lock.withLock {
            guard let started = stepStartedAt else { return }
            recentStepSeconds.append(now - started)
            if recentStepSeconds.count > recentStepLimit { recentStepSeconds.removeFirst() }
            stepStartedAt = nil
        }
    }

    /// Runs `body`, a wait at `point`, under watch.
    public func waiting<T>(for point: StallPoint, _ body: () throws -> T) rethrows -> T {
        let now = clock()
        lock.withLock {
            let usual = medianStepSeconds
            wait = Wait(point: point, position: position, since: now, usualStepSeconds: usual,
                        nextWarning: max(floorSeconds, factor * (usual ?? 0)))
        }
        defer { endWait() }
        return try body()
    }

    private func endWait() {
        let now = clock()
        let ended = lock.withLock { () -> Wait? in
            defer { wait = nil }
            if let wait { waitedSeconds[wait.point, default: 0] += now - wait.since }
            return wait
        }
        guard let ended, ended.warned else { return }
        report("bc-train: \(rankName): \(ended.position) went on after waiting \(seconds(now - ended.since)) in \(ended.point.rawValue)")
    }

    /// Seconds waited at each point since `resetWaitedSeconds`.
    public var secondsWaited: [StallPoint: Double] { lock.withLock { waitedSeconds } }

    public func resetWaitedSeconds() {
        lock.withLock { waitedSeconds = [:] }
    }

    /// Prints the warning if the current wait has become too long (and not yet reported at this length).
    public func check() {
        let now = clock()
        if abortSeconds > 0, let current = lock.withLock({ wait }), now - current.since >= abortSeconds {
            abort("bc-train: \(rankName): \(current.position) has waited \(seconds(now - current.since)) in "
                  + "\(current.point.rawValue), longer than distributed.stall_abort_seconds (\(seconds(abortSeconds))); "
                  + "\(current.point.likelyCause). Ending the job with exit status \(Self.stalledExitCode) so that it can be "
                  + "requeued; the re-run resumes from the last checkpoint")
            return
        }
        guard floorSeconds > 0 else { return }
        let due = lock.withLock { () -> Wait? in
            guard var current = wait, now - current.since >= current.nextWarning else { return nil }
            // Twice the wait so far: a watchdog that could not run for a while (its process was stopped) warns once.
            current.nextWarning = 2 * (now - current.since)
            current.warned = true
            wait = current
            return current
        }
        guard let due else { return }
        let usual = due.usualStepSeconds.map { "steps usually take \(seconds($0))" } ?? "no step has finished yet"
        report("bc-train: \(rankName): \(due.position) has waited \(seconds(now - due.since)) in \(due.point.rawValue) "
               + "(\(usual)); \(due.point.likelyCause)")
    }

    /// Checks in a background thread, a few times per floor (or abort) period, until `stop`. Does nothing when both
    /// are 0.
    public func start() {
        let period = [floorSeconds, abortSeconds].filter { $0 > 0 }.min()
        guard let period else { return }
        lock.withLock { running = true }
        let interval = min(1, max(period / 4, 0.05))
        let thread = Thread { [self] in
            while lock.withLock({ running }) {
                Thread.sleep(forTimeInterval: interval)
                check()
            }
        }
        thread.name = "bc-train stall watchdog"
        thread.start()
    }

    public func stop() {
        lock.withLock { running = false }
    }

    private var medianStepSeconds: Double? {
        guard !recentStepSeconds.isEmpty else { return nil }
        let sorted = recentStepSeconds.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    private func seconds(_ value: Double) -> String {
        String(format: value < 1 ? "%.2f s" : value < 10 ? "%.1f s" : "%.0f s", value)
    }
}

/// Seconds on a clock that only moves forward (unaffected by changes of the wall-clock time).
public func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}

/// This host's name, for messages that say where a rank runs.
func hostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown host" }
    return String(cString: buffer)
}
