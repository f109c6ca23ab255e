import Foundation
import TestSupport
import XCTest

/// Every executable answers `--version` with its version, the git commit it was built from, and the versions of
/// oneDNN (with the instruction set it uses here), Open MPI, HDF5 and libpng, as the libraries loaded report them.
final class VersionTests: XCTestCase {
    func testEveryToolAnswersVersion() throws {
        let pattern = #"^(bc-[a-z-]+) [0-9]+\.[0-9]+\.[0-9]+ \(git ([0-9a-f]{7,}(-dirty)?|unknown)\); oneDNN [0-9]+\.[0-9]+\.[0-9]+ \([a-z0-9_]+\), Open MPI v[0-9.]+, HDF5 [0-9]+\.[0-9]+\.[0-9]+, libpng [0-9]+\.[0-9]+\.[0-9]+$"#
        for tool in ["bc-train", "bc-eval", "bc-predict", "bc-data", "bc-inspect", "bc-serve", "bc-bench", "bc-bench-images"] {
            let run = try runProduct(tool, ["--version"])
            XCTAssertEqual(run.status, 0, "\(tool): \(run.errors)")
            let line = run.output.trimmingCharacters(in: .whitespacesAndNewlines)
            XCTAssertNotNil(line.range(of: pattern, options: .regularExpression), "\(tool): \(line)")
            XCTAssertTrue(line.hasPrefix("\(tool) "), line)
        }
    }
}
