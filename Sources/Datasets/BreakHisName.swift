/// A BreakHis optical magnification.
public enum Magnification: Int, Codable, Sendable, CaseIterable, Comparable {
    case x40 = 40, x100 = 100, x200 = 200, x400 = 400

    /// The folder name BreakHis uses for it ("400X").
    public var folderName: String { "\(rawValue)X" }

    public static func < (a: Magnification, b: Magnification) -> Bool { a.rawValue < b.rawValue }
}

/// What a BreakHis file name says, e.g. `SOB_M_DC-14-2523-40-016.png`: procedure SOB (surgical open biopsy),
/// tumour class M (malignant) or B (benign), subtype DC, patient "14-2523", magnification 40X, image 16.
public struct BreakHisName: Hashable, Codable, Sendable {
    public let procedure: String
    public let isMalignant: Bool
    public let subtype: String
    public let patient: String
    public let magnification: Magnification
    public let sequence: Int

    /// BreakHis' tumour subtypes by class, with the folder names of the original tree.
    public static let benignSubtypes = ["A": "adenosis", "F": "fibroadenoma", "PT": "phyllodes_tumor",
                                        "TA": "tubular_adenoma"]
    public static let malignantSubtypes = ["DC": "ductal_carcinoma", "LC": "lobular_carcinoma",
                                           "MC": "mucinous_carcinoma", "PC": "papillary_carcinoma"]

    public init(procedure: String = "SOB", isMalignant: Bool, subtype: String, patient: String,
                magnification: Magnification, sequence: Int) {
        (self.procedure, self.isMalignant, self.subtype) = (procedure, isMalignant, subtype)
        (self.patient, self.magnification, self.sequence) = (patient, magnification, sequence)
    }

    /// Parses a file name (not a path); the reason in the error says which part is wrong.
    public init(parsing fileName: String) throws {
        func fail(_ reason: String) -> BreakHisNameError { BreakHisNameError(fileName: fileName, reason: reason) }
        guard fileName.lowercased().hasSuffix(".png") else { throw fail("not a .png file") }
        let stem = fileName.dropLast(4)
        let head = stem.split(separator: "_", omittingEmptySubsequences: false)
        guard head.count == 3 else {
            throw fail("expected <procedure>_<B|M>_<subtype>-<patient>-<magnification>-<sequence>.png")
        }
        guard !head[0].isEmpty, head[0].allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            throw fail("procedure '\(head[0])' is not upper-case letters")
        }
        guard head[1] == "B" || head[1] == "M" else { throw fail("class '\(head[1])' is neither B nor M") }
        let malignant = head[1] == "M"
        // Patient ids contain one '-' themselves ("14-22549AB"), so the tail has exactly five parts.
        let tail = head[2].split(separator: "-", omittingEmptySubsequences: false)
        guard tail.count == 5 else {
            throw fail("expected <subtype>-<year>-<patient>-<magnification>-<sequence> after the class")
        }
        let subtypes = malignant ? Self.malignantSubtypes : Self.benignSubtypes
        guard subtypes[String(tail[0])] != nil else {
            throw fail("subtype '\(tail[0])' is not a \(malignant ? "malignant" : "benign") BreakHis subtype "
                       + "(\(subtypes.keys.sorted().joined(separator: ", ")))")
        }
        guard !tail[1].isEmpty, tail[1].allSatisfy(\.isASCIIDigit) else {
            throw fail("patient id year '\(tail[1])' is not a number")
        }
        let patientDigits = tail[2].prefix(while: \.isASCIIDigit)
        guard !patientDigits.isEmpty,
              tail[2].dropFirst(patientDigits.count).allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            throw fail("patient number '\(tail[2])' is not digits followed by optional upper-case letters")
        }
        guard let magnificationValue = Int(tail[3]), let magnification = Magnification(rawValue: magnificationValue)
        else { throw fail("magnification '\(tail[3])' is not 40, 100, 200 or 400") }
        guard !tail[4].isEmpty, tail[4].allSatisfy(\.isASCIIDigit), let sequence = Int(tail[4]) else {
            throw fail("sequence '\(tail[4])' is not a number")
        }
        self.init(procedure: String(head[0]), isMalignant: malignant, subtype: String(tail[0]),
                  patient: "\(tail[1])-\(tail[2])", magnification: magnification, sequence: sequence)
    }

    /// The file name BreakHis gives this image; sequences have three digits as in the original tree.
    public var fileName: String {
        let number = String(sequence)
        let padded = String(repeating: "0", count: max(0, 3 - number.count)) + number
        return "\(procedure)_\(isMalignant ? "M" : "B")_\(subtype)-\(patient)-\(magnification.rawValue)-\(padded).png"
    }

    /// The patient folder name of the original tree ("SOB_M_DC_14-2523").
    public var patientFolderName: String { "\(procedure)_\(isMalignant ? "M" : "B")_\(subtype)_\(patient)" }

    /// The subtype folder name of the original tree ("ductal_carcinoma").
    public var subtypeFolderName: String {
        (isMalignant ? Self.malignantSubtypes : Self.benignSubtypes)[subtype] ?? subtype
    }
}

public struct BreakHisNameError: Error, CustomStringConvertible, Equatable {
    public let fileName: String
    public let reason: String
    public var description: String { "\(fileName): not a BreakHis file name: \(reason)" }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
