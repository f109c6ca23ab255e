import ArgumentParser
import BuildInfo
import Datasets
import Foundation

/// Dataset tools: generate the synthetic BreakHis-like dataset, or describe a dataset folder and its split.
@main
struct BCData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bc-data", abstract: "Generate and inspect histopathology datasets.",
        version: BuildInfo.describe(tool: "bc-data"), subcommands: [Synth.self, Summary.self])
}

struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a synthetic two-class H&E-like dataset in the original BreakHis folder layout.")

    @Option(help: "Folder to write BreaKHis_v1/ into.") var output: String
    @Option(help: "Patients; they alternate benign (SOB_B_F) and malignant (SOB_M_DC).") var patients = 12
    @Option(help: "Images per patient and magnification.") var imagesPerPatient = 20
    @Option(help: "Image width and height in pixels.") var size = 64
    @Option(help: "Seed; the same seed writes the same bytes.") var seed: UInt64 = 1
    @Option(help: "Comma-separated magnifications (40, 100, 200, 400).") var magnifications = "400"

    func run() throws {
        let levels = try magnifications.split(separator: ",").map { text -> Magnification in
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)), let level = Magnification(rawValue: value) else {
                throw ValidationError("--magnifications: '\(text)' is not 40, 100, 200 or 400")
            }
            return level
        }
        let synthetic: SyntheticHistology
        do {
            synthetic = try SyntheticHistology(patients: patients, imagesPerPatient: imagesPerPatient, size: size,
                                               seed: seed, magnifications: levels)
        } catch { throw ValidationError("\(error)") }
        let started = Date()
        let files = try reportingErrors { try synthetic.write(to: URL(fileURLWithPath: output)) }
        print(String(format: "wrote %d images of %d patients (%dx%d) to %@ in %.1fs", files.count, patients, size, size,
                     URL(fileURLWithPath: output).appendingPathComponent("BreaKHis_v1").path, Date().timeIntervalSince(started)))
    }
}

struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read a dataset folder (class folders, train/validation/test folders or the BreakHis tree), "
            + "split it and print images and patients per class per split, with balanced class weights.")

    enum SplitKind: String, ExpressibleByArgument, CaseIterable { case patient, image, folders, fold }

    @Argument(help: "The dataset folder.") var root: String
    @Option(help: "Keep only this magnification (BreakHis names).") var magnification: Int?
    @Flag(help: "Skip files whose names are not BreakHis names instead of failing.") var skipUnparseable = false
    @Option(help: "patient (default; by file without patient ids), image (leaky), folders (pre-split), fold.")
    var split: SplitKind = .patient
    @Option(help: "Comma-separated train,validation,test fractions.") var fractions = "0.7,0.15,0.15"
    @Option(help: "Seed of the split.") var seed: UInt64 = 1
    @Option(help: "BreakHis fold file (dsfold<n>.txt) for --split fold.") var foldFile: String?

    func validate() throws {
        if split == .fold, foldFile == nil { throw ValidationError("--split fold needs --fold-file") }
    }

    func run() throws {
        var options = DatasetOptions(skipUnparseable: skipUnparseable)
        if let magnification {
            guard let level = Magnification(rawValue: magnification) else {
                throw ValidationError("--magnification must be 40, 100, 200 or 400")
            }
            options.magnification = level
        }
        try reportingErrors { try summarize(options) }
    }

    private func summarize(_ options: DatasetOptions) throws {
        let dataset = try Dataset(root: URL(fileURLWithPath: root), options: options)
        print("\(dataset.root.path): \(dataset.layout.rawValue), \(dataset.samples.count) images, classes "
              + dataset.classNames.enumerated().map { "\($1) (\($0))" }.joined(separator: ", "))
        if !dataset.skippedFiles.isEmpty { print("skipped \(dataset.skippedFiles.count) files with non-BreakHis names") }

        let datasetSplit: DatasetSplit
        switch split {
        case .patient, .image:
            let values = fractions.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard values.count == 2 || values.count == 3 else {
                throw ValidationError("--fractions needs 2 (train,test) or 3 (train,validation,test) numbers")
            }
            let names = values.count == 2 ? ["train", "test"] : Dataset.splitFolderNames
            datasetSplit = try dataset.split(Array(zip(names, values)).map { (name: $0, fraction: $1) }, seed: seed,
                                             keepPatientsTogether: split == .patient)
        case .folders: datasetSplit = try dataset.predefinedSplit()
        case .fold: datasetSplit = try dataset.officialFoldSplit(foldFile: URL(fileURLWithPath: foldFile!))
        }
        print(datasetSplit.summary(of: dataset))
        let train = datasetSplit.parts[0]
        let weights = try balancedClassWeights(labels: train.indices.map { dataset.samples[$0].label },
                                               classNames: dataset.classNames)
        print("balanced class weights from '\(train.name)': "
              + zip(dataset.classNames, weights).map { String(format: "%@ %.4f", $0, $1) }.joined(separator: ", "))
    }
}

/// Runs `body`; a failure that is not about the command line becomes one line, `bc-data: error: ...`, and exit
/// status 1, as in the other tools (command-line mistakes keep ArgumentParser's message and usage).
func reportingErrors<Result>(_ body: () throws -> Result) throws -> Result {
    do { return try body() } catch let error as ValidationError { throw error } catch {
        FileHandle.standardError.write(Data("bc-data: error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}
