/// A pivot that came out zero or not finite: the node cannot reach absorption (or the numbers
/// overflowed). Callers rule the first case out beforehand, so this is a safety net.
struct SingularPivot: Error, Sendable {
    let node: Int32
}

/// Eliminates a GTH system phase by phase and records the factors.
///
/// A phase eliminates a set of nodes while keeping others: rows of kept nodes that point into
/// the set receive the updates (their Schur complement is returned), columns of kept nodes are
/// carried along. Inside a phase the order is greedy minimum degree (Markowitz cost:
/// predecessors × row length, ties by node); once the cheapest pivot costs about as much as
/// eliminating the rest densely, the rest becomes one dense front. Every pivot is summed from
/// its row (GTH), never computed by subtraction, and self-loops created by fill are dropped.
///
/// The caller guarantees that no row outside the phase (eliminated nodes plus kept rows)
/// points to a node the phase eliminates.
struct GTHEliminator {
    private(set) var factor: GTHFactor
    /// Global node → index in the current phase, −1 outside it.
    private var local: [Int32]

    init(nodeCount: Int) {
        factor = GTHFactor(nodeCount: nodeCount)
        local = [Int32](repeating: -1, count: nodeCount)
    }

    /// Eliminates `nodes`, updating the rows of `keptRows`, and returns the kept rows as they
    /// are afterwards (same order). `row` gives the current row of any node of either list.
    mutating func eliminate(
        _ nodes: [Int32], keptRows: [Int32], row: (Int32) -> GTHRow
    ) throws(SingularPivot) -> [GTHRow] {
        var phase = Phase(nodes: nodes, keptRows: keptRows, local: &local, row: row)
        defer { for g in phase.global { local[Int(g)] = -1 } }
        return try phase.run(into: &factor)
    }
}

/// The working state of one phase, in phase-local indices: `0..<eliminatedCount` are the
/// nodes to eliminate, `eliminatedCount..<rowCount` the kept rows, the rest kept columns.
private struct Phase {
    var global: [Int32] = []
    let eliminatedCount: Int
    let rowCount: Int

    // Rows as first given, CSR.
    var offsets: [Int] = [0]
    var columns: [Int32] = []
    var weights: [Double] = []
    var absorbed: [Double] = []

    // Sparse working rows, built only when some step is sparse.
    var sparse = false
    var rows: [[Int32: Double]] = []
    var predecessors: [Set<Int32>] = []
    var done: [Bool]
    var heap = MinHeap()

    init(nodes: [Int32], keptRows: [Int32], local: inout [Int32], row: (Int32) -> GTHRow) {
        eliminatedCount = nodes.count
        rowCount = nodes.count + keptRows.count
        let rowNodes = nodes + keptRows
        global.reserveCapacity(rowCount)
        for g in rowNodes {
            local[Int(g)] = Int32(global.count)
            global.append(g)
        }
        for g in rowNodes {
            let r = row(g)
            for (c, w) in zip(r.columns, r.weights) where w > 0 && c != g {
                if local[Int(c)] < 0 {
                    local[Int(c)] = Int32(global.count)
                    global.append(c)
                }
                columns.append(local[Int(c)])
                weights.append(w)
            }
            offsets.append(columns.count)
            absorbed.append(r.absorbed)
        }
        done = [Bool](repeating: false, count: eliminatedCount)
    }

    func isEliminated(_ i: Int32) -> Bool { Int(i) < eliminatedCount }

    /// Cost of eliminating `x` next: rows it updates × entries each update adds.
    func cost(_ x: Int) -> Int { MinHeap.clamp(predecessors[x].count * rows[x].count) }

    mutating func run(into factor: inout GTHFactor) throws(SingularPivot) -> [GTHRow] {
        let r = eliminatedCount
        guard r > 0 else { return keptRows() }
        var predecessorCounts = [Int](repeating: 0, count: r)
        for c in columns where isEliminated(c) { predecessorCounts[Int(c)] += 1 }
        // Dense from the start (a dense kernel's cluster) skips building the sparse rows.
        let cheapest = (0..<r).map { predecessorCounts[$0] * (offsets[$0 + 1] - offsets[$0]) }.min()!
        if Self.denseIsCheaper(cost: cheapest, remaining: r) {
            return try eliminateDensely(Array(0..<r), into: &factor)
        }
        buildSparseRows()
        for x in 0..<r { heap.push(cost: cost(x), node: x) }
        var remaining = r
        while let (c, x) = heap.popMin() {
            guard !done[x], c == cost(x) else { continue } // stale entry
            if Self.denseIsCheaper(cost: c, remaining: remaining) {
                return try eliminateDensely((0..<r).filter { !done[$0] }, into: &factor)
            }
            try eliminateSparse(x, into: &factor)
            remaining -= 1
        }
        return keptRows()
    }

    /// Eliminating the rest sparsely costs at least remaining × cost dictionary updates (each
    /// worth ~40 dense multiply-adds), densely about remaining³/3 multiply-adds.
    static func denseIsCheaper(cost: Int, remaining: Int) -> Bool {
        remaining > 1 && Double(cost) * 128 >= Double(remaining) * Double(remaining)
    }

    mutating func buildSparseRows() {
        sparse = true
        rows = (0..<rowCount).map { i in
            var row = [Int32: Double](minimumCapacity: offsets[i + 1] - offsets[i])
            for e in offsets[i]..<offsets[i + 1] { row[columns[e], default: 0] += weights[e] }
            return row
        }
        predecessors = [Set<Int32>](repeating: [], count: eliminatedCount)
        for i in 0..<rowCount {
            for e in offsets[i]..<offsets[i + 1] where isEliminated(columns[e]) {
                predecessors[Int(columns[e])].insert(Int32(i))
            }
        }
    }

    mutating func eliminateSparse(_ x: Int, into factor: inout GTHFactor) throws(SingularPivot) {
        // Sorted, so that sums and records do not depend on hashing.
        let entries = rows[x].sorted { $0.key < $1.key }
        var pivot = absorbed[x]
        for e in entries { pivot += e.value }
        guard pivot > 0, pivot.isFinite else { throw SingularPivot(node: global[x]) }
        factor.beginSparseStep(node: global[x], pivot: pivot)
        for e in entries { factor.appendUpper(global[Int(e.key)], e.value) }
        for i32 in predecessors[x].sorted() {
            let i = Int(i32)
            let f = rows[i].removeValue(forKey: Int32(x))! / pivot
            factor.appendLower(global[i], f)
            absorbed[i] += f * absorbed[x]
            for e in entries where e.key != i32 { // i -> x -> i is a self-loop: dropped
                rows[i][e.key, default: 0] += f * e.value
                if isEliminated(e.key) { predecessors[Int(e.key)].insert(i32) }
            }
            if i < eliminatedCount { heap.push(cost: cost(i), node: i) }
        }
        factor.endSparseStep()
        done[x] = true
        rows[x] = [:]
        predecessors[x] = []
        for e in entries where isEliminated(e.key) {
            let y = Int(e.key)
            predecessors[y].remove(Int32(x))
            heap.push(cost: cost(y), node: y)
        }
    }

    /// Eliminates `remaining` (increasing local indices) as one dense front.
    mutating func eliminateDensely(_ remaining: [Int], into factor: inout GTHFactor) throws(SingularPivot) -> [GTHRow] {
        let r = remaining.count
        // Front: the remaining nodes, then the kept nodes their rows point to and the kept
        // rows that point into them.
        var position = [Int32](repeating: -1, count: global.count)
        for (j, x) in remaining.enumerated() { position[x] = Int32(j) }
        var kept = Set<Int>()
        for x in remaining {
            forEachEntry(of: x) { c, _ in if !isEliminated(c) { kept.insert(Int(c)) } }
        }
        for i in eliminatedCount..<rowCount {
            var pointsIn = false
            forEachEntry(of: i) { c, _ in if isEliminated(c), position[Int(c)] >= 0 { pointsIn = true } }
            if pointsIn { kept.insert(i) }
        }
        let keptNodes = kept.sorted()
        for (k, i) in keptNodes.enumerated() { position[i] = Int32(r + k) }
        let front = remaining + keptNodes
        let n = front.count

        var matrix = [Double](repeating: 0, count: n * n)
        var frontAbsorbed = [Double](repeating: 0, count: n)
        let hasRow = front.map { $0 < rowCount }
        for (j, x) in front.enumerated() where hasRow[j] {
            frontAbsorbed[j] = absorbed[x]
            forEachEntry(of: x) { c, w in
                let p = Int(position[Int(c)])
                if p >= 0 { matrix[j * n + p] += w }
            }
        }
        try matrix.withUnsafeMutableBufferPointer { m throws(SingularPivot) in
            let a = m.baseAddress!
            for j in 0..<r {
                let rowJ = a + j * n
                var pivot = frontAbsorbed[j]
                for c in (j + 1)..<n { pivot += rowJ[c] }
                guard pivot > 0, pivot.isFinite else { throw SingularPivot(node: global[front[j]]) }
                rowJ[j] = pivot
                for i in (j + 1)..<n where hasRow[i] {
                    let rowI = a + i * n
                    guard rowI[j] != 0 else { continue }
                    let f = rowI[j] / pivot
                    rowI[j] = f
                    frontAbsorbed[i] += f * frontAbsorbed[j]
                    // Updates the diagonal slot too (a dropped self-loop): it is never read.
                    for c in (j + 1)..<n { rowI[c] += f * rowJ[c] }
                }
            }
        }
        var keptLower = [Double](repeating: 0, count: (n - r) * r)
        for k in 0..<(n - r) where hasRow[r + k] {
            for c in 0..<r { keptLower[k * r + c] = matrix[(r + k) * n + c] }
        }
        factor.append(DenseFront(
            nodes: front.map { global[$0] }, eliminated: r, upper: Array(matrix[0..<(r * n)]), keptLower: keptLower))
        for x in remaining { done[x] = true }

        // Kept rows: entries outside the front unchanged, entries inside from the front.
        return (eliminatedCount..<rowCount).map { i in
            let p = Int(position[i])
            guard p >= 0 else { return currentRow(i) }
            var entries = [(Int32, Double)]()
            forEachEntry(of: i) { c, w in if position[Int(c)] < 0 { entries.append((c, w)) } }
            for q in r..<n where q != p && matrix[p * n + q] != 0 {
                entries.append((Int32(front[q]), matrix[p * n + q]))
            }
            return globalRow(entries, absorbed: frontAbsorbed[p])
        }
    }

    func forEachEntry(of i: Int, _ body: (Int32, Double) -> Void) {
        if sparse {
            for (c, w) in rows[i] { body(c, w) }
        } else {
            for e in offsets[i]..<offsets[i + 1] { body(columns[e], weights[e]) }
        }
    }

    func currentRow(_ i: Int) -> GTHRow {
        var entries = [(Int32, Double)]()
        forEachEntry(of: i) { c, w in entries.append((c, w)) }
        return globalRow(entries, absorbed: absorbed[i])
    }

    func keptRows() -> [GTHRow] { (eliminatedCount..<rowCount).map(currentRow) }

    /// Back to global node ids, sorted by them.
    func globalRow(_ entries: [(Int32, Double)], absorbed: Double) -> GTHRow {
        let sorted = entries.map { (global[Int($0.0)], $0.1) }.sorted { $0.0 < $1.0 }
        return GTHRow(columns: sorted.map(\.0), weights: sorted.map(\.1), absorbed: absorbed)
    }
}

/// A binary min-heap of (cost, node) packed into one word; ties go to the smaller node.
private struct MinHeap {
    private var items: [UInt64] = []

    /// Costs are kept in 32 bits.
    static func clamp(_ cost: Int) -> Int { min(cost, Int(UInt32.max)) }

    mutating func push(cost: Int, node: Int) {
        items.append(UInt64(Self.clamp(cost)) << 32 | UInt64(node))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i] < items[parent] else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func popMin() -> (cost: Int, node: Int)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count, items[l] < items[m] { m = l }
                if r < items.count, items[r] < items[m] { m = r }
                guard m != i else { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return (Int(top >> 32), Int(top & 0xFFFF_FFFF))
    }
}
