/// Images and patients per class per split part, printed as a small table with a line on how it was grouped.
public struct SplitSummary: CustomStringConvertible, Sendable {
    public struct Row: Sendable, Equatable {
        public let part: String
        public let images: [Int]
        /// Distinct patients with images of the class in this part (nil when file names carry no patient ids).
        public let patients: [Int]?
    }

    public let classNames: [String]
    public let rows: [Row]
    public let grouping: SplitGrouping
    /// Patients whose images are in more than one part (zero for patient-wise splits).
    public let patientsInSeveralParts: Int?

    public init(dataset: Dataset, split: DatasetSplit) {
        classNames = dataset.classNames
        grouping = split.grouping
        let withPatients = dataset.hasPatientIDs
        var partsOfPatient: [String: Set<String>] = [:]
        rows = split.parts.map { part in
            var images = Array(repeating: 0, count: dataset.classNames.count)
            var patients = Array(repeating: Set<String>(), count: dataset.classNames.count)
            for index in part.indices {
                let sample = dataset.samples[index]
                images[sample.label] += 1
                if let patient = sample.breakHis?.patient {
                    patients[sample.label].insert(patient)
                    partsOfPatient[patient, default: []].insert(part.name)
                }
            }
            return Row(part: part.name, images: images, patients: withPatients ? patients.map(\.count) : nil)
        }
        patientsInSeveralParts = withPatients ? partsOfPatient.values.filter { $0.count > 1 }.count : nil
    }

    public var groupingNote: String {
        let leaked = patientsInSeveralParts.map { "; \($0) patient(s) appear in more than one split" } ?? ""
        switch grouping {
        case .patient: return "grouped by patient: no patient is in two splits"
        case .file: return "grouped by file: the file names carry no patient ids, so each image is its own group"
        case .randomImage:
            return "random image split (LEAKY: a patient's images can be in several splits, which inflates accuracy)"
                + leaked
        case .officialFold(let fold): return "BreakHis official fold \(fold)" + leaked
        case .predefined: return "split folders on disk" + leaked
        }
    }

    public var description: String {
        var header = ["split"]
        for name in classNames {
            header.append("\(name) images")
            if rows.first?.patients != nil { header.append("\(name) patients") }
        }
        var table = [header]
        for row in rows {
            var cells = [row.part]
            for label in classNames.indices {
                cells.append("\(row.images[label])")
                if let patients = row.patients { cells.append("\(patients[label])") }
            }
            table.append(cells)
        }
        let widths = header.indices.map { column in table.map { $0[column].count }.max()! }
        let lines = table.map { cells in
            cells.enumerated().map { column, cell in
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                return column == 0 ? cell + padding : padding + cell
            }.joined(separator: "  ")
        }
        return (lines + [groupingNote]).joined(separator: "\n")
    }
}

extension DatasetSplit {
    public func summary(of dataset: Dataset) -> SplitSummary { SplitSummary(dataset: dataset, split: self) }
}
