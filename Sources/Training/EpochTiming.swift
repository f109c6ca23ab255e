import Tensors

/// Where one epoch's training time went on this rank: the step rate, and per step the time spent waiting in
/// allreduces (which includes waiting for slower ranks; for gradients, the wait after backward for the buckets still in
/// flight) and for the data loader, as the stall watchdog measured it.
/// `timing: 30 steps in 33.0 s, 14.5 images/s; per step 1.100 s, of which 0.120 s in allreduces (gradients 0.080,
/// batch norm 0.030, metrics and step agreement 0.010), 0.002 s waiting for data; peak memory 3.1 GiB (tensors 2.2 GiB)`
/// (the peak resident memory of this rank's process so far, when given, and of it the most its tensors held at once).
public struct EpochTiming: CustomStringConvertible {
    public let steps: Int
    public let images: Int
    public let seconds: Double
    public let waited: [StallPoint: Double]
    public let peakMemoryBytes: Int?
    public let peakTensorBytes: Int?

    public init(steps: Int, images: Int, seconds: Double, waited: [StallPoint: Double], peakMemoryBytes: Int? = nil,
                peakTensorBytes: Int? = nil) {
        (self.steps, self.images, self.seconds, self.waited) = (steps, images, seconds, waited)
        (self.peakMemoryBytes, self.peakTensorBytes) = (peakMemoryBytes, peakTensorBytes)
    }

    public var description: String {
        let perStep = { (points: [StallPoint]) in points.reduce(0) { $0 + (waited[$1] ?? 0) } / Double(max(steps, 1)) }
        let gradients = perStep([.gradients]), batchNorm = perStep([.batchNormStatistics])
        let small = perStep([.metrics, .stepAgreement]), data = perStep([.trainingBatch])
        let checkpoints = perStep([.checkpointWrite])
        let f = { (value: Double) in String(format: "%.3f", value) }
        return String(format: "timing: %d steps in %.1f s, %.1f images/s; ", steps, seconds, Double(images) / max(seconds, 1e-9))
            + "per step \(f(seconds / Double(max(steps, 1)))) s, of which \(f(gradients + batchNorm + small)) s in allreduces "
            + "(gradients \(f(gradients)), batch norm \(f(batchNorm)), metrics and step agreement \(f(small))), "
            + "\(f(data)) s waiting for data" + (checkpoints > 0 ? ", \(f(checkpoints)) s in checkpoint writes" : "")
            + (peakMemoryBytes.map { "; peak memory \(MachineMemory.describe(Double($0)))"
                + (peakTensorBytes.map { " (tensors \(MachineMemory.describe(Double($0))))" } ?? "") } ?? "")
    }
}
