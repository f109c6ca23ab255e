/// Counts of (true class, predicted class) pairs: `counts[actual][predicted]`, as scikit-learn's
/// `confusion_matrix(y_true, y_pred)`.
public struct ConfusionMatrix: Equatable, Sendable {
    public let classes: Int
    public private(set) var counts: [[Int]]

    public init(actual: [Int], predicted: [Int], classes: Int) {
        precondition(actual.count == predicted.count, "\(actual.count) labels for \(predicted.count) predictions")
        self.classes = classes
        counts = Array(repeating: Array(repeating: 0, count: classes), count: classes)
        for (truth, guess) in zip(actual, predicted) { counts[truth][guess] += 1 }
    }

    public var total: Int { counts.joined().reduce(0, +) }
    public var correct: Int { (0..<classes).reduce(0) { $0 + counts[$1][$1] } }
    /// Fraction of all samples predicted correctly (0 when there are none).
    public var accuracy: Double { total == 0 ? 0 : Double(correct) / Double(total) }

    /// Precision, recall, F1 and support of one class, treating it as the positive class.
    /// An undefined ratio (0/0) is 0, as scikit-learn's default `zero_division` reports it.
    public func scores(of positive: Int) -> ClassScores {
        let truePositives = counts[positive][positive]
        let predictedPositive = (0..<classes).reduce(0) { $0 + counts[$1][positive] }
        let actualPositive = counts[positive].reduce(0, +)
        let actualNegative = total - actualPositive
        let trueNegatives = actualNegative - (predictedPositive - truePositives)
        let precision = ratio(truePositives, predictedPositive), recall = ratio(truePositives, actualPositive)
        return ClassScores(precision: precision, recall: recall,
                           f1: precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall),
                           specificity: ratio(trueNegatives, actualNegative), support: actualPositive)
    }

    private func ratio(_ numerator: Int, _ denominator: Int) -> Double {
        denominator == 0 ? 0 : Double(numerator) / Double(denominator)
    }
}

/// Per-class scores: recall is sensitivity; specificity is the recall of "not this class".
public struct ClassScores: Equatable, Sendable, Codable {
    public let precision, recall, f1, specificity: Double
    public let support: Int
}
