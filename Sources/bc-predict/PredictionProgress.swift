import Foundation

/// Progress on standard error (standard output carries the table): redrawn in place on a terminal, otherwise a
/// line at every tenth of the work, so logs of long runs show it is moving.
struct PredictionProgress {
    let total: Int
    private var done = 0
    private var lastReportedTenth = 0
    private let start = Date()
    private let interactive = isatty(STDERR_FILENO) != 0

    init(total: Int) { self.total = total }

    mutating func advance(by count: Int) {
        done += count
        let tenth = total == 0 ? 10 : done * 10 / total
        if interactive {
            write("\r" + line)
        } else if tenth > lastReportedTenth {
            lastReportedTenth = tenth
            write(line + "\n")
        }
    }

    func finish(summary: String) {
        write((interactive ? "\r" + line + "\n" : "") + "bc-predict: " + summary + "\n")
    }

    private var line: String {
        let width = 30, filled = total == 0 ? width : width * done / total
        let rate = Double(done) / max(Date().timeIntervalSince(start), 1e-3)
        return "\(done)/\(total) images [" + String(repeating: "=", count: filled) + String(repeating: ".", count: width - filled)
            + "] " + String(format: "%.1f images/s", rate)
    }

    private func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
}
