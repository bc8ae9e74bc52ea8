/// Transitions as read from a file, in file order, before they become a `Chain`.
struct CoordinateEntries {
    var stateCount: Int
    private var rows: [UInt32] = []
    private var columns: [UInt32] = []
    private var probabilities: [Double] = []
    /// Nil when the file has no kind column: every edge is then dense.
    private var kinds: [EdgeKind]?
    /// Files are usually written row by row; then the entries already are CSR order.
    private var rowsAscending = true

    /// - Parameter capacity: the expected number of entries; callers bound it by the file
    ///   size, since it may come from a hostile header.
    init(stateCount: Int, capacity: Int, withKinds: Bool) {
        self.stateCount = stateCount
        rows.reserveCapacity(capacity)
        columns.reserveCapacity(capacity)
        probabilities.reserveCapacity(capacity)
        if withKinds {
            kinds = []
            kinds?.reserveCapacity(capacity)
        }
    }

    var count: Int { rows.count }

    /// Adds an entry whose states the reader has checked against `Chain`'s state limit.
    mutating func append(row: Int, column: Int, probability: Double, kind: EdgeKind = .dense) {
        if let last = rows.last, UInt32(row) < last { rowsAscending = false }
        rows.append(UInt32(row))
        columns.append(UInt32(column))
        probabilities.append(probability)
        kinds?.append(kind)
    }

    /// Builds the chain, with every error located in `file`.
    ///
    /// - Parameters:
    ///   - indexBase: how the file numbers states (1 for Matrix Market), for messages.
    ///   - lineOfLastEntry: the line of the last entry of a row, to locate a bad row sum.
    ///     Only called on failure, so it may scan the file again.
    func makeChain(
        file: String, normalize: Bool, indexBase: Int,
        lineOfLastEntry: (Int) -> Int?
    ) throws(ChainError) -> Chain {
        func inFile(_ state: Int) -> String {
            indexBase == 0 ? "" : " (row \(state + indexBase) in the file)"
        }
        guard stateCount > 0 else { throw ChainError(.empty, "no transitions: a chain needs at least one state", file: file) }
        // Every state needs a row. Checked before allocating per-state arrays: with more
        // states than entries some row is certainly empty, and a hostile size line may
        // declare billions of states.
        if stateCount > count {
            let empty = firstMissing(in: rows)
            throw ChainError(.badRowSum, "state \(empty)\(inFile(empty)) has no transitions: every state needs at least one", file: file, row: empty)
        }
        var offsets = [Int](repeating: 0, count: stateCount + 1)
        for r in rows { offsets[Int(r) + 1] += 1 }
        if let empty = (0..<stateCount).first(where: { offsets[$0 + 1] == 0 }) {
            throw ChainError(.badRowSum, "state \(empty)\(inFile(empty)) has no transitions: every state needs at least one", file: file, row: empty)
        }
        for x in 0..<stateCount { offsets[x + 1] += offsets[x] }

        var csrColumns = columns, csrProbabilities = probabilities, csrKinds = kinds
        if !rowsAscending {
            // Stable counting sort by row; `Chain` sorts columns inside each row.
            var next = offsets
            for e in 0..<count {
                let r = Int(rows[e])
                csrColumns[next[r]] = columns[e]
                csrProbabilities[next[r]] = probabilities[e]
                if let kinds { csrKinds?[next[r]] = kinds[e] }
                next[r] += 1
            }
        }
        do {
            return try Chain(
                stateCount: stateCount, rowOffsets: offsets, columns: csrColumns, probabilities: csrProbabilities,
                kinds: csrKinds, normalize: normalize)
        } catch {
            guard let row = error.row else { throw error.located(file: file) }
            var located = error.located(file: file, line: lineOfLastEntry(row))
            if indexBase != 0 { located.message = "state \(row)\(inFile(row)): " + located.message }
            throw located
        }
    }
}

/// The smallest non-negative integer not in `values`.
private func firstMissing(in values: [UInt32]) -> Int {
    var candidate: UInt32 = 0
    for v in values.sorted() {
        if v == candidate { candidate += 1 } else if v > candidate { break }
    }
    return Int(candidate)
}

/// The most states a `Chain` can have.
let chainStateLimit = Int(UInt32.max >> 1)

/// A transition probability: a finite, non-negative number.
func probability(_ bytes: UnsafeBufferPointer<UInt8>, _ field: Range<Int>) throws(ChainError) -> Double {
    guard let p = bytes.parseDouble(field) else {
        throw ChainError(.badProbability, "probability \(bytes.quoted(field)) is not a number")
    }
    guard p.isFinite else { throw ChainError(.badProbability, "probability \(bytes.quoted(field)) is not finite") }
    guard p >= 0 else { throw ChainError(.badProbability, "probability \(bytes.quoted(field)) is negative") }
    return p
}
