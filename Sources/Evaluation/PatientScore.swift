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
