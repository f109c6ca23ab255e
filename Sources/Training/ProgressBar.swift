import Foundation

/// Keras' progress line, `78/78 [==============================] - 113s 1s/step - loss: 0.2345 - accuracy: 0.9012`:
/// redrawn in place after every step (`bar`, for terminals), printed as a line of its own at every tenth of the epoch
/// (`lines`, for log files), or only at the end of each epoch (`epochs`). The epoch's last line always appears.
public struct ProgressBar {
    public enum Output: Equatable { case bar, lines, epochs }

    public let totalSteps: Int
    public let output: Output
    private let width = 30

    public init(totalSteps: Int, output: Output) {
        (self.totalSteps, self.output) = (totalSteps, output)
    }

    /// The line for `step` (1-based) after `elapsed` seconds, with metrics in the given order.
    public func line(step: Int, elapsed: Double, metrics: [(String, Double)]) -> String {
        let digits = String(totalSteps).count
        let done = totalSteps == 0 ? width : width * step / totalSteps
        let bar = step >= totalSteps ? String(repeating: "=", count: width)
            : String(repeating: "=", count: max(done - 1, 0)) + ">" + String(repeating: ".", count: width - max(done, 1))
        let perStep = elapsed / Double(max(step, 1))
        let speed = perStep >= 1 ? String(format: "%.0fs/step", perStep) : String(format: "%.0fms/step", perStep * 1000)
        let values = metrics.map { String(format: " - %@: %.4f", $0.0, $0.1) }.joined()
        return String(repeating: " ", count: digits - String(step).count) + "\(step)/\(totalSteps) [\(bar)] - "
            + String(format: "%.0fs", elapsed) + " \(speed)" + values
    }

    /// What to write after `step` (1-based): the bar redrawn over itself, a line at the first step of each tenth of
    /// the epoch (every step when there are at most ten; never the last, which `finished` writes), or nothing.
    public func text(afterStep step: Int, elapsed: Double, metrics: [(String, Double)]) -> String? {
        switch output {
        case .bar: return "\r" + line(step: step, elapsed: elapsed, metrics: metrics)
        case .lines:
            let startsATenth = step * 10 / totalSteps > (step - 1) * 10 / totalSteps
            return startsATenth && step < totalSteps ? line(step: step, elapsed: elapsed, metrics: metrics) + "\n" : nil
        case .epochs: return nil
        }
    }

    /// The epoch's last line (with the validation metrics), finishing the bar.
    public func finished(elapsed: Double, metrics: [(String, Double)]) -> String {
        (output == .bar ? "\r" : "") + line(step: totalSteps, elapsed: elapsed, metrics: metrics) + "\n"
    }

    public func show(step: Int, elapsed: Double, metrics: [(String, Double)]) {
        guard let text = text(afterStep: step, elapsed: elapsed, metrics: metrics) else { return }
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    public func finish(elapsed: Double, metrics: [(String, Double)]) {
        FileHandle.standardOutput.write(Data(finished(elapsed: elapsed, metrics: metrics).utf8))
    }
}

/// `callbacks.progress`: how rank 0 shows progress within an epoch.
public enum ProgressStyle: String, Codable, CaseIterable, Equatable {
    /// `bar` when the output reaches a terminal, `lines` otherwise.
    case auto
    case bar, lines, epochs

    /// The output for this process. `auto` draws the bar only when standard output is a terminal and, under
    /// `mpirun`, `mpirun`'s own standard output is one too: Open MPI gives every rank a pseudo-terminal even when
    /// `mpirun` writes to a file (a batch job's log), where a redrawn bar would leave `\r`-joined steps.
    public func resolved(standardOutputIsTerminal: Bool = isatty(STDOUT_FILENO) != 0,
                         launcherOutputIsTerminal: Bool? = mpirunOutputIsTerminal()) -> ProgressBar.Output {
        switch self {
        case .auto: standardOutputIsTerminal && launcherOutputIsTerminal != false ? .bar : .lines
        case .bar: .bar
        case .lines: .lines
        case .epochs: .epochs
        }
    }
}

/// Under `mpirun` (Open MPI sets OMPI_COMM_WORLD_SIZE), whether the launching process's standard output, where the
/// ranks' output ends up, is a terminal; nil when not under `mpirun`. The launcher is this process's parent (`mpirun`
/// on its own node, Open MPI's daemon on other nodes, whose output is never a terminal).
public func mpirunOutputIsTerminal() -> Bool? {
    guard ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil else { return nil }
    let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(getppid())/fd/1")) ?? ""
    return target.hasPrefix("/dev/pts/") || target.hasPrefix("/dev/tty")
}
