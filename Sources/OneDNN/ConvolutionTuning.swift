import CDNNL
import Foundation
import Glibc
import Tensors

/// `convolution_algorithm: auto`, as cuDNN's benchmark mode and MIOpen's find database do it: the first time a
/// convolution of some shape and direction runs where two kernels could serve it (Winograd and direct; in
/// `mixed_bfloat16`, bf16 and float32 multiplies), both are timed and the faster one is kept, on disk, per CPU model,
/// instruction set and thread count, with both times. Every later run on this machine (each MPI rank, a resumed run)
/// reads the choice instead of timing again, so ranks agree and a resumed run rounds as the run before it did. Timing
/// and writing hold a lock on the file, so ranks starting together time each shape once. Like the backend that owns
/// it, not for use from several threads at once.
public final class ConvolutionAlgorithmChoices {
    /// One timed convolution: the kernel kept ("winograd" or "direct", "bfloat16" or "float32") and the best of three
    /// runs of each, in milliseconds, by name.
    public struct Choice: Codable, Equatable {
        public var kept: String
        public var milliseconds: [String: Double]
    }

    /// The file choices are kept in: `$XDG_CACHE_HOME/bc-train/convolution-choices.json` (`~/.cache/...`).
    public let file: URL
    /// Prefixes each key: what makes a timing true only of this machine, oneDNN and thread count.
    public private(set) lazy var machine: String = {
        let version = dnnl_version().pointee
        return "\(Self.cpuModel) | \(OneDNNBackend.instructionSet) | oneDNN \(version.major).\(version.minor).\(version.patch) | \(threads) threads"
    }()
    private let threads: Int
    private var known: [String: Choice] = [:]
    /// How many shapes this process timed (the others it read).
    public private(set) var timedCount = 0
    private var warned = false
    /// Set while `time` runs with the file locked: a timing inside it (a backward convolution's forward hint) must not
    /// lock the file again.
    private var timing = false
    /// How long to wait for another process's lock before timing without it (a stopped process may hold it).
    static let lockPatienceSeconds = 120.0
    /// The kernel that rounds further from Keras' float32 direct convolution (Winograd; bf16 multiplies) is kept where
    /// it takes at most this fraction of the other's time: a clear margin keeps close calls from flipping with timing
    /// noise from machine to machine, and close calls go to the closer rounding.
    public static let challengerTimeFraction = 0.8

    public static var defaultFile: URL {
        let environment = ProcessInfo.processInfo.environment
        let cache = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: environment["HOME"] ?? NSTemporaryDirectory()).appendingPathComponent(".cache")
        return cache.appendingPathComponent("bc-train/convolution-choices.json")
    }

    /// "AMD EPYC 9R14", from /proc/cpuinfo's first model name.
    public static let cpuModel: String = {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let line = info.split(separator: "\n").first { $0.hasPrefix("model name") }
        return line.flatMap { $0.split(separator: ":", maxSplits: 1).last }.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
    }()

    public init(file: URL = defaultFile, threads: Int) {
        (self.file, self.threads) = (file, threads)
    }

    /// Whether `challenger` is kept over `standard` for `key`. Unless the choice is known, `time` runs with the file
    /// locked, giving the seconds each takes, and the choice is kept. A file that cannot be read, parsed or written is
    /// a cache miss (one warning on stderr), never an error: timing again gives a valid choice.
    func keeps(_ challenger: String, over standard: String, for key: String,
               time: () -> (challenger: Double, standard: Double)) -> Bool {
        let key = "\(machine) | \(key)"
        func known() -> Bool? { self.known[key].map { $0.kept == challenger } }
        if let kept = known() { return kept }
        // Read before locking: a file that has the answer serves even where it cannot be written.
        self.known.merge(read()) { $1 }
        if let kept = known() { return kept }
        let lock = timing ? -1 : lockFile()
        defer { if lock >= 0 { flock(lock, LOCK_UN); close(lock) } }
        self.known.merge(read()) { $1 }  // another rank may have timed it while this one waited
        if let kept = known() { return kept }
        let wasTiming = timing
        timing = true
        let seconds = time()
        timing = wasTiming
        timedCount += 1
        let milliseconds = (challenger: (seconds.challenger * 1e6).rounded() / 1e3, standard: (seconds.standard * 1e6).rounded() / 1e3)
        let keepsChallenger = milliseconds.challenger <= Self.challengerTimeFraction * milliseconds.standard
        self.known[key] = Choice(kept: keepsChallenger ? challenger : standard,
                                 milliseconds: [challenger: milliseconds.challenger, standard: milliseconds.standard])
        write()
        return keepsChallenger
    }

    private func lockFile() -> Int32 {
        do {
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            warn("cannot create the folder \(file.deletingLastPathComponent().path) (a file in the way, or no permission)" + Self.notKept)
            return -1
        }
        let lock = open(file.path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lock >= 0 else {
            warn("cannot open \(file.path).lock: \(String(cString: strerror(errno)))" + Self.notKept)
            return -1
        }
        let started = ContinuousClock.now
        while flock(lock, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { return lock }  // no locks on this file system: go on unlocked
            guard ContinuousClock.now - started < .seconds(Self.lockPatienceSeconds) else {
                warn("another process has held \(file.path).lock for \(Int(Self.lockPatienceSeconds)) s; timing without it")
                close(lock)
                return -1
            }
            usleep(50_000)
        }
        return lock
    }

    private func read() -> [String: Choice] {
        guard let data = FileManager.default.contents(atPath: file.path) else { return readEarlierFile() }
        guard let choices = try? JSONDecoder().decode([String: Choice].self, from: data) else {
            warn("\(file.path) is not what bc-train writes there; timing again and replacing it")
            return [:]
        }
        return choices
    }

    /// bc-train before mixed_bfloat16 was timed kept its Winograd choices in `convolution-algorithms.json` next to
    /// `file`, as {"algorithm", "winograd_ms", "direct_ms"}: read as the same choices, a run resumed across the
    /// upgrade keeps its kernels.
    private func readEarlierFile() -> [String: Choice] {
        struct EarlierChoice: Decodable {
            var algorithm: String
            var winograd_ms, direct_ms: Double
        }
        let earlier = file.deletingLastPathComponent().appendingPathComponent("convolution-algorithms.json")
        guard let data = FileManager.default.contents(atPath: earlier.path),
              let choices = try? JSONDecoder().decode([String: EarlierChoice].self, from: data) else { return [:] }
        return choices.mapValues { Choice(kept: $0.algorithm, milliseconds: ["winograd": $0.winograd_ms, "direct": $0.direct_ms]) }
    }

    private func write() {
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(known).write(to: file, options: .atomic)
        } catch {
            warn("cannot write \(file.path) (no permission, or the disk is full)" + Self.notKept)
        }
    }

    private static let notKept = "; choices are kept for this process only (a resumed run may time again and choose other kernels)"

    private func warn(_ message: String) {
        guard !warned else { return }
        warned = true
        FileHandle.standardError.write(Data("bc-train: convolution_algorithm auto: \(message)\n".utf8))
    }
}

extension OneDNNBackend {
    /// The seconds each descriptor's primitive takes here: each is created and run on zero-filled memory once to warm
    /// up, then timed over `runs` runs (the best run counts).
    func runTimes(_ candidates: [PrimitiveDescriptor], runs: Int = 3) -> [Double] {
        let seconds = candidates.map { candidate -> Double in
            var primitive: dnnl_primitive_t?
            check(dnnl_primitive_create(&primitive, candidate.handle), "timing a primitive")
            defer { dnnl_primitive_destroy(primitive) }
            let memories = Self.timedArguments.compactMap { argument -> (Int32, dnnl_memory_t)? in
                guard var md = candidate.memoryDescriptor(argument) else { return nil }
                var memory: dnnl_memory_t?
                // DNNL_MEMORY_ALLOCATE (a C macro Swift does not import): oneDNN allocates the buffer.
                check(dnnl_memory_create(&memory, &md, engine, UnsafeMutableRawPointer(bitPattern: UInt.max)), "timing a primitive")
                var data: UnsafeMutableRawPointer?
                check(dnnl_memory_get_data_handle(memory, &data), "timing a primitive")
                memset(data!, 0, dnnl_memory_desc_get_size(&md))
                return (argument, memory!)
            }
            defer { for (_, memory) in memories { dnnl_memory_destroy(memory) } }
            let arguments = memories.map { dnnl_exec_arg_t(arg: $0.0, memory: $0.1) }
            var best = Double.infinity
            for run in 0...runs {
                let started = ContinuousClock.now
                check(dnnl_primitive_execute(primitive, stream, Int32(arguments.count), arguments), "timing a primitive")
                check(dnnl_stream_wait(stream), "timing a primitive")
                let elapsed = ContinuousClock.now - started
                if run > 0 { best = min(best, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18) }
            }
            return best
        }
        return seconds
    }

    /// Every argument a convolution (or a reorder: its from and to are source and destination) can take.
    private static let timedArguments = [DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST, DNNL_ARG_DIFF_SRC,
                                         DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS, DNNL_ARG_DIFF_DST, DNNL_ARG_SCRATCHPAD,
                                         DNNL_ARG_WORKSPACE]
}
