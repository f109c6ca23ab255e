import CMPI
#if canImport(Glibc)
import Glibc
#endif

public struct MPIError: Error, CustomStringConvertible {
    public let description: String
}

/// The MPI job this process belongs to. Every MPI call runs on one communication thread (MPI is initialised there,
/// with FUNNELED support); callers block while it runs blocking calls, and gradient allreduces can stay in flight
/// while they compute (`startSum`). Errors are returned (not fatal inside MPI) and become Swift errors.
public final class MPIWorld {
    public let rank: Int
    public let size: Int
    let communication: CommunicationThread
    /// A duplicate of MPI_COMM_WORLD for non-blocking gradient allreduces, so that their order and the order of the
    /// blocking calls are matched across ranks separately.
    let gradientCommunicator: MPI_Comm

    /// The process's world. MPI can be initialised only once per process, so there is exactly one, made on first
    /// use and finalised when the process exits. Without `mpirun` it is a world of one.
    public static func shared() throws -> MPIWorld { try sharedWorld.get() }

    private static let sharedWorld = Result { try MPIWorld() }

    private init() throws {
        let communication = CommunicationThread()
        (rank, size, gradientCommunicator) = try communication.perform {
            var alreadyInitialized: Int32 = 0
            MPI_Initialized(&alreadyInitialized)
            if alreadyInitialized == 0 {
                var provided: Int32 = 0
                try Self.check(MPI_Init_thread(nil, nil, cmpi_thread_funneled(), &provided), "MPI_Init_thread")
                guard provided >= cmpi_thread_funneled() else {
                    throw MPIError(description: "MPI granted thread level \(provided), bc-train needs MPI_THREAD_FUNNELED")
                }
                atexit { if case .success(let world) = MPIWorld.sharedWorld { world.finalize() } }
            }
            MPI_Comm_set_errhandler(cmpi_comm_world(), cmpi_errors_return())
            var rank: Int32 = 0, size: Int32 = 0, duplicate: MPI_Comm?
            MPI_Comm_rank(cmpi_comm_world(), &rank)
            MPI_Comm_size(cmpi_comm_world(), &size)
            try Self.check(MPI_Comm_dup(cmpi_comm_world(), &duplicate), "MPI_Comm_dup")
            return (Int(rank), Int(size), duplicate!)
        }
        self.communication = communication
    }

    private func finalize() {
        _ = try? communication.perform { MPI_Finalize() }
    }

    /// In-place elementwise sum over all ranks.
    public func sum(_ values: UnsafeMutableBufferPointer<Float>) throws {
        guard size > 1 else { return }
        try communication.perform {
            try Self.check(MPI_Allreduce(cmpi_in_place(), values.baseAddress, Int32(values.count), cmpi_float(), cmpi_sum(),
                                         cmpi_comm_world()), "MPI_Allreduce(sum) of \(values.count) floats")
        }
    }

    /// In-place copy of rank `root`'s values to every rank.
    public func broadcast(_ values: UnsafeMutableBufferPointer<Float>, root: Int = 0) throws {
        guard size > 1 else { return }
        try communication.perform {
            try Self.check(MPI_Bcast(values.baseAddress, Int32(values.count), cmpi_float(), Int32(root), cmpi_comm_world()),
                           "MPI_Bcast of \(values.count) floats")
        }
    }

    static func check(_ code: Int32, _ call: String) throws {
        guard code != cmpi_success() else { return }
        throw error(code, call)
    }

    static func error(_ code: Int32, _ call: String) -> MPIError {
        var text = [CChar](repeating: 0, count: Int(cmpi_max_error_string()))
        var length: Int32 = 0
        MPI_Error_string(code, &text, &length)
        return MPIError(description: "\(call) failed: \(String(cString: text))")
    }
}

extension MPIWorld {
    /// In-place sum over ranks of Double values (statistics and metrics that need more than Float precision).
    public func sum(_ values: UnsafeMutableBufferPointer<Double>) throws {
        guard size > 1 else { return }
        try communication.perform {
            try Self.check(MPI_Allreduce(cmpi_in_place(), values.baseAddress, Int32(values.count), cmpi_double(), cmpi_sum(),
                                         cmpi_comm_world()), "MPI_Allreduce(sum) of \(values.count) doubles")
        }
    }

    /// Ends the whole job (every rank) with `code`: for errors some ranks cannot report to the others. Called from
    /// the failing thread itself, not the communication thread, which may be the one stuck; MPI_Abort tears the
    /// job down through the runtime from any thread.
    public func abort(code: Int32) -> Never {
        MPI_Abort(cmpi_comm_world(), code)
        exit(code)
    }
}

extension MPIWorld {
    /// The elementwise largest of every rank's `values`.
    public func maximum(_ values: [Int32]) throws -> [Int32] {
        guard size > 1 else { return values }
        return try communication.perform {
            var local = values, result = [Int32](repeating: 0, count: values.count)
            try Self.check(MPI_Allreduce(&local, &result, Int32(values.count), cmpi_int32(), cmpi_max(), cmpi_comm_world()),
                           "MPI_Allreduce(max)")
            return result
        }
    }
}

extension MPIWorld {
    /// Whether every rank passed the same values (none of them `Int32.min`).
    public func allEqual(_ values: [Int32]) throws -> Bool {
        let largest = try maximum(values), smallest = try maximum(values.map { 0 &- $0 }).map { 0 &- $0 }
        return largest == smallest
    }
}

extension MPIWorld {
    /// Runs `body` (which may act on some ranks only) and makes every rank throw if any rank's `body` threw:
    /// the failing rank rethrows its own error, the others `otherRankFailed`, so all ranks stop together.
    public func together(_ otherRankFailed: @autoclosure () -> Error, _ body: () throws -> Void) throws {
        var failure: Error?
        do { try body() } catch { failure = error }
        let failed = try maximum([failure == nil ? 0 : 1])[0]
        if let failure { throw failure }
        if failed != 0 { throw otherRankFailed() }
    }
}
