import Evaluation
import Foundation

/// The temperature `bc-eval --calibrate` fitted for one model, kept beside it (`best.h5` -> `best.calibration.json`)
/// and applied by every Predictor of that model. It names the weights it was fitted for, so a file left beside
/// retrained weights is refused rather than applied.
public struct ModelCalibration: Codable, Equatable, Sendable {
    public let temperature: Double
    /// The Predictor's model id (file name and weights digest) the temperature was fitted for.
    public let model: String
    /// The test-time augmentation the probabilities were averaged over: averaging softens them, so the
    /// temperature fits that setting only.
    public let testTimeAugmentation: TestTimeAugmentation
    /// The crop grid's side the probabilities were averaged over (`Predictor.crops`); nil for whole images.
    public let crops: Int?
    /// What it was fitted on, e.g. "validation part, 160 images".
    public let fittedOn: String
    public let negativeLogLikelihoodBefore, negativeLogLikelihoodAfter: Double

    public init(temperature: Double, model: String, testTimeAugmentation: TestTimeAugmentation, crops: CropGrid? = nil, fittedOn: String,
                negativeLogLikelihoodBefore: Double, negativeLogLikelihoodAfter: Double) {
        (self.temperature, self.model, self.testTimeAugmentation, self.fittedOn) = (temperature, model, testTimeAugmentation, fittedOn)
        self.crops = crops?.side
        (self.negativeLogLikelihoodBefore, self.negativeLogLikelihoodAfter) = (negativeLogLikelihoodBefore, negativeLogLikelihoodAfter)
    }

    enum CodingKeys: String, CodingKey {
        case temperature, model, testTimeAugmentation = "test_time_augmentation", crops, fittedOn = "fitted_on",
             negativeLogLikelihoodBefore = "nll_before", negativeLogLikelihoodAfter = "nll_after"
    }

    /// Where the fit stopped at an end of its range: the validation images are separated perfectly (or not at all),
    /// so the fitted confidence is extreme and unlikely to hold on other images.
    public var reachedBound: Bool { temperature <= TemperatureScaling.range.lowerBound * 1.001 || temperature >= TemperatureScaling.range.upperBound * 0.999 }

    public static func path(besideModel modelPath: String) -> String {
        let url = URL(fileURLWithPath: modelPath)
        return url.deletingPathExtension().path + ".calibration.json"
    }

    /// The calibration beside `modelPath`, nil when there is none; throws naming the file when it is unreadable,
    /// or was fitted for other weights, another test-time augmentation or other crops.
    static func load(besideModel modelPath: String, modelID: String, testTimeAugmentation: TestTimeAugmentation,
                     crops: CropGrid?) throws -> ModelCalibration? {
        let path = path(besideModel: modelPath)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CalibrationFileError(path: path, problem: "cannot be read")
        }
        let calibration: ModelCalibration
        do { calibration = try JSONDecoder().decode(ModelCalibration.self, from: data) } catch {
            throw CalibrationFileError(path: path, problem: "is not a calibration file (\(error))")
        }
        guard calibration.temperature.isFinite, calibration.temperature > 0 else {
            throw CalibrationFileError(path: path, problem: "has temperature \(calibration.temperature); it must be a positive number")
        }
        guard calibration.model == modelID else {
            throw CalibrationFileError(path: path, problem: "was fitted for \(calibration.model), not for these weights (\(modelID)): "
                                       + "fit it again with bc-eval --calibrate, or delete it")
        }
        guard calibration.testTimeAugmentation == testTimeAugmentation else {
            throw CalibrationFileError(path: path, problem: "was fitted with test-time augmentation \(calibration.testTimeAugmentation.rawValue), "
                                       + "not \(testTimeAugmentation.rawValue): predict with --tta \(calibration.testTimeAugmentation.rawValue), "
                                       + "or fit it again with bc-eval --calibrate --tta \(testTimeAugmentation.rawValue)")
        }
        guard calibration.crops == crops?.side else {
            let fitted = calibration.crops.map { "crops \($0)" } ?? "whole images", asked = crops.map { "crops \($0.side)" } ?? "whole images"
            throw CalibrationFileError(path: path, problem: "was fitted on \(fitted), not \(asked): predict the way it was fitted, "
                                       + "or fit it again with bc-eval --calibrate" + (crops.map { " --crops \($0.side)" } ?? ""))
        }
        return calibration
    }

    public func write(besideModel modelPath: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: Self.path(besideModel: modelPath)), options: .atomic)
    }
}

public struct CalibrationFileError: Error, CustomStringConvertible {
    public let path: String
    public let problem: String
    public var description: String { "\(path) \(problem)" }
}
