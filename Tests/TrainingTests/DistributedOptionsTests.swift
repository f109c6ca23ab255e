import Foundation
import Training
import XCTest

/// `distributed.sync_batch_norm` takes true, false or "auto" (synchronise only below 16 images per rank);
/// anything else is refused naming what is allowed; `distributed.overlap` defaults to true. Both survive the run state's
/// JSON round trip.
final class DistributedOptionsTests: XCTestCase {
    func testSyncBatchNormAndOverlapKeys() throws {
        try withMinimalConfig { file in
            let defaults = try TrainingConfig.load(from: file).distributed
            XCTAssertEqual(defaults.syncBatchNorm, .true)
            XCTAssertTrue(defaults.overlap)
            for (text, expected) in [("true", BatchNormSynchronization.true), ("false", .false), ("auto", .auto)] {
                let config = try TrainingConfig.load(from: file, overrides: ["distributed.sync_batch_norm=\(text)",
                                                                             "distributed.overlap=false"])
                XCTAssertEqual(config.distributed.syncBatchNorm, expected)
                XCTAssertFalse(config.distributed.overlap)
                let decoded = try JSONDecoder().decode(TrainingConfig.self, from: JSONEncoder().encode(config))
                XCTAssertEqual(decoded, config, "the config as a checkpoint stores it")
            }
            XCTAssertThrowsError(try TrainingConfig.load(from: file, overrides: ["distributed.sync_batch_norm=sometimes"])) { error in
                XCTAssertEqual("\(error)", "\(file.path): distributed.sync_batch_norm: is \"sometimes\"; allowed: true, false, \"auto\"")
            }
            XCTAssertThrowsError(try TrainingConfig.load(from: file, overrides: ["distributed.sync_batch_norm=3"])) { error in
                XCTAssertEqual("\(error)", "\(file.path): distributed.sync_batch_norm: is neither a boolean nor a string; allowed: true, false, \"auto\"")
            }
            XCTAssertTrue(BatchNormSynchronization.auto.synchronizes(perRankBatch: 8))
            XCTAssertFalse(BatchNormSynchronization.auto.synchronizes(perRankBatch: 16))
            XCTAssertTrue(BatchNormSynchronization.true.synchronizes(perRankBatch: 64))
            XCTAssertFalse(BatchNormSynchronization.false.synchronizes(perRankBatch: 1))
        }
    }
}
