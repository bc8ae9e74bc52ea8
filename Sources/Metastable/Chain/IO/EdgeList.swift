/// Edge-list CSV files: one transition per line, `from,to,probability[,kind]`, with
/// 0-based states and `kind` one of `dense`, `sparse`, `decoy`.
///
/// An optional first line names the columns (`from,to,probability` or with `,kind`).
/// Blank lines and lines starting with `#` are skipped.
struct EdgeListReader {
    static let header = "from,to,probability"
    static let headerWithKind = "from,to,probability,kind"

    private let bytes: UnsafeBufferPointer<UInt8>
    private let file: String
    /// Positioned after the header, if any.
    private let entryLines: LineReader
    /// 3 or 4, when a header says; otherwise the first entry line decides.
    private let headerFieldCount: Int?
    /// The state count the caller gave; otherwise it is the largest state + 1.
    private let givenStateCount: Int?

    /// Reads the header, if there is one.
    init(_ bytes: UnsafeBufferPointer<UInt8>, file: String, stateCount: Int?) throws(ChainError) {
        self.bytes = bytes
        self.file = file
        if let stateCount {
            guard stateCount > 0 else {
                throw ChainError(.empty, "a chain needs at least one state, not \(stateCount)", file: file)
            }
            guard stateCount <= chainStateLimit else {
                throw ChainError(.tooLarge, "\(stateCount) states: at most \(chainStateLimit) are supported", file: file)
            }
        }
        givenStateCount = stateCount

        var lines = LineReader(bytes)
        let start = lines
        var fields: [Range<Int>] = []
        guard let first = lines.nextContent(commentMarker: UInt8(ascii: "#")) else {
            (entryLines, headerFieldCount) = (start, nil)
            return
        }
        // Entry lines start with a number; anything else must be the header.
        if let byte = bytes[first].first, byte &- 48 <= 9 || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") {
            (entryLines, headerFieldCount) = (start, nil)
            return
        }
        bytes.splitCommas(first, limit: 5, into: &fields)
        let names = ["from", "to", "probability", "kind"]
        guard fields.count == 3 || fields.count == 4,
              zip(fields, names).allSatisfy({ bytes.equalsIgnoringCase($0, $1) })
        else {
            throw ChainError(
                .badHeader, "expected the header \"\(Self.header)\" or \"\(Self.headerWithKind)\", found \(bytes.quoted(first))",
                file: file, line: lines.lineNumber)
        }
        (entryLines, headerFieldCount) = (lines, fields.count)
    }

    /// The number of entries worth reserving: the shortest entry line ("0,0,1\n") is 6 bytes.
    var capacityHint: Int { bytes.count / 6 + 1 }

    /// Validates every entry line and calls `body(line, from, to, probability, kind)`.
    /// Can run again: it always starts after the header.
    /// - Returns: the number of states: the one given, or the largest state + 1.
    @discardableResult
    func forEachEntry(
        _ body: (_ line: Int, _ from: Int, _ to: Int, _ probability: Double, _ kind: EdgeKind) -> Void
    ) throws(ChainError) -> Int {
        var lines = entryLines
        var fields: [Range<Int>] = []
        fields.reserveCapacity(5)
        var fieldCount = headerFieldCount
        var largest = -1
        while let line = lines.nextContent(commentMarker: UInt8(ascii: "#")) {
            do throws(ChainError) {
                bytes.splitCommas(line, limit: 5, into: &fields)
                if fieldCount == nil, fields.count == 3 || fields.count == 4 { fieldCount = fields.count }
                guard fields.count == fieldCount else {
                    let expected = fieldCount == 4 ? Self.headerWithKind : fieldCount == 3 ? Self.header : "from,to,probability[,kind]"
                    throw ChainError(.badLine, "expected an entry \"\(expected)\", found \(bytes.quoted(line))")
                }
                let from = try state(fields[0], "from")
                let to = try state(fields[1], "to")
                let p = try probability(bytes, fields[2])
                var kind = EdgeKind.dense
                if fields.count == 4 {
                    guard let named = EdgeKind(name: bytes.text(fields[3])) else {
                        throw ChainError(.badLine, "kind \(bytes.quoted(fields[3])) is not one of dense, sparse, decoy")
                    }
                    kind = named
                }
                largest = max(largest, from, to)
                body(lines.lineNumber, from, to, p, kind)
            } catch {
                throw error.located(file: file, line: lines.lineNumber)
            }
        }
        return givenStateCount ?? largest + 1
    }

    /// The line of the last entry of `row`, if any.
    func lineOfLastEntry(row: Int) -> Int? {
        var last: Int?
        _ = try? forEachEntry { line, from, _, _, _ in if from == row { last = line } }
        return last
    }

    private func state(_ field: Range<Int>, _ name: String) throws(ChainError) -> Int {
        guard let s = bytes.parseUnsigned(field) else {
            throw ChainError(.badLine, "\(name) state \(bytes.quoted(field)) is not a non-negative integer")
        }
        if let givenStateCount {
            guard s < givenStateCount else {
                throw ChainError(.badState, "\(name) state \(bytes.quoted(field)) is out of range 0..<\(givenStateCount)")
            }
        } else {
            guard s < chainStateLimit else {
                throw ChainError(.tooLarge, "\(name) state \(bytes.quoted(field)) is too large: at most \(chainStateLimit) states are supported")
            }
        }
        return s
    }
}

enum EdgeListWriter {
    /// Writes a header and every transition, implicit uniform parts expanded.
    static func encode<Failure>(_ chain: Chain, to sink: ([UInt8]) throws(Failure) -> Void) throws(Failure) {
        var out = ChunkedOutput()
        out.append(EdgeListReader.headerWithKind)
        out.endLine()
        for x in 0..<chain.stateCount {
            chain.forEachTransition(from: x) { y, p, kind in
                out.append(x)
                out.append(byte: UInt8(ascii: ","))
                out.append(y)
                out.append(byte: UInt8(ascii: ","))
                out.append(p)
                out.append(byte: UInt8(ascii: ","))
                out.append(kind.description)
                out.endLine()
            }
            try out.flushIfFull(sink)
        }
        try out.flush(sink)
    }
}
