public enum ClassWeightError: Error, CustomStringConvertible, Equatable {
    case classWithoutSamples(className: String)
    case labelOutOfRange(label: Int, classCount: Int)

    public var description: String {
        switch self {
        case .classWithoutSamples(let name):
            return "class '\(name)' has no training samples, so a balanced weight for it is undefined"
        case .labelOutOfRange(let label, let classCount): return "label \(label) is outside 0..<\(classCount)"
        }
    }
}

/// scikit-learn's `compute_class_weight('balanced')`: n_samples / (n_classes * count_c), so every class
/// contributes the same total weight. Like sklearn, a class without samples is an error.
public func balancedClassWeights(labels: [Int], classNames: [String]) throws -> [Double] {
    var counts = Array(repeating: 0, count: classNames.count)
    for label in labels {
        guard counts.indices.contains(label) else {
            throw ClassWeightError.labelOutOfRange(label: label, classCount: classNames.count)
        }
        counts[label] += 1
    }
    if let empty = counts.firstIndex(of: 0) { throw ClassWeightError.classWithoutSamples(className: classNames[empty]) }
    return counts.map { Double(labels.count) / (Double(classNames.count) * Double($0)) }
}
