import Foundation

/// A run's split as stored beside its checkpoints (`split.json`): each part's files, relative to the dataset root
/// and in the part's order, with a digest of each list. A run trains and is evaluated on this split for its whole
/// life: files added to the folder later are not part of it, and no patient ever moves between parts.
public struct SplitRecord: Codable, Equatable, Sendable {
    public let classNames: [String]
    /// How the split was made; absent in records written before it was kept.
    public let grouping: SplitGrouping?
    /// Part name -> file paths relative to the dataset root (absolute in records written before relative paths).
    public let parts: [String: [String]]
    /// Part name -> `digest(of:)` its list; absent in records written before digests were kept.
    public let digests: [String: String]?

    public init(split: DatasetSplit, of dataset: Dataset) {
        classNames = dataset.classNames
        grouping = split.grouping
        parts = Dictionary(uniqueKeysWithValues: split.parts.map { part in
            (part.name, part.indices.map { dataset.relativePath(of: dataset.samples[$0]) })
        })
        digests = parts.mapValues(Self.digest)
    }

    /// 16 hex digits of FNV-1a over the paths, each ended by a newline: two lists have the same digest only if
    /// they hold the same files in the same order.
    public static func digest(_ paths: [String]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in paths.lazy.flatMap({ $0.utf8 + [10] }) { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    public static func read(_ url: URL) throws -> SplitRecord {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw SplitRecordError.unreadable(url.path) }
        do { return try JSONDecoder().decode(SplitRecord.self, from: data) } catch {
            throw SplitRecordError.malformed(url.path, "\(error)")
        }
    }

    public func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(self).write(to: url, options: .atomic)
    }

    /// What a folder holds compared with the stored split.
    public struct Comparison: Sendable {
        /// The split with every stored file found in the dataset (missing ones dropped only when asked).
        public let split: DatasetSplit
        /// Stored files the folder no longer has, by part.
        public let missing: [String: [String]]
        /// Files of the folder that are in no part of the stored split.
        public let added: [String]
    }

    /// The stored split's parts as indices into `dataset` (the folder as it is now), in the stored order. Files of
    /// the split that are gone are an error naming them, unless `dropMissing` is set; new files are left out and
    /// counted. `source` names the record in errors.
    public func resolve(in dataset: Dataset, source: String, dropMissing: Bool = false) throws -> Comparison {
        guard dataset.classNames == classNames else {
            throw SplitRecordError.classesDiffer(source, stored: classNames, found: dataset.classNames)
        }
        var index: [String: Int] = [:]
        for (position, sample) in dataset.samples.enumerated() { index[dataset.relativePath(of: sample)] = position }
        // Records of older versions hold absolute paths.
        for (position, sample) in dataset.samples.enumerated() { index[sample.path] = index[sample.path] ?? position }
        var resolved: [SplitPart] = [], missing: [String: [String]] = [:], used = Set<Int>()
        for name in parts.keys.sorted(by: Self.partOrder) {
            let files = parts[name]!
            if let expected = digests?[name], Self.digest(files) != expected {
                throw SplitRecordError.tampered(source, part: name)
            }
            let found = files.map { index[$0] }
            let gone = zip(files, found).filter { $0.1 == nil }.map(\.0)
            if !gone.isEmpty { missing[name] = gone }
            let indices = found.compactMap { $0 }
            used.formUnion(indices)
            resolved.append(SplitPart(name: name, indices: indices))
        }
        if !missing.isEmpty && !dropMissing {
            throw SplitRecordError.missingFiles(source, root: dataset.root.path, missing: missing)
        }
        let added = dataset.samples.indices.filter { !used.contains($0) }.map { dataset.relativePath(of: dataset.samples[$0]) }
        let split = try DatasetSplit(parts: resolved, grouping: grouping ?? .file, dataset: dataset)
        return Comparison(split: split, missing: missing, added: added)
    }

    /// train, validation, test first, then any other part by name.
    private static func partOrder(_ a: String, _ b: String) -> Bool {
        let order = Dataset.splitFolderNames
        return (order.firstIndex(of: a) ?? order.count, a) < (order.firstIndex(of: b) ?? order.count, b)
    }
}

public enum SplitRecordError: Error, CustomStringConvertible, Equatable {
    case unreadable(String)
    case malformed(String, String)
    case classesDiffer(String, stored: [String], found: [String])
    case tampered(String, part: String)
    case missingFiles(String, root: String, missing: [String: [String]])

    public var description: String {
        switch self {
        case .unreadable(let path): return "\(path): cannot read the run's split"
        case .malformed(let path, let reason): return "\(path): not a split record (\(reason))"
        case .classesDiffer(let path, let stored, let found):
            return "\(path): the run's split has classes \(stored), the data folder now has \(found)"
        case .tampered(let path, let part):
            return "\(path): the file list of part '\(part)' does not match its digest (the file was edited)"
        case .missingFiles(let path, let root, let missing):
            let count = missing.values.reduce(0) { $0 + $1.count }
            let examples = missing.keys.sorted().flatMap { part in missing[part]!.map { "\($0) (\(part))" } }
            return "\(count) file\(count == 1 ? "" : "s") of the run's split (\(path)) \(count == 1 ? "is" : "are") no longer in \(root): "
                + examples.prefix(5).joined(separator: ", ") + (count > 5 ? ", ..." : "")
        }
    }
}

extension Dataset {
    /// A sample's path relative to the dataset root ("benign/x.png"), as split records store it.
    public func relativePath(of sample: Sample) -> String {
        let prefix = root.path.hasSuffix("/") ? root.path : root.path + "/"
        return sample.path.hasPrefix(prefix) ? String(sample.path.dropFirst(prefix.count)) : sample.path
    }
}
