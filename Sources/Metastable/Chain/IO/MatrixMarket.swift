/// Matrix Market `coordinate real general` files, as `scipy.io.mmwrite` writes a sparse
/// matrix: entry (i, j), 1-based, is the probability of the step i -> j.
///
///     %%MatrixMarket matrix coordinate real general
///     % comments
///     3 3 5
///     1 1 5E-1
///     ...
///
/// `integer` values are accepted too (counts, with `normalize`). Other headers are
/// rejected: `pattern` has no probabilities, `complex` makes no sense, and a symmetric
/// storage would mirror entries that a transition matrix does not have.
struct MatrixMarketReader {
    static let header = "%%MatrixMarket matrix coordinate real general"

    private let bytes: UnsafeBufferPointer<UInt8>
    private let file: String
    /// Positioned after the size line.
    private let entryLines: LineReader
    /// Where the size line is, for messages about it.
    let sizeLine: Int
    private let integerValues: Bool
    let stateCount: Int
    let declaredEntries: Int

    /// Reads the header and the size line.
    init(_ bytes: UnsafeBufferPointer<UInt8>, file: String) throws(ChainError) {
        self.bytes = bytes
        self.file = file
        var lines = LineReader(bytes)
        var fields: [Range<Int>] = []

        guard let first = lines.next() else {
            throw ChainError(.badHeader, "empty file: expected the header \"\(Self.header)\"", file: file, line: 1)
        }
        bytes.splitBlanks(first, limit: 6, into: &fields)
        guard let banner = fields.first, bytes.equalsIgnoringCase(banner, "%%MatrixMarket") else {
            throw ChainError(.badHeader, "expected the Matrix Market header \"\(Self.header)\", found \(bytes.quoted(first))", file: file, line: 1)
        }
        func unsupported(_ why: String) -> ChainError {
            ChainError(.badHeader, "unsupported Matrix Market header \(bytes.quoted(first)): \(why)", file: file, line: 1)
        }
        guard fields.count == 5 else {
            throw unsupported("expected 5 words, as in \"\(Self.header)\"")
        }
        guard bytes.equalsIgnoringCase(fields[1], "matrix") else {
            throw unsupported("object \(bytes.quoted(fields[1])) is not \"matrix\"")
        }
        guard bytes.equalsIgnoringCase(fields[2], "coordinate") else {
            throw unsupported("format \(bytes.quoted(fields[2])) is not \"coordinate\"; write the matrix as a sparse one (scipy.io.mmwrite does for scipy.sparse matrices)")
        }
        if bytes.equalsIgnoringCase(fields[3], "integer") {
            integerValues = true
        } else if bytes.equalsIgnoringCase(fields[3], "real") {
            integerValues = false
        } else {
            throw unsupported("field \(bytes.quoted(fields[3])) is not \"real\" or \"integer\": transitions need probabilities")
        }
        guard bytes.equalsIgnoringCase(fields[4], "general") else {
            throw unsupported("symmetry \(bytes.quoted(fields[4])) is not \"general\": a transition matrix stores every entry")
        }

        guard let size = lines.nextContent(commentMarker: UInt8(ascii: "%")) else {
            throw ChainError(.badHeader, "the file ends before the size line \"rows columns entries\"", file: file, line: lines.lineNumber)
        }
        sizeLine = lines.lineNumber
        bytes.splitBlanks(size, limit: 4, into: &fields)
        guard fields.count == 3, let rows = bytes.parseUnsigned(fields[0]), let columns = bytes.parseUnsigned(fields[1]),
              let entries = bytes.parseUnsigned(fields[2])
        else {
            throw ChainError(.badHeader, "malformed size line \(bytes.quoted(size)): expected \"rows columns entries\", three non-negative integers", file: file, line: sizeLine)
        }
        guard rows == columns else {
            throw ChainError(.inconsistent, "the matrix is \(rows) x \(columns) (size line \(bytes.quoted(size))): a transition matrix is square", file: file, line: sizeLine)
        }
        guard rows > 0 else {
            throw ChainError(.empty, "the size line \(bytes.quoted(size)) declares no states", file: file, line: sizeLine)
        }
        guard rows <= chainStateLimit else {
            throw ChainError(.tooLarge, "the size line \(bytes.quoted(size)) declares \(rows) states: at most \(chainStateLimit) are supported", file: file, line: sizeLine)
        }
        stateCount = rows
        declaredEntries = entries
        entryLines = lines
    }

    /// The number of entries worth reserving: what the size line declares, bounded by the
    /// shortest entry line ("1 1 1\n") fitting in the rest of the file.
    var capacityHint: Int { min(declaredEntries, bytes.count / 6 + 1) }

    /// Validates every entry line and calls `body(line, row, column, probability)` with
    /// 0-based states. Can run again: it always starts after the size line.
    func forEachEntry(_ body: (_ line: Int, _ row: Int, _ column: Int, _ probability: Double) -> Void) throws(ChainError) {
        var lines = entryLines
        var fields: [Range<Int>] = []
        fields.reserveCapacity(4)
        var read = 0
        while let line = lines.nextContent(commentMarker: UInt8(ascii: "%")) {
            do throws(ChainError) {
                guard read < declaredEntries else {
                    throw ChainError(.badCount, "more entries than the \(declaredEntries) declared on line \(sizeLine): \(bytes.quoted(line))")
                }
                bytes.splitBlanks(line, limit: 4, into: &fields)
                guard fields.count == 3 else {
                    throw ChainError(.badLine, "expected an entry \"row column value\", found \(bytes.quoted(line))")
                }
                let row = try index(fields[0], "row")
                let column = try index(fields[1], "column")
                if integerValues, !bytes.isSignedInteger(fields[2]) {
                    throw ChainError(.badProbability, "value \(bytes.quoted(fields[2])) is not an integer, as the header's \"integer\" field requires")
                }
                body(lines.lineNumber, row, column, try probability(bytes, fields[2]))
            } catch {
                throw error.located(file: file, line: lines.lineNumber)
            }
            read += 1
        }
        guard read == declaredEntries else {
            throw ChainError(.badCount, "the file ends after \(read) of the \(declaredEntries) entries declared on line \(sizeLine)", file: file, line: lines.lineNumber)
        }
    }

    /// The line of the last entry of `row` (0-based), if any.
    func lineOfLastEntry(row: Int) -> Int? {
        var last: Int?
        try? forEachEntry { line, r, _, _ in if r == row { last = line } }
        return last
    }

    private func index(_ field: Range<Int>, _ name: String) throws(ChainError) -> Int {
        guard let i = bytes.parseUnsigned(field) else {
            throw ChainError(.badLine, "\(name) index \(bytes.quoted(field)) is not a positive integer")
        }
        guard i >= 1, i <= stateCount else {
            throw ChainError(.badState, "\(name) index \(bytes.quoted(field)) is out of range 1...\(stateCount)")
        }
        return i - 1
    }
}

enum MatrixMarketWriter {
    /// Writes every transition, implicit uniform parts expanded, with values in their
    /// shortest round-trip form.
    static func encode<Failure>(_ chain: Chain, to sink: ([UInt8]) throws(Failure) -> Void) throws(Failure) {
        var out = ChunkedOutput()
        out.append(MatrixMarketReader.header)
        out.endLine()
        out.append("% metastable chain: \(chain.stateCount) states")
        out.endLine()
        out.append("\(chain.stateCount) \(chain.stateCount) \(chain.transitionCount)")
        out.endLine()
        for x in 0..<chain.stateCount {
            chain.forEachTransition(from: x) { y, p, _ in
                out.append(x + 1)
                out.append(byte: UInt8(ascii: " "))
                out.append(y + 1)
                out.append(byte: UInt8(ascii: " "))
                out.append(p)
                out.endLine()
            }
            try out.flushIfFull(sink)
        }
        try out.flush(sink)
    }
}
