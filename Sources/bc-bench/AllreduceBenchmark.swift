import ArgumentParser
import Cluster
import Foundation

struct Allreduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Times MPI_Allreduce sums of float32 buffers between the ranks of an mpirun job (median seconds).",
        discussion: """
            Run under mpirun with 2 or more ranks. Every rank sums the same sizes in the same order, each through \
            bc-train's communication thread (as training does). Rank 0 prints one JSON object per size: bytes, \
            ranks, median seconds, and the bus bandwidth 2 (p - 1) / p x bytes / seconds (what a ring allreduce \
            moves over each link).
            """)

    @Option(help: "Buffer sizes in bytes, comma-separated.")
    var bytes = "8,1024,65536,1048576,4194304,16777216,67108864"
    @Option(help: "Untimed allreduces per size before the timed ones.") var warmups = 3
    @Option(help: "Timed allreduces per size; the median is reported.") var repeats = 15

    func run() throws {
        let world = try MPIWorld.shared()
        guard world.size > 1 else { throw ValidationError("run it under mpirun with 2 or more ranks") }
        let sizes = bytes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !sizes.isEmpty, sizes.allSatisfy({ $0 >= 4 }), warmups >= 0, repeats > 0 else {
            throw ValidationError("--bytes takes sizes of at least 4 bytes; --repeats must be positive")
        }
        for size in sizes {
            var values = [Float](repeating: 1, count: size / 4)
            var seconds: [Double] = []
            for index in 0..<(warmups + repeats) {
                let start = DispatchTime.now().uptimeNanoseconds
                try values.withUnsafeMutableBufferPointer { try world.sum($0) }
                if index >= warmups { seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
            }
            let median = seconds.sorted()[seconds.count / 2]
            let p = Double(world.size)
            let busBandwidth = 2 * (p - 1) / p * Double(size) / median
            if world.rank == 0 {
                print(String(format: #"{"bytes": %d, "ranks": %d, "seconds": %.9f, "bus_gbit_per_s": %.3f}"#,
                             size, world.size, median, busBandwidth * 8 / 1e9))
                fflush(stdout)
            }
        }
    }
}
