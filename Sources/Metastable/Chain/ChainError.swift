/// Why a chain, a graph file or a chain specification was rejected.
///
/// The message says what is wrong; `file`, `line` and `row` say where, when known.
public struct ChainError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        case empty, tooLarge, inconsistent, badProbability, badState, badRowSum, badLabel
        case badHeader, badLine, badCount, unreachable, badSpec, io
    }

    public var reason: Reason
    public var message: String
    public var file: String?
    public var line: Int?
    public var row: Int?

    public init(_ reason: Reason, _ message: String, file: String? = nil, line: Int? = nil, row: Int? = nil) {
        self.reason = reason
        self.message = message
        self.file = file
        self.line = line
        self.row = row
    }

    /// The same error, located in `file` (and at `line`, unless it already has one).
    public func located(file: String, line: Int? = nil) -> ChainError {
        var copy = self
        copy.file = file
        if copy.line == nil { copy.line = line }
        return copy
    }

    public var description: String {
        switch (file, line) {
        case let (file?, line?): "\(file):\(line): \(message)"
        case let (file?, nil): "\(file): \(message)"
        default: message
        }
    }
}
