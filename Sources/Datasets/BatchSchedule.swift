/// The step, rank and position arithmetic of data-parallel epochs, independent of the number of ranks:
/// step `s` covers positions [s*B, min((s+1)*B, N)) of the epoch order; that global batch is cut into `W`
/// contiguous pieces as evenly as possible (the first `n % W` ranks get one extra), so a rank may get no
/// samples in the last step, but every rank runs the same number of steps.
public struct BatchSchedule: Sendable, Equatable {
    public let sampleCount: Int
    public let globalBatchSize: Int
    public let worldSize: Int
    /// Drop the last, partial global batch.
    public let dropRemainder: Bool

    public init(sampleCount: Int, globalBatchSize: Int, worldSize: Int, dropRemainder: Bool = false) throws {
        guard globalBatchSize > 0, worldSize > 0 else {
            throw BatchScheduleError.invalid("global batch size \(globalBatchSize) and world size \(worldSize) must be positive")
        }
        guard sampleCount > 0, !(dropRemainder && sampleCount < globalBatchSize) else {
            throw BatchScheduleError.invalid("\(sampleCount) samples make no \(dropRemainder ? "full " : "")batch of \(globalBatchSize)")
        }
        (self.sampleCount, self.globalBatchSize, self.worldSize) = (sampleCount, globalBatchSize, worldSize)
        self.dropRemainder = dropRemainder
    }

    public var stepsPerEpoch: Int {
        dropRemainder ? sampleCount / globalBatchSize : (sampleCount + globalBatchSize - 1) / globalBatchSize
    }

    /// Positions in the epoch order covered by a step, over all ranks.
    public func globalPositions(step: Int) -> Range<Int> {
        precondition(step >= 0 && step < stepsPerEpoch, "step \(step) outside 0..<\(stepsPerEpoch)")
        return (step * globalBatchSize)..<min((step + 1) * globalBatchSize, sampleCount)
    }

    /// This rank's contiguous piece of the step's global batch (possibly empty).
    public func positions(step: Int, rank: Int) -> Range<Int> {
        precondition(rank >= 0 && rank < worldSize, "rank \(rank) outside 0..<\(worldSize)")
        let global = globalPositions(step: step)
        let base = global.count / worldSize, extra = global.count % worldSize
        let start = global.lowerBound + rank * base + min(rank, extra)
        return start..<(start + base + (rank < extra ? 1 : 0))
    }
}

public enum BatchScheduleError: Error, CustomStringConvertible, Equatable {
    case invalid(String)
    public var description: String { switch self { case .invalid(let message): return "batch schedule: \(message)" } }
}
