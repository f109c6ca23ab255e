/// A receiver operating characteristic curve exactly as scikit-learn's `roc_curve(y, score)` returns it
/// (`drop_intermediate=True`): thresholds are the distinct scores in decreasing order, preceded by +infinity;
/// points on a straight segment are dropped.
public struct ROCCurve: Equatable, Sendable {
    public let falsePositiveRates: [Double]
    public let truePositiveRates: [Double]
    public let thresholds: [Double]

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case singleClass(present: Int)
        public var description: String {
            switch self {
            case .singleClass(let present):
                "ROC/AUC is undefined: every sample has label \(present) (both classes are needed)"
            }
        }
    }

    /// `positive[i]` says whether sample i belongs to the positive class; `scores[i]` is its score for it.
    public init(positive: [Bool], scores: [Double]) throws {
        precondition(positive.count == scores.count, "\(positive.count) labels for \(scores.count) scores")
        let positives = positive.filter { $0 }.count
        guard positives > 0, positives < positive.count else { throw Failure.singleClass(present: positives > 0 ? 1 : 0) }
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        // Cumulative true and false positives at the last index of each distinct score.
        var truePositives: [Double] = [], falsePositives: [Double] = [], thresholds: [Double] = []
        var tp = 0.0, fp = 0.0
        for (rank, index) in order.enumerated() {
            if positive[index] { tp += 1 } else { fp += 1 }
            if rank == order.count - 1 || scores[order[rank + 1]] != scores[index] {
                truePositives.append(tp); falsePositives.append(fp); thresholds.append(scores[index])
            }
        }
        // Keep the ends and every point where the curve bends (a non-zero second difference).
        var kept = [0]
        if truePositives.count > 2 {
            for i in 1..<(truePositives.count - 1)
            where falsePositives[i + 1] - 2 * falsePositives[i] + falsePositives[i - 1] != 0
                || truePositives[i + 1] - 2 * truePositives[i] + truePositives[i - 1] != 0 {
                kept.append(i)
            }
        }
        if truePositives.count > 1 { kept.append(truePositives.count - 1) }
        truePositiveRates = [0] + kept.map { truePositives[$0] / tp }
        falsePositiveRates = [0] + kept.map { falsePositives[$0] / fp }
        self.thresholds = [.infinity] + kept.map { thresholds[$0] }
    }

    /// Area under the curve by the trapezoidal rule (scikit-learn's `roc_auc_score` for binary labels).
    public var area: Double {
        var total = 0.0
        for i in 1..<falsePositiveRates.count {
            let width = falsePositiveRates[i] - falsePositiveRates[i - 1]
            total += width * (truePositiveRates[i] + truePositiveRates[i - 1]) / 2
        }
        return total
    }
}
