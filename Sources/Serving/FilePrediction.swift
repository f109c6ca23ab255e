import Foundation
import Images

/// bc-predict's work: every PNG in the given files and folders, predicted in batches. A file that cannot be read
/// or decoded, a path that does not exist and a folder without PNGs each become a row carrying the error; the
/// rest of the batch goes on.
public struct FilePrediction {
    public let predictor: Predictor
    public var batchSize = 32
    /// Larger images are refused (with the reason in their row) rather than decoded.
    public var maxPixels = 50_000_000
    /// With Grad-CAM pictures: where they go, and the class each image's map is for (the one its row calls).
    public var heatmaps: (folder: HeatmapFolder, classOf: ([Double]) -> Int)?

    public init(predictor: Predictor) { self.predictor = predictor }

    /// The files to predict, in order: files as given, folders' `.png` files (any case, recursively, hidden
    /// entries skipped) sorted by path. Paths that name nothing usable are rows with an error.
    public static func inputs(_ paths: [String]) -> [(file: String, error: String?)] {
        paths.flatMap { path -> [(file: String, error: String?)] in
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { return [(path, "no such file or folder")] }
            guard isFolder.boolValue else { return [(path, nil)] }
            let root = URL(fileURLWithPath: path)
            let found = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey],
                                                       options: [.skipsHiddenFiles])?
                .compactMap { $0 as? URL }
                .filter { $0.pathExtension.lowercased() == "png" && (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true }
                .map { path.hasSuffix("/") ? path + $0.path.dropFirst(root.path.count + 1) : path + $0.path.dropFirst(root.path.count) }
                .sorted() ?? []
            return found.isEmpty ? [(path, "folder holds no .png files")] : found.map { ($0, nil) }
        }
    }

    /// Predicts `inputs` batch by batch, handing each batch's rows to `emit` in input order.
    public func run(_ inputs: [(file: String, error: String?)], emit: ([PredictionRow]) throws -> Void) throws {
        for start in stride(from: 0, to: inputs.count, by: batchSize) {
            let chunk = inputs[start..<min(start + batchSize, inputs.count)]
            var rows = chunk.map { PredictionRow(file: $0.file, error: $0.error) }
            var decoded: [(row: Int, image: RGBImage)] = []
            for (row, input) in chunk.enumerated() where input.error == nil {
                do {
                    decoded.append((row, try PNGCodec.decode(contentsOf: URL(fileURLWithPath: input.file), maxPixels: maxPixels)))
                } catch {
                    rows[row].error = "\(error)"
                }
            }
            let outcomes = try predictor.predictWithSpread(decoded.map(\.image), batchSize: batchSize)
            for ((row, _), outcome) in zip(decoded, outcomes) {
                rows[row].probabilities = outcome.probabilities
                if predictor.testTimeAugmentation != .off { rows[row].spread = outcome.spread }
            }
            if let (folder, classOf) = heatmaps, !decoded.isEmpty {
                let maps = try predictor.classActivationMaps(decoded.map(\.image), classes: outcomes.map { classOf($0.probabilities) },
                                                             batchSize: batchSize)
                for ((row, image), map) in zip(decoded, maps) {
                    do {
                        rows[row].heatmap = try folder.write(map, over: image, file: rows[row].file)
                    } catch {
                        rows[row].error = "predicted, but its heatmap could not be written: \(error)"
                    }
                }
            }
            try emit(rows)
        }
    }
}
