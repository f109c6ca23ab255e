import Foundation
import KerasHDF5
import Layers

/// The checkpoint files of one run directory: `last.h5` (newest state; the one before it kept as
/// `previous.h5`), `best.h5` by the monitored metric, and optionally `epoch-NNN.h5`. All are Keras full-model
/// files (Keras opens them) with bc-train's training state in a group Keras ignores. Only rank 0 writes.
struct CheckpointStore {
    let directory: URL
    /// What the folder is to the user, for messages: the run's checkpoint folder, or the --write-plan folder.
    var role = "checkpoint folder"

    var last: URL { directory.appendingPathComponent("last.h5") }
    var previous: URL { directory.appendingPathComponent("previous.h5") }
    var best: URL { directory.appendingPathComponent("best.h5") }
    /// The run's split (`SplitRecord`), written when the run starts and read when it resumes.
    var splitRecord: URL { directory.appendingPathComponent("split.json") }
    func epoch(_ number: Int) -> URL { directory.appendingPathComponent(String(format: "epoch-%03d.h5", number)) }

    /// Writes `last.h5` after moving the current one to `previous.h5`: whenever the process dies, one of the two
    /// is complete (the write itself is atomic: temporary file, fsync, rename).
    func writeLast(_ model: Graph, trainingConfig: JSON, state: TrainingState) throws {
        if FileManager.default.fileExists(atPath: last.path) {
            guard rename(last.path, previous.path) == 0 else {
                throw KerasFileError(file: last.path, "cannot move it to \(previous.lastPathComponent): \(String(cString: strerror(errno)))")
            }
        }
        try writeKerasModel(model, to: last.path, trainingConfig: trainingConfig, state: state)
    }

    func write(_ model: Graph, to url: URL, trainingConfig: JSON, state: TrainingState) throws {
        try writeKerasModel(model, to: url.path, trainingConfig: trainingConfig, state: state)
    }

    /// The newest checkpoint that reads back intact (checksums verified), with a note for every one skipped.
    func newestValid() -> (file: KerasWeightsFile, state: TrainingState, skipped: [String])? {
        var skipped: [String] = []
        for candidate in [last, previous] where FileManager.default.fileExists(atPath: candidate.path) {
            do {
                let file = try KerasWeightsFile.read(candidate.path)
                guard let state = file.trainingState else {
                    skipped.append("\(candidate.path): no bc-train training state in it")
                    continue
                }
                return (file, state, skipped)
            } catch {
                skipped.append("\(error)")
            }
        }
        return nil
    }

    /// Removes the temporary files of checkpoint writes that never finished (rank 0 was killed while writing) and
    /// returns their names. Only rank 0 writes here, and it calls this before training, so no write is in progress.
    func removeUnfinishedWrites() throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter(isUnfinishedAtomicWrite).sorted()
        for name in names { try FileManager.default.removeItem(at: directory.appendingPathComponent(name)) }
        return names
    }

    /// Whether the directory can be created and written (checked by every rank before training starts).
    func checkWritable() throws {
        func refuse(_ reason: String) -> TrainingError {
            TrainingError("\(role) \(directory.path) is not writable: \(reason)")
        }
        var existing = directory
        var isFolder: ObjCBool = false
        while !FileManager.default.fileExists(atPath: existing.path, isDirectory: &isFolder) {
            existing.deleteLastPathComponent()
        }
        guard isFolder.boolValue else { throw refuse("\(existing.path) is a file, not a folder") }
        guard access(existing.path, W_OK) == 0 else { throw refuse("\(existing.path): \(String(cString: strerror(errno)))") }
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw refuse("cannot create it (\(error.localizedDescription))")
        }
    }
}

public struct TrainingError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
