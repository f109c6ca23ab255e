import Tensors
/// How an epoch orders the samples.
public enum SampleOrder: String, Codable, Sendable {
    /// Samples in list order every epoch (evaluation).
    case sequential
    /// A fresh permutation per epoch.
    case shuffled
    /// Each class fills an equal share of the epoch's N positions (minority classes repeat, majority classes are
    /// subsampled), cycling through a fresh permutation of each class, then shuffled.
    case classBalanced
}

/// One epoch's sequence of samples with their per-sample keys: a pure function of (seed, epoch, order, labels),
/// never of the rank or world size.
public struct EpochOrder: Sendable, Equatable {
    /// Sample index at each position of the epoch.
    public let sampleIndices: [Int]
    /// Each position's key for augmentation and dropout: mix(seed, epoch, sample index, repeat), where repeat
    /// counts earlier occurrences of the sample in this epoch (only class-balanced epochs repeat samples).
    public let keys: [UInt64]

    private static let orderStream: UInt64 = 0x0D3E_A5ED, keyStream: UInt64 = 0x4B_E75

    public init(_ order: SampleOrder, labels: [Int], classCount: Int, seed: UInt64, epoch: Int) {
        var generator = SplitMix64(seed: StableRandom.mix(seed, Self.orderStream, UInt64(epoch)))
        var indices: [Int]
        var repeats: [Int]
        switch order {
        case .sequential:
            indices = Array(labels.indices)
            repeats = Array(repeating: 0, count: labels.count)
        case .shuffled:
            indices = Array(labels.indices)
            generator.shuffle(&indices)
            repeats = Array(repeating: 0, count: labels.count)
        case .classBalanced:
            (indices, repeats) = Self.balanced(labels: labels, classCount: classCount, generator: &generator)
        }
        sampleIndices = indices
        keys = zip(indices, repeats).map {
            StableRandom.mix(seed, Self.keyStream, UInt64(epoch), UInt64($0), UInt64($1))
        }
    }

    private static func balanced(labels: [Int], classCount: Int,
                                 generator: inout SplitMix64) -> (indices: [Int], repeats: [Int]) {
        var members = Array(repeating: [Int](), count: classCount)
        for (index, label) in labels.enumerated() { members[label].append(index) }
        let present = members.indices.filter { !members[$0].isEmpty }
        var luckyClasses = present
        generator.shuffle(&luckyClasses)
        let share = labels.count / present.count
        var entries: [(index: Int, repeat: Int)] = []
        for label in present {
            let quota = share + (luckyClasses.prefix(labels.count % present.count).contains(label) ? 1 : 0)
            var cycle = 0
            while cycle * members[label].count < quota {
                var permutation = members[label]
                generator.shuffle(&permutation)
                let needed = min(permutation.count, quota - cycle * members[label].count)
                entries += permutation.prefix(needed).map { ($0, cycle) }
                cycle += 1
            }
        }
        generator.shuffle(&entries)
        return (entries.map(\.index), entries.map(\.repeat))
    }
}
