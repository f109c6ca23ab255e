import Foundation

/// How far predicted probabilities can be trusted, one-vs-rest for the positive class: the Brier score, the
/// expected calibration error over equal-width bins and the reliability diagram's points (binned as scikit-learn's
/// `calibration_curve(strategy="uniform")` bins them).
public struct Calibration: Codable, Equatable, Sendable {
    public struct Bin: Codable, Equatable, Sendable {
        /// Mean predicted P(positive) of the bin's images, and the fraction of them that are positive.
        public let meanPredicted, fractionPositive: Double
        public let images: Int
    }

    public let brierScore: Double
    /// Sum over bins of (bin images / images) x |fraction positive - mean predicted|.
    public let expectedCalibrationError: Double
    /// Mean negative log-likelihood of the true class (the loss temperature scaling minimises).
    public let negativeLogLikelihood: Double
    /// The non-empty bins, lowest first.
    public let bins: [Bin]

    public static let defaultBins = 10

    /// `probabilities`: one row per image, one probability per class; `actual`: true class indices.
    public init(probabilities: [[Double]], actual: [Int], positiveClass: Int, bins count: Int = Calibration.defaultBins) {
        precondition(probabilities.count == actual.count && !actual.isEmpty && count >= 1)
        let p = probabilities.map { $0[positiveClass] }, positive = actual.map { $0 == positiveClass }
        brierScore = zip(p, positive).map { probability, isPositive in
            let error = probability - (isPositive ? 1 : 0)
            return error * error
        }.reduce(0, +) / Double(p.count)
        negativeLogLikelihood = zip(probabilities, actual).map { -Self.clampedLog($0[$1]) }.reduce(0, +) / Double(actual.count)
        // numpy's linspace(0, 1, count + 1) inner edges; a value on an edge belongs to the lower bin (searchsorted, left).
        let step = 1.0 / Double(count)
        let inner = (1..<count).map { Double($0) * step }
        var sums = [Double](repeating: 0, count: count), hits = [Int](repeating: 0, count: count), sizes = [Int](repeating: 0, count: count)
        for (value, isPositive) in zip(p, positive) {
            let bin = inner.prefix { $0 < value }.count
            sums[bin] += value
            sizes[bin] += 1
            if isPositive { hits[bin] += 1 }
        }
        bins = (0..<count).filter { sizes[$0] > 0 }.map {
            Bin(meanPredicted: sums[$0] / Double(sizes[$0]), fractionPositive: Double(hits[$0]) / Double(sizes[$0]), images: sizes[$0])
        }
        expectedCalibrationError = bins.map { Double($0.images) * abs($0.fractionPositive - $0.meanPredicted) }.reduce(0, +) / Double(p.count)
    }

    /// log(p), with p = 0 (a float softmax can underflow) taken as the smallest positive float's logarithm.
    static func clampedLog(_ p: Double) -> Double { log(max(p, Double(Float.leastNonzeroMagnitude))) }
}

/// Temperature scaling (Guo et al. 2017): probabilities p become softmax(log p / T). The model's logits are log p
/// up to a per-image constant, which softmax ignores, so the stored probabilities are enough. It never changes which
/// class is most probable, nor the order of P(positive) (so ROC AUC stays), only how confident the model sounds.
public enum TemperatureScaling {
    /// The temperatures `fit` considers.
    public static let range = 0.05...20.0

    public static func apply(_ temperature: Double, to probabilities: [Double]) -> [Double] {
        logSoftmax(probabilities, temperature).map(exp)
    }

    /// Mean negative log-likelihood of the true classes after scaling by `temperature`.
    public static func negativeLogLikelihood(_ temperature: Double, probabilities: [[Double]], actual: [Int]) -> Double {
        zip(probabilities, actual).map { row, label in -logSoftmax(row, temperature)[label] }.reduce(0, +) / Double(actual.count)
    }

    /// log softmax(log p / T), computed from the largest term so that nothing overflows.
    private static func logSoftmax(_ probabilities: [Double], _ temperature: Double) -> [Double] {
        let scaled = probabilities.map { Calibration.clampedLog($0) / temperature }
        let top = scaled.max()!
        let logTotal = top + log(scaled.map { exp($0 - top) }.reduce(0, +))
        return scaled.map { $0 - logTotal }
    }

    /// The temperature in `range` that minimises the mean negative log-likelihood. The loss is convex in 1/T, so a
    /// golden-section search over 1/T finds its minimum.
    public static func fit(probabilities: [[Double]], actual: [Int]) -> Double {
        let loss = { (inverse: Double) in negativeLogLikelihood(1 / inverse, probabilities: probabilities, actual: actual) }
        let ratio = (sqrt(5) - 1) / 2
        var (low, high) = (1 / range.upperBound, 1 / range.lowerBound)
        var (a, b) = (high - ratio * (high - low), low + ratio * (high - low))
        var (lossA, lossB) = (loss(a), loss(b))
        while high - low > 1e-9 {
            if lossA <= lossB {
                (high, b, lossB) = (b, a, lossA)
                a = high - ratio * (high - low)
                lossA = loss(a)
            } else {
                (low, a, lossA) = (a, b, lossB)
                b = low + ratio * (high - low)
                lossB = loss(b)
            }
        }
        return 1 / ((low + high) / 2)
    }
}

extension EvaluationReport {
    /// The calibration lines of the terminal table and the HTML summary.
    var calibrationRows: [(String, Calibration)] {
        [calibration.map { ("calibration (\(Calibration.defaultBins) bins)", $0) },
         calibrationAfterScaling.map { (String(format: "after temperature scaling (T = %.3f)", temperature ?? .nan), $0) }].compactMap { $0 }
    }
}
