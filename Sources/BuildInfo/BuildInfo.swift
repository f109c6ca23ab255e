import CDNNL
import CHDF5
import CMPI
import CPNG
import OneDNN

/// What a binary is and runs on, for `--version` and the top of every training log, so that a cluster run can be
/// reproduced: bc-train's version and git commit, the versions of the libraries it loaded (oneDNN, Open MPI, HDF5,
/// libpng) and the instruction set oneDNN's kernels use on this CPU.
public enum BuildInfo {
    public static let version = "0.9.0"

    /// "bc-train 0.9.0 (git 2156731); oneDNN 2.7.3 (avx512_core), Open MPI v4.1.4, HDF5 1.10.8, libpng 1.6.39"
    public static func describe(tool: String) -> String {
        "\(tool) \(version) (git \(gitCommit)); " + libraries
    }

    public static var libraries: String {
        let dnnl = dnnl_version().pointee
        var major: UInt32 = 0, minor: UInt32 = 0, release: UInt32 = 0
        H5get_libversion(&major, &minor, &release)
        return "oneDNN \(dnnl.major).\(dnnl.minor).\(dnnl.patch) (\(cpuInstructionSet)), \(mpiLibrary), "
            + "HDF5 \(major).\(minor).\(release), libpng \(String(cString: png_get_libpng_ver(nil)))"
    }

    /// Open MPI's name and version ("Open MPI v4.1.4"); MPI allows asking before MPI_Init.
    static var mpiLibrary: String {
        var text = [CChar](repeating: 0, count: 8192)
        var length: Int32 = 0
        MPI_Get_library_version(&text, &length)
        return String(String(cString: text).prefix { $0 != "," && $0 != "\n" })
    }

    /// The instruction set oneDNN dispatches to here.
    static var cpuInstructionSet: String { OneDNNBackend.instructionSet }
}
