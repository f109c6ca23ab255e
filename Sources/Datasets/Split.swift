import Foundation
import Tensors

/// One named part of a split: indices into `Dataset.samples`.
public struct SplitPart: Sendable, Equatable {
    public let name: String
    public let indices: [Int]
    public init(name: String, indices: [Int]) { (self.name, self.indices) = (name, indices) }
}

/// What a split keeps together.
public enum SplitGrouping: Sendable, Equatable, Codable {
    /// No patient appears in two parts.
    case patient
    /// The file names carry no patient ids, so each image is its own group.
    case file
    /// Images drawn independently: a patient's images land in several parts (leaky, optimistic accuracy).
    case randomImage
    /// A BreakHis official fold file (`dsfold<n>.txt`).
    case officialFold(Int)
    /// Split folders on disk (`train/`, `validation/`, `test/`).
    case predefined
}

public enum SplitError: Error, CustomStringConvertible, Equatable {
    case badFractions(String)
    case tooFewGroups(className: String, groups: Int, kind: String, parts: Int)
    case emptyClass(part: String, className: String)
    case noPredefinedSplits(String)
    case foldFile(path: String, line: Int, message: String)
    case missingFromFoldFile(foldFile: String, samplePath: String, missing: Int)

    public var description: String {
        switch self {
        case .badFractions(let message): return "split fractions: \(message)"
        case .tooFewGroups(let className, let groups, let kind, let parts):
            return "class '\(className)' has \(groups) \(kind), too few to give each of the \(parts) splits one"
        case .emptyClass(let part, let className):
            return "split '\(part)' would have no images of class '\(className)'"
        case .noPredefinedSplits(let root):
            return "\(root): not a pre-split dataset (no train/validation/test folders)"
        case .foldFile(let path, let line, let message): return "\(path):\(line): \(message)"
        case .missingFromFoldFile(let foldFile, let samplePath, let missing):
            return "\(foldFile) does not list \(samplePath)\(missing > 1 ? " (and \(missing - 1) more images)" : "")"
        }
    }
}

/// A dataset divided into named parts.
public struct DatasetSplit: Sendable {
    public let parts: [SplitPart]
    public let grouping: SplitGrouping

    /// The indices of the part with this name.
    public subscript(name: String) -> [Int]? { parts.first { $0.name == name }?.indices }

    /// The samples of the part with this name, e.g. for a `Loader`.
    public func samples(_ name: String, of dataset: Dataset) -> [Sample]? {
        self[name].map { $0.map { dataset.samples[$0] } }
    }

    /// Refuses a split that leaves any class without images in any part.
    init(parts: [SplitPart], grouping: SplitGrouping, dataset: Dataset) throws {
        (self.parts, self.grouping) = (parts, grouping)
        for part in parts {
            let present = Set(part.indices.map { dataset.samples[$0].label })
            if let missing = dataset.classNames.indices.first(where: { !present.contains($0) }) {
                throw SplitError.emptyClass(part: part.name, className: dataset.classNames[missing])
            }
        }
    }
}

extension Dataset {
    public static let standardFractions: [(name: String, fraction: Double)] =
        [("train", 0.7), ("validation", 0.15), ("test", 0.15)]

    /// Stratified by class and, by default, grouped by patient (by file when names carry no patient ids).
    /// `keepPatientsTogether: false` draws images independently: leaky, and the summary says so.
    public func split(_ fractions: [(name: String, fraction: Double)] = Dataset.standardFractions,
                      seed: UInt64, keepPatientsTogether: Bool = true) throws -> DatasetSplit {
        let grouping: SplitGrouping = !keepPatientsTogether ? .randomImage : hasPatientIDs ? .patient : .file
        let parts = try divide(Array(samples.indices), fractions, seed: seed, grouping: grouping)
        return try DatasetSplit(parts: parts, grouping: grouping, dataset: self)
    }

    /// The grouped, stratified division of some samples (`grouping` is .patient, .file or .randomImage).
    fileprivate func divide(_ subset: [Int], _ fractions: [(name: String, fraction: Double)], seed: UInt64,
                            grouping: SplitGrouping) throws -> [SplitPart] {
        let total = fractions.reduce(0) { $0 + $1.fraction }
        guard !fractions.isEmpty, fractions.allSatisfy({ $0.fraction > 0 }), abs(total - 1) < 1e-9 else {
            throw SplitError.badFractions("need positive fractions summing to 1, got "
                                          + fractions.map { "\($0.name) \($0.fraction)" }.joined(separator: ", "))
        }
        guard Set(fractions.map(\.name)).count == fractions.count else {
            throw SplitError.badFractions("split names repeat: \(fractions.map(\.name))")
        }
        var members = Array(repeating: [Int](), count: fractions.count)

        // Each group is stratified by its most frequent class (patients normally have one class).
        var groups: [String: [Int]] = [:]
        for index in subset {
            groups[grouping == .randomImage ? "\(index)" : samples[index].group, default: []].append(index)
        }
        var groupsByClass = Array(repeating: [[Int]](), count: classNames.count)
        for key in groups.keys.sorted() {
            let indices = groups[key]!
            var counts = Array(repeating: 0, count: classNames.count)
            for index in indices { counts[samples[index].label] += 1 }
            groupsByClass[counts.firstIndex(of: counts.max()!)!].append(indices)
        }

        for (label, var classGroups) in groupsByClass.enumerated() {
            var generator = SplitMix64(seed: StableRandom.mix(seed, 0x5B17, UInt64(label)))
            generator.shuffle(&classGroups)
            guard classGroups.count >= fractions.count else {
                throw SplitError.tooFewGroups(className: classNames[label], groups: classGroups.count,
                                              kind: grouping == .patient ? "patients" : "images", parts: fractions.count)
            }
            let imageCount = Double(classGroups.reduce(0) { $0 + $1.count })
            var assigned = Array(repeating: 0, count: fractions.count)
            var groupCounts = Array(repeating: 0, count: fractions.count)
            for (position, group) in classGroups.enumerated() {
                // Greedy on the image deficit, except that the last groups go to parts that still have none.
                let empty = fractions.indices.filter { groupCounts[$0] == 0 }
                let candidates = empty.count >= classGroups.count - position ? empty : Array(fractions.indices)
                let deficit = { (part: Int) in fractions[part].fraction * imageCount - Double(assigned[part]) }
                let part = candidates.max { deficit($0) < deficit($1) || (deficit($0) == deficit($1) && $0 > $1) }!
                members[part] += group
                assigned[part] += group.count
                groupCounts[part] += 1
            }
        }
        return zip(fractions, members).map { SplitPart(name: $0.name, indices: $1.sorted()) }
    }

    /// The split folders of a pre-split layout.
    public func predefinedSplit() throws -> DatasetSplit {
        guard !predefinedSplits.isEmpty else { throw SplitError.noPredefinedSplits(root.path) }
        return try DatasetSplit(parts: predefinedSplits, grouping: .predefined, dataset: self)
    }

    /// A BreakHis official fold file: lines `<file name>|<magnification>|<fold>|<train|test>`. Every image of
    /// the dataset must be listed; listed files absent from the dataset (other magnifications) are ignored.
    public func officialFoldSplit(foldFile: URL) throws -> DatasetSplit {
        let text: String
        do { text = try String(contentsOf: foldFile, encoding: .utf8) } catch {
            throw SplitError.foldFile(path: foldFile.path, line: 0, message: "cannot read: \(error.localizedDescription)")
        }
        var partOf: [String: String] = [:]
        var fold: Int?
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            func fail(_ message: String) -> SplitError {
                SplitError.foldFile(path: foldFile.path, line: number + 1, message: message)
            }
            let fields = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 4 else { throw fail("expected <file>|<magnification>|<fold>|<train|test>, got '\(line)'") }
            let name: BreakHisName
            do { name = try BreakHisName(parsing: fields[0]) } catch { throw fail("\(error)") }
            guard Int(fields[1]) == name.magnification.rawValue else {
                throw fail("magnification \(fields[1]) disagrees with the file name \(fields[0])")
            }
            guard let lineFold = Int(fields[2]), fold == nil || fold == lineFold else {
                throw fail("fold '\(fields[2])' is not a number or differs from earlier lines (\(fold ?? 0))")
            }
            fold = lineFold
            guard fields[3] == "train" || fields[3] == "test" else { throw fail("'\(fields[3])' is neither train nor test") }
            guard partOf.updateValue(fields[3], forKey: fields[0]) == nil else { throw fail("\(fields[0]) is listed twice") }
        }
        guard let fold else { throw SplitError.foldFile(path: foldFile.path, line: 0, message: "no entries") }
        let names = samples.map { URL(fileURLWithPath: $0.path).lastPathComponent }
        let unlisted = samples.indices.filter { partOf[names[$0]] == nil }
        if let first = unlisted.first {
            throw SplitError.missingFromFoldFile(foldFile: foldFile.path, samplePath: samples[first].path,
                                                 missing: unlisted.count)
        }
        let parts = ["train", "test"].map { part in
            SplitPart(name: part, indices: samples.indices.filter { partOf[names[$0]] == part })
        }
        return try DatasetSplit(parts: parts, grouping: .officialFold(fold), dataset: self)
    }
}

extension DatasetSplit {
    /// Divides one part further by the same rules, e.g. a validation set out of an official fold's training part:
    /// `split.dividing("train", into: [("train", 0.8), ("validation", 0.2)], ...)`. The other parts stay as they are.
    public func dividing(_ name: String, into fractions: [(name: String, fraction: Double)], seed: UInt64,
                         keepPatientsTogether: Bool = true, of dataset: Dataset) throws -> DatasetSplit {
        guard let position = parts.firstIndex(where: { $0.name == name }) else {
            throw SplitError.badFractions("no split part named '\(name)' (parts: \(parts.map(\.name)))")
        }
        let kept = parts.enumerated().filter { $0.offset != position }.map(\.element.name)
        if let clash = fractions.first(where: { kept.contains($0.name) }) {
            throw SplitError.badFractions("'\(clash.name)' is already a split part")
        }
        let subgrouping: SplitGrouping = !keepPatientsTogether ? .randomImage : dataset.hasPatientIDs ? .patient : .file
        let pieces = try dataset.divide(parts[position].indices, fractions, seed: seed, grouping: subgrouping)
        return try DatasetSplit(parts: parts[..<position] + pieces + parts[(position + 1)...],
                                grouping: keepPatientsTogether ? grouping : .randomImage, dataset: dataset)
    }
}
