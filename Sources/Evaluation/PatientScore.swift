/// BreakHis' patient-level accuracy ("patient score", Spanhol et al. 2016): for each patient, the fraction of
/// that patient's images classified correctly; then the mean over patients. Every patient counts once,
/// however many images they have.
public func patientLevelAccuracy(patients: [String], correct: [Bool]) -> Double {
    precondition(patients.count == correct.count, "\(patients.count) patient ids for \(correct.count) results")
    var tallies: [String: (correct: Int, total: Int)] = [:]
    for (patient, isCorrect) in zip(patients, correct) {
        tallies[patient, default: (0, 0)].total += 1
        if isCorrect { tallies[patient, default: (0, 0)].correct += 1 }
    }
    guard !tallies.isEmpty else { return 0 }
    return tallies.values.reduce(0.0) { $0 + Double($1.correct) / Double($1.total) } / Double(tallies.count)
}

/// Each patient's mean P(positive) over their images, and whether the patient is positive, for a patient-level ROC.
/// A patient whose images carry both classes has no single truth and is left out.
public func patientScores(patients: [String], positive: [Bool], scores: [Double]) -> (positive: [Bool], scores: [Double]) {
    precondition(patients.count == positive.count && patients.count == scores.count)
    var tallies: [String: (positives: Int, sum: Double, count: Int)] = [:]
    for (patient, (isPositive, score)) in zip(patients, zip(positive, scores)) {
        tallies[patient, default: (0, 0, 0)].positives += isPositive ? 1 : 0
        tallies[patient, default: (0, 0, 0)].sum += score
        tallies[patient, default: (0, 0, 0)].count += 1
    }
    let whole = tallies.sorted { $0.key < $1.key }.map(\.value).filter { $0.positives == 0 || $0.positives == $0.count }
    return (whole.map { $0.positives > 0 }, whole.map { $0.sum / Double($0.count) })
}
