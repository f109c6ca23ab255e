import Datasets
import Foundation
import XCTest

/// A run's stored split: relative paths in each part's order with their digests, matched against the folder as it
/// is later (files added, files gone, a hand-edited record).
final class SplitRecordTests: XCTestCase {
    func testRoundTripAddedMissingAndEditedRecords() throws {
        let folder = try temporaryFolder()
        try SyntheticHistology(patients: 8, imagesPerPatient: 4, size: 16, seed: 2).write(to: folder)
        let dataset = try Dataset(root: folder)
        let split = try dataset.split(seed: 3)
        let record = SplitRecord(split: split, of: dataset)
        XCTAssertTrue(record.parts.values.joined().allSatisfy { !$0.hasPrefix("/") }, "paths are relative to the root")
        XCTAssertEqual(record.digests?["test"], SplitRecord.digest(record.parts["test"]!))
        XCTAssertNotEqual(SplitRecord.digest(["a", "b"]), SplitRecord.digest(["b", "a"]), "order matters")
        XCTAssertNotEqual(SplitRecord.digest(["ab"]), SplitRecord.digest(["a", "b"]))

        let url = folder.appendingPathComponent("split.json")
        try record.write(to: url)
        XCTAssertEqual(try SplitRecord.read(url), record)
        let same = try record.resolve(in: dataset, source: url.path)
        XCTAssertEqual(same.split.parts, split.parts, "the same folder gives the same parts, in the same order")
        XCTAssertEqual(same.added, [])

        // More patients later: the stored parts stay, the new files are listed.
        try SyntheticHistology(patients: 11, imagesPerPatient: 5, size: 16, seed: 2).write(to: folder)
        let grown = try Dataset(root: folder)
        let kept = try record.resolve(in: grown, source: url.path)
        for part in split.parts {
            XCTAssertEqual(kept.split.samples(part.name, of: grown)!.map(\.path), split.samples(part.name, of: dataset)!.map(\.path))
        }
        XCTAssertEqual(kept.added.count, grown.samples.count - dataset.samples.count)

        // A file of the split gone: an error naming it, or left out when asked.
        let gone = record.parts["validation"]![0]
        try FileManager.default.removeItem(at: folder.appendingPathComponent(gone))
        let shrunk = try Dataset(root: folder)
        XCTAssertThrowsError(try record.resolve(in: shrunk, source: url.path)) { error in
            XCTAssertEqual(error as? SplitRecordError, .missingFiles(url.path, root: shrunk.root.path, missing: ["validation": [gone]]))
            XCTAssertTrue("\(error)".contains("\(gone) (validation)"), "\(error)")
        }
        let dropped = try record.resolve(in: shrunk, source: url.path, dropMissing: true)
        XCTAssertEqual(dropped.missing, ["validation": [gone]])
        XCTAssertEqual(dropped.split["validation"]!.count, split["validation"]!.count - 1)

        // A record whose lists were edited by hand no longer matches its digests.
        var text = try String(contentsOf: url, encoding: .utf8)
        text = text.replacingOccurrences(of: record.parts["test"]![0], with: record.parts["train"]![0])
        try text.write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SplitRecord.read(url).resolve(in: grown, source: url.path)) { error in
            XCTAssertEqual(error as? SplitRecordError, .tampered(url.path, part: "test"))
        }
    }
}
