import Foundation

extension EvaluationReport {
    /// The report as a plain-text table for the terminal.
    public var terminalTable: String {
        func percent(_ value: Double?) -> String { value.map { String(format: "%6.2f%%", $0 * 100) } ?? "   n/a " }
        var lines = [
            "images: \(images)   patients: \(patients)   threshold: \(threshold)",
            "accuracy (image level):   \(percent(accuracy))",
            "accuracy (patient level): \(percent(patientLevelAccuracy))",
            "ROC AUC (\(classNames[positiveClass])): " + (auc.map { String(format: "%.4f", $0) } ?? "undefined: \(aucNote ?? "")"),
            "ROC AUC over patients (mean P per patient): " + (patientAUC.map { String(format: "%.4f", $0) } ?? "n/a"),
        ]
        for (name, value) in calibrationRows {
            lines.append(name + ": " + String(format: "Brier %.4f   ECE %.4f   NLL %.4f", value.brierScore,
                                              value.expectedCalibrationError, value.negativeLogLikelihood))
        }
        lines += [
            "",
            "class".padding(toLength: 14, withPad: " ", startingAt: 0)
                + " precision   recall  specificity       F1  support",
        ]
        for name in classNames {
            let s = classScores[name]!
            lines.append(name.padding(toLength: 14, withPad: " ", startingAt: 0)
                + "   \(percent(s.precision))  \(percent(s.recall))      \(percent(s.specificity))  \(percent(s.f1))  "
                + String(format: "%7d", s.support))
        }
        lines += ["", "confusion matrix (rows: actual, columns: predicted)"]
        let width = max(10, classNames.map(\.count).max()! + 2)
        lines.append(String(repeating: " ", count: width) + classNames.map { $0.leftPadded(width) }.joined())
        for (row, name) in classNames.enumerated() {
            lines.append(name.padding(toLength: width, withPad: " ", startingAt: 0)
                         + confusionMatrix[row].map { "\($0)".leftPadded(width) }.joined())
        }
        if !perMagnification.isEmpty {
            lines += ["", "magnification   images   accuracy   patient-level      AUC"]
            for (name, subset) in perMagnification.sorted(by: { Int($0.key.dropLast())! < Int($1.key.dropLast())! }) {
                lines.append(name.leftPadded(13) + String(format: "%9d", subset.images) + "    " + percent(subset.accuracy)
                             + "         " + percent(subset.patientLevelAccuracy) + "   "
                             + (subset.auc.map { String(format: "%.4f", $0) } ?? "   n/a"))
            }
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
