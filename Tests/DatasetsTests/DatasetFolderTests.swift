import Datasets
import Foundation
import Images
import XCTest

final class DatasetFolderTests: XCTestCase {
    func testClassFoldersFollowKerasOrder() throws {
        let root = try temporaryFolder()
        try writeClassFolders(root, [("malignant", "b.png"), ("malignant", "a.png"), ("benign", "x.png"),
                                     ("Zeta", "z.PNG"), ("benign", "nested/deeper/c.png"), ("benign", "nested-d.png")])
        try Data("not an image".utf8).write(to: root.appendingPathComponent("benign/notes.txt"))
        try Data().write(to: root.appendingPathComponent("benign/.hidden.png"))
        let dataset = try Dataset(root: root)
        XCTAssertEqual(dataset.layout, .classFolders)
        // Python's sorted(): upper case before lower case; index = position.
        XCTAssertEqual(dataset.classNames, ["Zeta", "benign", "malignant"])
        let relative = dataset.samples.map { String($0.path.dropFirst(root.path.count + 1)) }
        // Keras lists by folder path, then file name ("benign" < "benign/nested" < "benign/nested/deeper").
        XCTAssertEqual(relative, ["Zeta/z.PNG", "benign/nested-d.png", "benign/x.png", "benign/nested/deeper/c.png",
                                  "malignant/a.png", "malignant/b.png"])
        XCTAssertEqual(dataset.samples.map(\.label), [0, 1, 1, 1, 2, 2])
        XCTAssertFalse(dataset.hasPatientIDs)
        XCTAssertNil(dataset.samples[0].breakHis)
    }

    func testPreSplitFolders() throws {
        let root = try temporaryFolder()
        try writeClassFolders(root, [("train/cat", "1.png"), ("train/dog", "2.png"), ("train/dog", "3.png"),
                                     ("test/cat", "4.png"), ("test/dog", "5.png"),
                                     ("validation/cat", "6.png"), ("validation/dog", "7.png")])
        let dataset = try Dataset(root: root)
        XCTAssertEqual(dataset.layout, .preSplit)
        XCTAssertEqual(dataset.classNames, ["cat", "dog"])
        let split = try dataset.predefinedSplit()
        XCTAssertEqual(split.parts.map(\.name), ["train", "validation", "test"])
        let names = { (part: String) in split[part]!.map { URL(fileURLWithPath: dataset.samples[$0].path).lastPathComponent } }
        XCTAssertEqual(names("train"), ["1.png", "2.png", "3.png"])
        XCTAssertEqual(names("validation"), ["6.png", "7.png"])
        XCTAssertEqual(names("test"), ["4.png", "5.png"])
        XCTAssertEqual(split.summary(of: dataset).groupingNote, "split folders on disk")

        try writeNoisePNG(root.appendingPathComponent("test/bird/8.png"), seed: 8)
        XCTAssertThrowsMentioning("split folder 'test' has classes [\"bird\", \"cat\", \"dog\"]", try Dataset(root: root))
    }

    func testBreakHisTreeAtEveryRootDepthAndMagnificationFilter() throws {
        let folder = try temporaryFolder()
        let synthetic = try SyntheticHistology(patients: 4, imagesPerPatient: 3, size: 16, seed: 5,
                                               magnifications: [.x40, .x400])
        try synthetic.write(to: folder)
        for root in [folder, folder.appendingPathComponent("BreaKHis_v1"),
                     folder.appendingPathComponent("BreaKHis_v1/histology_slides"),
                     folder.appendingPathComponent("BreaKHis_v1/histology_slides/breast")] {
            let dataset = try Dataset(root: root)
            XCTAssertEqual(dataset.layout, .breakHisTree, root.path)
            XCTAssertEqual(dataset.classNames, ["benign", "malignant"])
            XCTAssertEqual(dataset.samples.count, 24)
            XCTAssertTrue(dataset.hasPatientIDs)
        }
        let at400 = try Dataset(root: folder, options: DatasetOptions(magnification: .x400))
        XCTAssertEqual(at400.samples.count, 12)
        XCTAssertTrue(at400.samples.allSatisfy { $0.breakHis!.magnification == .x400 && $0.path.contains("/400X/") })
        XCTAssertEqual(at400.samples.map(\.label), Array(repeating: 0, count: 6) + Array(repeating: 1, count: 6))
        XCTAssertTrue(at400.samples.allSatisfy { ($0.breakHis!.isMalignant ? 1 : 0) == $0.label })
        XCTAssertEqual(Set(at400.samples.map(\.breakHis!.patient)), ["14-10001", "14-10002", "14-10003", "14-10004"])
        XCTAssertThrowsMentioning("no PNG images found", try Dataset(root: folder, options: DatasetOptions(magnification: .x100)))
    }

    func testRealSampleImages() throws {
        let dataset = try Dataset(root: breakHisSample)
        XCTAssertEqual(dataset.layout, .classFolders)
        XCTAssertEqual(dataset.classNames, ["benign", "malignant"])
        XCTAssertEqual(dataset.samples.map(\.label), [0, 0, 0, 0, 1, 1, 1, 1])
        XCTAssertTrue(dataset.hasPatientIDs, "BreakHis names in class folders carry patient ids")
        XCTAssertEqual(Set(dataset.samples.map(\.breakHis!.patient)).count, 7)
        XCTAssertEqual(try Dataset(root: breakHisSample, options: DatasetOptions(magnification: .x400)).samples.count, 8)
        XCTAssertThrowsMentioning("no PNG images found (at magnification 40X)",
                                  try Dataset(root: breakHisSample, options: DatasetOptions(magnification: .x40)))
    }

    func testMissingAndEmptyFolders() throws {
        let root = try temporaryFolder()
        XCTAssertThrowsMentioning("\(root.path)/absent: no such folder", try Dataset(root: root.appendingPathComponent("absent")))
        XCTAssertThrowsMentioning("no PNG images found", try Dataset(root: root))
        try writeClassFolders(root, [("benign", "a.png"), ("malignant", "b.png")])
        try FileManager.default.createDirectory(at: root.appendingPathComponent("normal/sub"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try Dataset(root: root)) { error in
            XCTAssertEqual(error as? DatasetError, .emptyClassFolders([root.appendingPathComponent("normal").path]))
            XCTAssertEqual("\(error)", "class folder without PNG images: \(root.path)/normal")
        }
        let flat = try temporaryFolder()
        try writeNoisePNG(flat.appendingPathComponent("loose.png"), seed: 1)
        XCTAssertThrowsMentioning("no class folders inside", try Dataset(root: flat))
    }

    func testUnparseableBreakHisNames() throws {
        let folder = try temporaryFolder()
        try SyntheticHistology(patients: 2, imagesPerPatient: 2, size: 16, seed: 1).write(to: folder)
        let stray = folder.appendingPathComponent("BreaKHis_v1/histology_slides/breast/malignant/SOB/ductal_carcinoma/"
                                                  + "SOB_M_DC_14-10002/400X/scan copy.png")
        try writeNoisePNG(stray, seed: 3)
        XCTAssertThrowsError(try Dataset(root: folder)) { error in
            XCTAssertEqual("\(error)", "\(stray.path): not a BreakHis file name (expected <procedure>_<B|M>_<subtype>-"
                                     + "<patient>-<magnification>-<sequence>.png); pass skipUnparseable to skip such files")
        }
        let skipping = try Dataset(root: folder, options: DatasetOptions(skipUnparseable: true))
        XCTAssertEqual(skipping.skippedFiles, [stray.path])
        XCTAssertEqual(skipping.samples.count, 4)

        // In class folders, one BreakHis name makes all names BreakHis names.
        let mixed = try temporaryFolder()
        try writeClassFolders(mixed, [("benign", "SOB_B_A-14-22549AB-100-001.png"), ("malignant", "other.png")])
        XCTAssertThrowsMentioning("malignant/other.png: not a BreakHis file name", try Dataset(root: mixed))
        XCTAssertThrowsMentioning("class folder without PNG images: \(mixed.path)/malignant",
                                  try Dataset(root: mixed, options: DatasetOptions(skipUnparseable: true)))
    }

    func testBreakHisClassMustMatchItsFolder() throws {
        let folder = try temporaryFolder()
        try SyntheticHistology(patients: 2, imagesPerPatient: 1, size: 16, seed: 1).write(to: folder)
        let misplaced = folder.appendingPathComponent("BreaKHis_v1/histology_slides/breast/benign/SOB/fibroadenoma/"
                                                      + "SOB_B_F_14-10001/400X/SOB_M_DC-14-10001-400-002.png")
        try writeNoisePNG(misplaced, seed: 2)
        XCTAssertThrowsMentioning("\(misplaced.path): the file name's class disagrees with its folder 'benign'",
                                  try Dataset(root: folder))
    }

    func testMagnificationFilterNeedsBreakHisNames() throws {
        let root = try temporaryFolder()
        try writeClassFolders(root, [("a", "1.png"), ("b", "2.png")])
        XCTAssertThrowsMentioning("a magnification filter needs BreakHis file names",
                                  try Dataset(root: root, options: DatasetOptions(magnification: .x400)))
    }
}
