import Foundation

/// A run's per-epoch history: the `history.csv` bc-train writes (a header of column names such as
/// epoch, loss, accuracy, val_loss, val_accuracy, learning_rate; one row of numbers per epoch).
public struct TrainingHistory: Codable, Equatable, Sendable {
    public var columns: [String]
    public var rows: [[Double]]

    public init(columns: [String], rows: [[Double]] = []) { (self.columns, self.rows) = (columns, rows) }

    public struct Malformed: Error, CustomStringConvertible {
        public let description: String
    }

    public init(csv text: String, source: String) throws {
        let lines = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
        guard let header = lines.first else { throw Malformed(description: "\(source): empty history file") }
        let names = header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        columns = names
        rows = try lines.dropFirst().enumerated().map { index, line in
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == names.count else {
                throw Malformed(description: "\(source): line \(index + 2) has \(fields.count) fields, the header \(names.count)")
            }
            return try fields.map { field in
                guard let value = Double(field.trimmingCharacters(in: .whitespaces)) else {
                    throw Malformed(description: "\(source): line \(index + 2): '\(field)' is not a number")
                }
                return value
            }
        }
    }

    public var csv: String {
        ([columns.joined(separator: ",")] + rows.map { $0.map { "\($0)" }.joined(separator: ",") })
            .joined(separator: "\n") + "\n"
    }

    /// The values of one column, or nil if the history has no such column.
    public func values(_ column: String) -> [Double]? {
        columns.firstIndex(of: column).map { index in rows.map { $0[index] } }
    }
}
