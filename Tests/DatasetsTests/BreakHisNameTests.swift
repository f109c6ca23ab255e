import Datasets
import XCTest

final class BreakHisNameTests: XCTestCase {
    func testParsesNamesOfEverySubtype() throws {
        let cases: [(String, Bool, String, String, Magnification, Int)] = [
            ("SOB_M_DC-14-2523-40-016.png", true, "DC", "14-2523", .x40, 16),
            ("SOB_B_A-14-22549AB-100-001.png", false, "A", "14-22549AB", .x100, 1),
            ("SOB_B_F-14-9133-200-010.png", false, "F", "14-9133", .x200, 10),
            ("SOB_B_PT-14-22704-400-028.png", false, "PT", "14-22704", .x400, 28),
            ("SOB_B_TA-14-16184CD-400-024.png", false, "TA", "14-16184CD", .x400, 24),
            ("SOB_M_LC-14-15570C-100-001.png", true, "LC", "14-15570C", .x100, 1),
            ("SOB_M_MC-14-10147-40-003.png", true, "MC", "14-10147", .x40, 3),
            ("SOB_M_PC-14-9146-400-014.png", true, "PC", "14-9146", .x400, 14),
        ]
        for (file, malignant, subtype, patient, magnification, sequence) in cases {
            let name = try BreakHisName(parsing: file)
            XCTAssertEqual(name.procedure, "SOB", file)
            XCTAssertEqual(name.isMalignant, malignant, file)
            XCTAssertEqual(name.subtype, subtype, file)
            XCTAssertEqual(name.patient, patient, file)
            XCTAssertEqual(name.magnification, magnification, file)
            XCTAssertEqual(name.sequence, sequence, file)
            XCTAssertEqual(name.fileName, file, "the name prints back as BreakHis writes it")
        }
        XCTAssertEqual(try BreakHisName(parsing: "SOB_M_DC-14-2523-40-016.png").patientFolderName, "SOB_M_DC_14-2523")
        XCTAssertEqual(try BreakHisName(parsing: "SOB_M_DC-14-2523-40-016.png").subtypeFolderName, "ductal_carcinoma")
    }

    func testRejectsMalformedNamesWithTheReason() {
        let cases: [(String, String)] = [
            ("SOB_M_DC-14-2523-50-016.png", "magnification '50'"),
            ("SOB_X_DC-14-2523-40-016.png", "class 'X'"),
            ("SOB_B_DC-14-2523-40-016.png", "subtype 'DC' is not a benign"),
            ("SOB_M_XX-14-2523-40-016.png", "subtype 'XX'"),
            ("SOB_M_DC-14-2523-40.png", "expected <subtype>"),
            ("image001.png", "expected <procedure>"),
            ("SOB_M_DC-14-2523-40-016.jpg", "not a .png"),
            ("SOB_M_DC-14-25a3-40-016.png", "patient number '25a3'"),
            ("SOB_M_DC-1x-2523-40-016.png", "year '1x'"),
            ("SOB_M_DC-14-2523-40-0x6.png", "sequence '0x6'"),
            ("sob_M_DC-14-2523-40-016.png", "procedure 'sob'"),
        ]
        for (file, reason) in cases {
            XCTAssertThrowsError(try BreakHisName(parsing: file), file) { error in
                let nameError = error as? BreakHisNameError
                XCTAssertEqual(nameError?.fileName, file)
                XCTAssertTrue(nameError?.reason.contains(reason) == true, "\(error) should say \(reason)")
                XCTAssertTrue("\(error)".hasPrefix(file), "the message starts with the file name")
            }
        }
    }
}
