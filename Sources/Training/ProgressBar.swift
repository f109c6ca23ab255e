import Foundation

/// Keras' progress line, `78/78 [==============================] - 113s 1s/step - loss: 0.2345 - accuracy: 0.9012`,
/// redrawn in place on a terminal; when output goes to a file or pipe, one plain line per epoch instead.
public struct ProgressBar {
    public let totalSteps: Int
    public let interactive: Bool
    private let width = 30

    public init(totalSteps: Int, interactive: Bool = isatty(STDOUT_FILENO) != 0) {
        (self.totalSteps, self.interactive) = (totalSteps, interactive)
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

    /// Writes the line: redrawn in place on a terminal (finished by `finish`), or nothing until the epoch ends.
    public func show(step: Int, elapsed: Double, metrics: [(String, Double)]) {
        guard interactive else { return }
        FileHandle.standardOutput.write(Data(("\r" + line(step: step, elapsed: elapsed, metrics: metrics)).utf8))
    }

    public func finish(elapsed: Double, metrics: [(String, Double)]) {
        let text = line(step: totalSteps, elapsed: elapsed, metrics: metrics)
        FileHandle.standardOutput.write(Data(((interactive ? "\r" : "") + text + "\n").utf8))
    }
}
