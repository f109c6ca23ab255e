import Foundation

/// Rank 0's hold on a run folder for the whole run (`run.lock`), so that two runs never train into and write the
/// same folder (a requeued job starting while the old one still saves, a command launched twice).
///
/// On one host an advisory `flock` on the file decides: the kernel drops it when the holder dies, however it dies,
/// so a lock left by a killed run is recognised as stale. The file names the holder (host, PID, start) for the
/// message, and the holder touches it every `heartbeat` seconds: a lock of another host (a shared filesystem) is
/// taken over only when it has not been touched for `staleAfter` seconds.
final class RunLock {
    struct Holder: Codable, Equatable {
        let host: String
        let pid: Int32
        let started: Date
    }

    static let fileName = "run.lock"
    static let heartbeat: TimeInterval = 30
    static let staleAfter: TimeInterval = 300

    let url: URL
    private let descriptor: Int32
    private let timer: DispatchSourceTimer
    /// What happened to a previous holder's lock, for the log ("took over a stale lock ...").
    let note: String?

    /// Takes the lock of `directory` or throws a `TrainingError` naming the run that holds it.
    init(directory: URL, host: String = hostName(), now: Date = Date()) throws {
        url = directory.appendingPathComponent(Self.fileName)
        let descriptor = try Self.lockedFile(url, now: now)
        let previous = Self.readHolder(descriptor)
        var note: String?
        if let previous {
            let lastSeen = Self.modificationDate(url) ?? previous.started
            if previous.host != host && now.timeIntervalSince(lastSeen) < Self.staleAfter {
                flock(descriptor, LOCK_UN)
                close(descriptor)
                throw TrainingError(Self.inUse(url, previous, now: now, lastSeen: lastSeen))
            }
            note = "took over the lock of a run that is no longer running (host \(previous.host), PID \(previous.pid), "
                + "started \(Self.describe(previous.started))"
                + (previous.host == host ? ")" : ", last seen \(Self.age(now.timeIntervalSince(lastSeen))) ago)")
        }
        self.note = note
        self.descriptor = descriptor
        let holder = Holder(host: host, pid: getpid(), started: now)
        let data = try Self.encoder.encode(holder) + [10]
        ftruncate(descriptor, 0)
        _ = data.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        fsync(descriptor)
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "run.lock heartbeat"))
        timer.schedule(deadline: .now() + Self.heartbeat, repeating: Self.heartbeat)
        timer.setEventHandler { futimens(descriptor, nil) }
        timer.resume()
    }

    /// Opens and flocks the lock file. A holder that releases removes the file, so the lock counts only if the
    /// locked file is still the one at `url` (else it was removed between our open and flock: try again).
    private static func lockedFile(_ url: URL, now: Date) throws -> Int32 {
        while true {
            let descriptor = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                throw TrainingError("cannot create \(url.path): \(String(cString: strerror(errno)))")
            }
            guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
                let holder = readHolder(descriptor)
                close(descriptor)
                throw TrainingError(inUse(url, holder, now: now, lastSeen: nil))
            }
            var opened = stat(), current = stat()
            if fstat(descriptor, &opened) == 0 && stat(url.path, &current) == 0 && opened.st_ino == current.st_ino {
                return descriptor
            }
            close(descriptor)
        }
    }

    /// Ends the hold and removes the file (a run that dies without this leaves a file whose flock is gone).
    func release() {
        timer.cancel()
        unlink(url.path)
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }

    private static func inUse(_ url: URL, _ holder: Holder?, now: Date, lastSeen: Date?) -> String {
        guard let holder else { return "\(url.deletingLastPathComponent().path) is in use by another bc-train run (\(url.path) is locked)" }
        return "\(url.deletingLastPathComponent().path) is in use by another bc-train run: host \(holder.host), PID \(holder.pid), "
            + "started \(describe(holder.started)) (\(age(now.timeIntervalSince(holder.started))) ago)"
            + (lastSeen.map { ", last seen \(age(now.timeIntervalSince($0))) ago" } ?? "")
            + ". Wait for it to end, or use another run_name; if that run is gone (its host is down), remove \(url.path)"
    }

    private static func readHolder(_ descriptor: Int32) -> Holder? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = pread(descriptor, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return try? decoder.decode(Holder.self, from: Data(buffer[..<count]))
    }

    private static func modificationDate(_ url: URL) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date
    }

    private static func describe(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }

    static func age(_ seconds: TimeInterval) -> String {
        let seconds = max(0, Int(seconds))
        return seconds < 120 ? "\(seconds) s" : seconds < 7200 ? "\(seconds / 60) min" : "\(seconds / 3600) h"
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()

    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}
