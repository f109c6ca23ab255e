import Foundation
import Training
import XCTest

/// `model.fine_tune_learning_rate`: the rate after the backbone is unfrozen (Keras' recipe recompiles at a lower
/// one); only with `model.freeze_backbone_epochs`, and only a positive number.
final class FineTuningOptionsTests: XCTestCase {
    func testFineTuneLearningRateKey() throws {
        try withMinimalConfig { file in
            XCTAssertNil(try TrainingConfig.load(from: file).model.fineTuneLearningRate)
            let recipe = try TrainingConfig.load(from: file, overrides: ["model.freeze_backbone_epochs=2", "model.fine_tune_learning_rate=1e-5"])
            XCTAssertEqual(recipe.model.fineTuneLearningRate, 1e-5)
            XCTAssertEqual(recipe.model.freezeBackboneEpochs, 2)
            XCTAssertThrowsError(try TrainingConfig.load(from: file, overrides: ["model.fine_tune_learning_rate=1e-5"])) { error in
                XCTAssertEqual("\(error)", "\(file.path): model.fine_tune_learning_rate: applies when the backbone is unfrozen: "
                               + "set model.freeze_backbone_epochs too")
            }
            XCTAssertThrowsError(try TrainingConfig.load(from: file, overrides: ["model.freeze_backbone_epochs=1",
                                                                                 "model.fine_tune_learning_rate=0"])) { error in
                XCTAssertEqual("\(error)", "\(file.path): model.fine_tune_learning_rate: must be a positive number")
            }
        }
    }
}
