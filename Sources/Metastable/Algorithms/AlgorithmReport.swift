/// What one grid point of an algorithm experiment measured: headline values, tables of
/// series (one row per iteration, per data size, ...), and pass/fail checks of the claim.
///
/// Tables are plain columns of numbers so that results.json loads in pandas as it is and
/// the CSV writer and scripts/plot.py need no per-algorithm code.
public struct AlgorithmReport: Sendable, Codable, Equatable {
    /// Headline numbers of the point, e.g. `speedup`, `iterations`, `exact_hitting_time`.
    /// Nil values (undefined, e.g. a mean of no samples) are written as null.
    public var values: [String: Double?]
    public var tables: [ResultTable]
    /// Text facts, e.g. which access level or which learner.
    public var notes: [String: String]

    public init(values: [String: Double?] = [:], tables: [ResultTable] = [], notes: [String: String] = [:]) {
        self.values = values
        self.tables = tables
        self.notes = notes
    }

    public func table(_ name: String) -> ResultTable? { tables.first { $0.name == name } }
}

/// A named table of numbers; nil cells are undefined values.
public struct ResultTable: Sendable, Codable, Equatable {
    public var name: String
    public var columns: [String]
    public var rows: [[Double?]]

    public init(name: String, columns: [String], rows: [[Double?]] = []) {
        self.name = name
        self.columns = columns
        self.rows = rows
    }

    public mutating func append(_ row: [Double?]) {
        precondition(row.count == columns.count, "a row of \(name) needs \(columns.count) cells, got \(row.count)")
        rows.append(row)
    }

    /// The column named `name`, or nil when there is none.
    public func column(_ name: String) -> [Double?]? {
        guard let i = columns.firstIndex(of: name) else { return nil }
        return rows.map { $0[i] }
    }
}

/// A figure scripts/plot.py draws from an algorithm experiment's tables: x against one or
/// more y columns, with optional error columns and a theory line, one line per grid point
/// (or per value of `groupBy`).
///
/// `table` names a point table, or "summary": one row per grid point with the grid
/// parameters and the points' headline values as columns.
public struct FigureSpec: Sendable, Codable, Equatable {
    public struct Series: Sendable, Codable, Equatable {
        public var column: String
        public var label: String
        /// Columns with the lower and upper ends of the interval drawn around each point.
        public var lower: String?
        public var upper: String?
        /// A theory curve: drawn as a line, without markers.
        public var theory: Bool

        public init(_ column: String, label: String, lower: String? = nil, upper: String? = nil, theory: Bool = false) {
            self.column = column
            self.label = label
            self.lower = lower
            self.upper = upper
            self.theory = theory
        }
    }

    /// The PNG's file name, e.g. "speedup.png".
    public var file: String
    public var title: String
    public var table: String
    public var x: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    public var logX: Bool
    public var logY: Bool
    /// A column (a grid parameter in "summary", or "point") whose values each get their own
    /// line; nil: one line per series over all rows.
    public var groupBy: String?
    /// Draw y = x as the theory line (for measured-vs-predicted plots).
    public var diagonal: Bool
    /// Only the rows whose columns have these values (e.g. one slice of a 2-D grid).
    public var only: [String: Double]
    /// Only the rows where each of these columns takes its largest value: a slice of a grid
    /// whose values the figure does not know in advance.
    public var atLargest: [String]

    public init(
        file: String, title: String, table: String, x: String, xLabel: String, yLabel: String, series: [Series],
        logX: Bool = false, logY: Bool = false, groupBy: String? = nil, diagonal: Bool = false, only: [String: Double] = [:],
        atLargest: [String] = []
    ) {
        self.only = only
        self.atLargest = atLargest
        self.file = file
        self.title = title
        self.table = table
        self.x = x
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.logX = logX
        self.logY = logY
        self.groupBy = groupBy
        self.diagonal = diagonal
    }
}
