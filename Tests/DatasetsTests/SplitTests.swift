import Datasets
import Foundation
import XCTest

final class SplitTests: XCTestCase {
    private func syntheticDataset(patients: Int = 14, imagesPerPatient: Int = 5) throws -> Dataset {
        let folder = try temporaryFolder()
        try SyntheticHistology(patients: patients, imagesPerPatient: imagesPerPatient, size: 16, seed: 2).write(to: folder)
        return try Dataset(root: folder)
    }

    private func assertPatientWise(_ split: DatasetSplit, _ dataset: Dataset, file: StaticString = #filePath, line: UInt = #line) {
        var partOfPatient: [String: String] = [:]
        for part in split.parts {
            for index in part.indices {
                let patient = dataset.samples[index].breakHis!.patient
                XCTAssertEqual(partOfPatient.updateValue(part.name, forKey: patient) ?? part.name, part.name,
                               "patient \(patient) is in two splits", file: file, line: line)
            }
        }
        XCTAssertEqual(split.parts.flatMap(\.indices).sorted(), Array(dataset.samples.indices),
                       "every image is in exactly one split", file: file, line: line)
    }

    func testPatientWiseSplitOfSyntheticData() throws {
        let dataset = try syntheticDataset()
        let split = try dataset.split(seed: 3)
        XCTAssertEqual(split.grouping, .patient)
        assertPatientWise(split, dataset)
        let summary = split.summary(of: dataset)
        XCTAssertEqual(summary.patientsInSeveralParts, 0)
        XCTAssertEqual(summary.rows.map(\.part), ["train", "validation", "test"])
        // 7 patients of 5 images per class: 0.7/0.15/0.15 of 35 images is 24.5/5.25/5.25, i.e. 5/1/1 patients.
        XCTAssertEqual(summary.rows.map(\.images), [[25, 25], [5, 5], [5, 5]])
        XCTAssertEqual(summary.rows.map(\.patients), [[5, 5], [1, 1], [1, 1]])
        XCTAssertTrue(summary.description.contains("grouped by patient: no patient is in two splits"))
        print(summary)

        XCTAssertEqual(try dataset.split(seed: 3).parts, split.parts, "a seed fixes the split")
        XCTAssertNotEqual(try dataset.split(seed: 4).parts, split.parts)
    }

    func testPatientWiseSplitOfTheRealSampleImages() throws {
        let dataset = try Dataset(root: breakHisSample)
        let split = try dataset.split(seed: 1)
        assertPatientWise(split, dataset)
        let summary = split.summary(of: dataset)
        print(summary)
        // 4 benign images of 3 patients (16184CD twice) and 4 malignant images of 4 patients, one patient per
        // class per split at least.
        XCTAssertEqual(summary.rows.map { $0.images[0] }.reduce(0, +), 4)
        XCTAssertEqual(summary.rows.map { $0.images[1] }.reduce(0, +), 4)
        XCTAssertEqual(summary.rows.map { $0.patients![0] }, [1, 1, 1])
        XCTAssertEqual(summary.rows.map { $0.patients![1] }.sorted(), [1, 1, 2])
        let patientsOfTA = split.parts.filter { part in
            part.indices.contains { dataset.samples[$0].breakHis!.patient == "14-16184CD" }
        }
        XCTAssertEqual(patientsOfTA.count, 1, "both images of patient 14-16184CD land in one split")
        XCTAssertEqual(summary.rows.first { $0.part == patientsOfTA[0].name }!.images[0], 2)
        XCTAssertEqual(summary.patientsInSeveralParts, 0)
    }

    func testRandomImageSplitIsLabelledLeaky() throws {
        let dataset = try syntheticDataset()
        let split = try dataset.split(seed: 3, keepPatientsTogether: false)
        XCTAssertEqual(split.grouping, .randomImage)
        let summary = split.summary(of: dataset)
        XCTAssertGreaterThan(summary.patientsInSeveralParts!, 0)
        XCTAssertTrue(summary.description.contains("LEAKY"))
        XCTAssertTrue(summary.description.contains("patient(s) appear in more than one split"))
        // Stratified: per class 35 images -> 25/5/5 by the image deficit rule.
        XCTAssertEqual(summary.rows.map(\.images), [[25, 25], [5, 5], [5, 5]])
    }

    func testPlainNamesAreGroupedByFile() throws {
        let root = try temporaryFolder()
        try writeClassFolders(root, (0..<10).map { ("a", "\($0).png") } + (0..<6).map { ("b", "\($0).png") })
        let dataset = try Dataset(root: root)
        let split = try dataset.split([("train", 0.5), ("test", 0.5)], seed: 1)
        XCTAssertEqual(split.grouping, .file)
        let summary = split.summary(of: dataset)
        XCTAssertNil(summary.patientsInSeveralParts)
        XCTAssertEqual(summary.rows.map(\.images), [[5, 3], [5, 3]])
        XCTAssertEqual(summary.description, """
            split  a images  b images
            train         5         3
            test          5         3
            grouped by file: the file names carry no patient ids, so each image is its own group
            """)
    }

    func testRefusesSplitsThatEmptyAClass() throws {
        let dataset = try syntheticDataset(patients: 4, imagesPerPatient: 3)
        XCTAssertThrowsError(try dataset.split(seed: 1)) { error in
            XCTAssertEqual("\(error)", "class 'benign' has 2 patients, too few to give each of the 3 splits one")
        }
        XCTAssertNoThrow(try dataset.split([("train", 0.5), ("test", 0.5)], seed: 1))
        XCTAssertThrowsMentioning("need positive fractions summing to 1", try dataset.split([("train", 0.8), ("test", 0.1)], seed: 1))
        XCTAssertThrowsMentioning("split names repeat", try dataset.split([("train", 0.5), ("train", 0.5)], seed: 1))
    }

    func testOfficialFoldFile() throws {
        let folder = try temporaryFolder()
        try SyntheticHistology(patients: 4, imagesPerPatient: 2, size: 16, seed: 1, magnifications: [.x40, .x400]).write(to: folder)
        let dataset = try Dataset(root: folder, options: DatasetOptions(magnification: .x400))
        // Patients 14-10001 (benign) and 14-10002 (malignant) train, the others test, at every magnification.
        var lines: [String] = []
        for name in dataset.samples.map(\.breakHis!) {
            for magnification in [40, 400] {
                let file = name.fileName.replacingOccurrences(of: "-400-", with: "-\(magnification)-")
                lines.append("\(file)|\(magnification)|3|\(["14-10001", "14-10002"].contains(name.patient) ? "train" : "test")")
            }
        }
        let foldFile = folder.appendingPathComponent("dsfold3.txt")
        try (lines.joined(separator: "\n") + "\n").write(to: foldFile, atomically: true, encoding: .utf8)
        let split = try dataset.officialFoldSplit(foldFile: foldFile)
        XCTAssertEqual(split.grouping, .officialFold(3))
        XCTAssertEqual(split["train"]!.map { dataset.samples[$0].breakHis!.patient }, ["14-10001", "14-10001", "14-10002", "14-10002"])
        XCTAssertEqual(split["test"]!.count, 4)
        XCTAssertTrue(split.summary(of: dataset).description.contains("BreakHis official fold 3; 0 patient(s) appear in more than one split"))

        func foldSplit(_ text: String) throws -> DatasetSplit {
            try text.write(to: foldFile, atomically: true, encoding: .utf8)
            return try dataset.officialFoldSplit(foldFile: foldFile)
        }
        XCTAssertThrowsMentioning("dsfold3.txt:2: expected <file>|<magnification>|<fold>|<train|test>",
                                  try foldSplit(lines[0] + "\nSOB_B_F-14-10001-400-001.png|400|3\n"))
        XCTAssertThrowsMentioning("dsfold3.txt:1: magnification 40 disagrees", try foldSplit("SOB_B_F-14-10001-400-001.png|40|3|train"))
        XCTAssertThrowsMentioning("dsfold3.txt:1: 'validate' is neither train nor test",
                                  try foldSplit("SOB_B_F-14-10001-400-001.png|400|3|validate"))
        XCTAssertThrowsMentioning("dsfold3.txt:2: SOB_B_F-14-10001-400-001.png is listed twice",
                                  try foldSplit("SOB_B_F-14-10001-400-001.png|400|3|train\nSOB_B_F-14-10001-400-001.png|400|3|test"))
        XCTAssertThrowsMentioning("dsfold3.txt:1: not-a-name.png: not a BreakHis file name", try foldSplit("not-a-name.png|400|3|train"))
        XCTAssertThrowsMentioning("does not list", try foldSplit(lines.dropLast(2).joined(separator: "\n")))
        // Every malignant image in train leaves test without malignant images.
        let allMalignantTrain = lines.map { $0.contains("SOB_M_") ? $0.replacingOccurrences(of: "|test", with: "|train") : $0 }
        XCTAssertThrowsError(try foldSplit(allMalignantTrain.joined(separator: "\n"))) { error in
            XCTAssertEqual(error as? SplitError, .emptyClass(part: "test", className: "malignant"))
        }
    }

    func testBalancedClassWeightsMatchScikitLearn() throws {
        // sklearn.utils.class_weight.compute_class_weight('balanced', classes=[0, 1, 2], y=[0]*6 + [1]*3 + [2])
        // -> array([0.55555556, 1.11111111, 3.33333333])
        let labels = Array(repeating: 0, count: 6) + Array(repeating: 1, count: 3) + [2]
        let weights = try balancedClassWeights(labels: labels, classNames: ["a", "b", "c"])
        for (weight, expected) in zip(weights, [10.0 / 18, 10.0 / 9, 10.0 / 3]) { XCTAssertEqual(weight, expected, accuracy: 1e-15) }
        for (label, weight) in weights.enumerated() {
            XCTAssertEqual(Double(labels.filter { $0 == label }.count) * weight, 10.0 / 3, accuracy: 1e-12,
                           "every class carries the same total weight")
        }
        XCTAssertThrowsMentioning("class 'c' has no training samples", try balancedClassWeights(labels: [0, 1], classNames: ["a", "b", "c"]))
        XCTAssertThrowsMentioning("label 3 is outside 0..<3", try balancedClassWeights(labels: [0, 3], classNames: ["a", "b", "c"]))
    }
}

final class SplitDivisionTests: XCTestCase {
    func testValidationCarvedPatientWiseFromAFoldsTrainingPart() throws {
        let folder = try temporaryFolder()
        try SyntheticHistology(patients: 10, imagesPerPatient: 3, size: 16, seed: 1).write(to: folder)
        let dataset = try Dataset(root: folder)
        let testPatients: Set = ["14-10001", "14-10002", "14-10003", "14-10004"]
        let lines = dataset.samples.map(\.breakHis!).map { "\($0.fileName)|400|1|\(testPatients.contains($0.patient) ? "test" : "train")" }
        let foldFile = folder.appendingPathComponent("dsfold1.txt")
        try lines.joined(separator: "\n").write(to: foldFile, atomically: true, encoding: .utf8)
        let fold = try dataset.officialFoldSplit(foldFile: foldFile)
        let divided = try fold.dividing("train", into: [("train", 0.67), ("validation", 0.33)], seed: 2, of: dataset)
        XCTAssertEqual(divided.parts.map(\.name), ["train", "validation", "test"])
        XCTAssertEqual(divided["test"], fold["test"], "the other parts stay")
        XCTAssertEqual(Set(divided["train"]! + divided["validation"]!), Set(fold["train"]!))
        let summary = divided.summary(of: dataset)
        XCTAssertEqual(summary.patientsInSeveralParts, 0)
        XCTAssertEqual(summary.rows.map(\.patients), [[2, 2], [1, 1], [2, 2]])
        XCTAssertEqual(divided.grouping, .officialFold(1))
        XCTAssertThrowsMentioning("'test' is already a split part",
                                  try fold.dividing("train", into: [("train", 0.5), ("test", 0.5)], seed: 2, of: dataset))
        XCTAssertThrowsMentioning("no split part named 'validation'",
                                  try fold.dividing("validation", into: [("a", 0.5), ("b", 0.5)], seed: 2, of: dataset))
    }
}
