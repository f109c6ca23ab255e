import Foundation

/// One image of a dataset.
public struct Sample: Hashable, Sendable {
    /// Absolute file path.
    public let path: String
    /// Position of the class in `Dataset.classNames`.
    public let label: Int
    /// What the file name says, when it is a BreakHis name.
    public let breakHis: BreakHisName?

    public init(path: String, label: Int, breakHis: BreakHisName? = nil) {
        (self.path, self.label, self.breakHis) = (path, label, breakHis)
    }

    /// The unit a split must keep whole: the patient when the name says it, else the file itself.
    public var group: String { breakHis.map { "patient \($0.patient)" } ?? path }
}

/// How the images are arranged on disk.
public enum DatasetLayout: String, Sendable {
    /// `root/<class>/**.png`, as Keras' `flow_from_directory` reads it.
    case classFolders = "class folders"
    /// `root/{train,validation,test}/<class>/**.png`.
    case preSplit = "pre-split class folders"
    /// The original `BreaKHis_v1/histology_slides/breast/{benign,malignant}/SOB/<subtype>/<patient>/<mag>X/*.png`.
    case breakHisTree = "BreakHis tree"
}

public struct DatasetOptions: Sendable {
    /// Keep only images of this magnification (needs BreakHis file names).
    public var magnification: Magnification?
    /// Skip files whose names are not BreakHis names (counted in `Dataset.skippedFiles`) instead of failing.
    public var skipUnparseable: Bool

    public init(magnification: Magnification? = nil, skipUnparseable: Bool = false) {
        (self.magnification, self.skipUnparseable) = (magnification, skipUnparseable)
    }
}

public enum DatasetError: Error, CustomStringConvertible, Equatable {
    case missingFolder(String)
    case noClassFolders(String)
    case emptyClassFolders([String])
    case noImages(path: String, filter: String)
    case unparseableName(path: String, reason: String)
    case classMismatch(path: String, folder: String)
    case splitClassesDiffer(split: String, classes: [String], expected: [String])
    case magnificationNeedsBreakHisNames(path: String)
    case unreadableFolder(path: String, message: String)

    public var description: String {
        switch self {
        case .missingFolder(let path): return "\(path): no such folder"
        case .noClassFolders(let path): return "\(path): no class folders inside (expected <class>/*.png)"
        case .emptyClassFolders(let paths):
            return "class folder\(paths.count > 1 ? "s" : "") without PNG images: \(paths.joined(separator: ", "))"
        case .noImages(let path, let filter): return "\(path): no PNG images found\(filter)"
        case .unparseableName(let path, let reason):
            return "\(path): not a BreakHis file name (\(reason)); pass skipUnparseable to skip such files"
        case .classMismatch(let path, let folder):
            return "\(path): the file name's class disagrees with its folder '\(folder)'"
        case .splitClassesDiffer(let split, let classes, let expected):
            return "split folder '\(split)' has classes \(classes), other split folders have \(expected)"
        case .magnificationNeedsBreakHisNames(let path):
            return "\(path): a magnification filter needs BreakHis file names, and this is not one"
        case .unreadableFolder(let path, let message): return "\(path): cannot list folder: \(message)"
        }
    }
}

/// The images of a dataset folder, with class names in Keras' order (sorted folder names; index = position).
public struct Dataset: Sendable {
    public let root: URL
    public let layout: DatasetLayout
    public let classNames: [String]
    /// Ordered by split folder (pre-split layout), class, then as Keras lists files (folder path, then file name).
    public let samples: [Sample]
    /// Pre-split layouts only: each split folder's sample indices, in train, validation, test order.
    public let predefinedSplits: [SplitPart]
    /// Files skipped because their names are not BreakHis names (only with `skipUnparseable`).
    public let skippedFiles: [String]

    /// True when every file name carries a patient id, so splits can keep patients whole.
    public var hasPatientIDs: Bool { !samples.isEmpty && samples.allSatisfy { $0.breakHis != nil } }

    public static let splitFolderNames = ["train", "validation", "test"]

    public init(classNames: [String], samples: [Sample], root: URL = URL(fileURLWithPath: "/"),
                layout: DatasetLayout = .classFolders, predefinedSplits: [SplitPart] = [],
                skippedFiles: [String] = []) {
        (self.root, self.layout, self.classNames, self.samples) = (root, layout, classNames, samples)
        (self.predefinedSplits, self.skippedFiles) = (predefinedSplits, skippedFiles)
    }

    /// Reads `root` in whichever of the three layouts it has.
    public init(root: URL, options: DatasetOptions = .init()) throws {
        let root = root.standardizedFileURL
        guard isFolder(root) else { throw DatasetError.missingFolder(root.path) }
        if let breast = breakHisBreastFolder(root) {
            self = try Self.readBreakHisTree(root: root, breast: breast, options: options)
            return
        }
        let folders = try subfolders(of: root)
        if !folders.isEmpty, folders.allSatisfy({ Self.splitFolderNames.contains($0.lastPathComponent) }) {
            self = try Self.readPreSplit(root: root, splitFolders: folders, options: options)
        } else {
            let (classNames, files) = try classFolderFiles(root)
            let (samples, skipped) = try makeSamples(files, options: options, requireBreakHisNames: false)
            try requireEveryClass(classNames, in: samples, root: root, options: options)
            self.init(classNames: classNames, samples: samples, root: root, layout: .classFolders,
                      skippedFiles: skipped)
        }
    }

    private static func readPreSplit(root: URL, splitFolders: [URL], options: DatasetOptions) throws -> Dataset {
        let ordered = Self.splitFolderNames.compactMap { name in splitFolders.first { $0.lastPathComponent == name } }
        var classNames: [String]?
        var files: [(path: String, label: Int)] = []
        var splitOf: [String: String] = [:]
        for folder in ordered {
            let (names, splitFiles) = try classFolderFiles(folder)
            if let expected = classNames, expected != names {
                throw DatasetError.splitClassesDiffer(split: folder.lastPathComponent, classes: names, expected: expected)
            }
            classNames = names
            files += splitFiles
            for file in splitFiles { splitOf[file.path] = folder.lastPathComponent }
        }
        let (samples, skipped) = try makeSamples(files, options: options, requireBreakHisNames: false)
        var splits: [SplitPart] = []
        for folder in ordered {
            let name = folder.lastPathComponent
            let indices = samples.indices.filter { splitOf[samples[$0].path] == name }
            try requireEveryClass(classNames!, in: indices.map { samples[$0] }, root: folder, options: options)
            splits.append(SplitPart(name: name, indices: indices))
        }
        return Dataset(classNames: classNames!, samples: samples, root: root, layout: .preSplit,
                       predefinedSplits: splits, skippedFiles: skipped)
    }

    private static func readBreakHisTree(root: URL, breast: URL, options: DatasetOptions) throws -> Dataset {
        let classNames = ["benign", "malignant"]
        var files: [(path: String, label: Int)] = []
        for (label, name) in classNames.enumerated() {
            let folder = breast.appendingPathComponent(name).appendingPathComponent("SOB")
            guard isFolder(folder) else { throw DatasetError.missingFolder(folder.path) }
            files += try pngFiles(under: folder).map { ($0, label) }
        }
        let (samples, skipped) = try makeSamples(files, options: options, requireBreakHisNames: true)
        for sample in samples where sample.breakHis!.isMalignant != (sample.label == 1) {
            throw DatasetError.classMismatch(path: sample.path, folder: classNames[sample.label])
        }
        try requireEveryClass(classNames, in: samples, root: breast, options: options)
        return Dataset(classNames: classNames, samples: samples, root: root, layout: .breakHisTree,
                       skippedFiles: skipped)
    }
}

// MARK: - Reading folders

private func isFolder(_ url: URL) -> Bool {
    var directory: ObjCBool = false
    return FileManager.default.fileExists(atPath: url.path, isDirectory: &directory) && directory.boolValue
}

/// Python's `sorted` order (Unicode code points), which Keras uses for class names and files.
private func codePointOrder(_ a: String, _ b: String) -> Bool {
    a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
}

/// Visible sub-folders, in code-point order.
private func subfolders(of folder: URL) throws -> [URL] {
    let entries: [String]
    do { entries = try FileManager.default.contentsOfDirectory(atPath: folder.path) } catch {
        throw DatasetError.unreadableFolder(path: folder.path, message: error.localizedDescription)
    }
    return entries.filter { !$0.hasPrefix(".") }.sorted(by: codePointOrder)
        .map { folder.appendingPathComponent($0) }.filter(isFolder)
}

/// Every visible `.png` below `folder`, ordered as Keras' `os.walk` listing: by folder path, then file name.
/// Symbolic links to folders are followed (data often lives elsewhere), each real folder once.
private func pngFiles(under folder: URL) throws -> [String] {
    var found: [(folder: String, name: String)] = []
    var visited: Set<String> = []
    func walk(_ current: URL) throws {
        guard visited.insert(current.resolvingSymlinksInPath().path).inserted else { return }
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: current.path) } catch {
            throw DatasetError.unreadableFolder(path: current.path, message: error.localizedDescription)
        }
        for name in entries where !name.hasPrefix(".") {
            let url = current.appendingPathComponent(name)
            if isFolder(url) { try walk(url) } else if name.lowercased().hasSuffix(".png") {
                found.append((current.path, name))
            }
        }
    }
    try walk(folder)
    found.sort { $0.folder != $1.folder ? codePointOrder($0.folder, $1.folder) : codePointOrder($0.name, $1.name) }
    return found.map { $0.folder + "/" + $0.name }
}

/// Class names (sorted sub-folder names) and every PNG below each class folder, labelled by class position.
private func classFolderFiles(_ root: URL) throws -> (classNames: [String], files: [(path: String, label: Int)]) {
    let classFolders = try subfolders(of: root)
    guard !classFolders.isEmpty else {
        if try !pngFiles(under: root).isEmpty { throw DatasetError.noClassFolders(root.path) }
        throw DatasetError.noImages(path: root.path, filter: "")
    }
    var files: [(path: String, label: Int)] = []
    var empty: [String] = []
    for (label, folder) in classFolders.enumerated() {
        let classFiles = try pngFiles(under: folder)
        if classFiles.isEmpty { empty.append(folder.path) }
        files += classFiles.map { ($0, label) }
    }
    guard empty.isEmpty else { throw DatasetError.emptyClassFolders(empty) }
    return (classFolders.map(\.lastPathComponent), files)
}

/// The `breast` folder when `root` is the BreakHis tree or one of its ancestors up to the archive's parent.
private func breakHisBreastFolder(_ root: URL) -> URL? {
    let candidates = [root, root.appendingPathComponent("breast"),
                      root.appendingPathComponent("histology_slides/breast"),
                      root.appendingPathComponent("BreaKHis_v1/histology_slides/breast")]
    return candidates.first { candidate in
        ["benign", "malignant"].contains { isFolder(candidate.appendingPathComponent($0).appendingPathComponent("SOB")) }
    }
}

/// Attaches BreakHis metadata and applies the magnification filter. In class-folder layouts names are BreakHis
/// names as soon as one file's name parses; then every name must (or is skipped with `skipUnparseable`).
private func makeSamples(_ files: [(path: String, label: Int)], options: DatasetOptions,
                         requireBreakHisNames: Bool) throws -> (samples: [Sample], skipped: [String]) {
    let parsed = files.map { file in
        Result { try BreakHisName(parsing: URL(fileURLWithPath: file.path).lastPathComponent) }
    }
    let breakHisNamed = requireBreakHisNames || parsed.contains { (try? $0.get()) != nil }
    guard breakHisNamed else {
        if options.magnification != nil, let first = files.first {
            throw DatasetError.magnificationNeedsBreakHisNames(path: first.path)
        }
        return (files.map { Sample(path: $0.path, label: $0.label) }, [])
    }
    var samples: [Sample] = []
    var skipped: [String] = []
    for (file, name) in zip(files, parsed) {
        switch name {
        case .success(let name):
            if let wanted = options.magnification, name.magnification != wanted { continue }
            samples.append(Sample(path: file.path, label: file.label, breakHis: name))
        case .failure(let error):
            guard options.skipUnparseable else {
                throw DatasetError.unparseableName(path: file.path, reason: (error as? BreakHisNameError)?.reason
                                                   ?? "\(error)")
            }
            skipped.append(file.path)
        }
    }
    return (samples, skipped)
}

/// After filtering and skipping, every class must still have images.
private func requireEveryClass(_ classNames: [String], in samples: [Sample], root: URL,
                               options: DatasetOptions) throws {
    guard !samples.isEmpty else { throw DatasetError.noImages(path: root.path, filter: describeFilter(options)) }
    let present = Set(samples.map(\.label))
    let missing = classNames.indices.filter { !present.contains($0) }
    guard missing.isEmpty else {
        throw DatasetError.emptyClassFolders(missing.map { root.appendingPathComponent(classNames[$0]).path
                                                           + describeFilter(options) })
    }
}

private func describeFilter(_ options: DatasetOptions) -> String {
    options.magnification.map { " (at magnification \($0.folderName))" } ?? ""
}
