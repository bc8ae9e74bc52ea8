/// One row of a linear system in GTH (Grassmann–Taksar–Heyman) form:
///
///     out(x)·v_x = b_x + Σ_{y≠x} w(x, y)·v_y,   out(x) = absorbed(x) + Σ_{y≠x} w(x, y),
///
/// with every w(x, y) ≥ 0 and absorbed(x) ≥ 0: the mass x sends to states whose value is
/// zero (targets, the outside of a cluster). A substochastic chain I − Q is of this form once
/// its self-loops are dropped, with out(x) summed from the off-diagonal terms instead of
/// computed as 1 − q(x, x). Eliminating a node then only ever adds non-negative numbers, which
/// is what keeps full relative accuracy however ill-conditioned the system is.
struct GTHRow: Sendable {
    /// Other nodes of the system, distinct, none equal to the row's own node.
    var columns: [Int32]
    var weights: [Double]
    var absorbed: Double
}

/// The factors of a GTH elimination, kept to solve the same system for other right-hand sides.
///
/// Eliminating node x with pivot out(x) records its row (the U part: weights to nodes still
/// present) and the multipliers f(i, x) = w(i, x) / out(x) of the rows that pointed to it (the
/// L part). Eliminations come in segments: runs of sparse single-node steps, and dense fronts
/// where the rest of a phase was eliminated as one dense block.
struct GTHFactor: Sendable {
    enum Segment: Sendable {
        /// Sparse steps `range` (indices into `pivotNodes`).
        case sparse(Range<Int>)
        /// `fronts[index]`.
        case dense(Int)
    }

    let nodeCount: Int
    private(set) var segments: [Segment] = []

    private(set) var pivotNodes: [Int32] = []
    private(set) var pivots: [Double] = []
    private(set) var upperOffsets: [Int] = [0]
    private(set) var upperColumns: [Int32] = []
    private(set) var upperWeights: [Double] = []
    private(set) var lowerOffsets: [Int] = [0]
    private(set) var lowerRows: [Int32] = []
    private(set) var lowerFactors: [Double] = []

    private(set) var fronts: [DenseFront] = []

    init(nodeCount: Int) { self.nodeCount = nodeCount }

    // MARK: Recording

    mutating func beginSparseStep(node: Int32, pivot: Double) {
        pivotNodes.append(node)
        pivots.append(pivot)
    }

    mutating func appendUpper(_ column: Int32, _ weight: Double) {
        upperColumns.append(column)
        upperWeights.append(weight)
    }

    mutating func appendLower(_ row: Int32, _ factor: Double) {
        lowerRows.append(row)
        lowerFactors.append(factor)
    }

    mutating func endSparseStep() {
        upperOffsets.append(upperColumns.count)
        lowerOffsets.append(lowerRows.count)
        let step = pivotNodes.count - 1
        if case .sparse(let range)? = segments.last, range.upperBound == step {
            segments[segments.count - 1] = .sparse(range.lowerBound..<step + 1)
        } else {
            segments.append(.sparse(step..<step + 1))
        }
    }

    mutating func append(_ front: DenseFront) {
        fronts.append(front)
        segments.append(.dense(fronts.count - 1))
    }

    // MARK: Solving

    /// Solves A v = b in place: `x` holds b on entry (one value per node) and v on exit.
    ///
    /// Nodes that were never eliminated keep their value; they must be zero (targets) or not
    /// referenced by the system. Subtraction-free when b ≥ 0.
    func solve(_ x: inout [Double]) {
        precondition(x.count == nodeCount)
        x.withUnsafeMutableBufferPointer { x in
            // L y = b, in elimination order.
            for segment in segments {
                switch segment {
                case .sparse(let steps):
                    for s in steps {
                        let v = x[Int(pivotNodes[s])]
                        guard v != 0 else { continue }
                        for e in lowerOffsets[s]..<lowerOffsets[s + 1] {
                            x[Int(lowerRows[e])] += lowerFactors[e] * v
                        }
                    }
                case .dense(let f):
                    fronts[f].forward(x)
                }
            }
            // U v = y, in reverse order.
            for segment in segments.reversed() {
                switch segment {
                case .sparse(let steps):
                    for s in steps.reversed() {
                        var sum = x[Int(pivotNodes[s])]
                        for e in upperOffsets[s]..<upperOffsets[s + 1] {
                            sum += upperWeights[e] * x[Int(upperColumns[e])]
                        }
                        x[Int(pivotNodes[s])] = sum / pivots[s]
                    }
                case .dense(let f):
                    fronts[f].backward(x)
                }
            }
        }
    }

    /// Solves Aᵀ z = c in place. With c a start distribution, z_x is the expected number of
    /// steps spent at x before absorption (the Green's function). Subtraction-free when c ≥ 0.
    func solveTransposed(_ x: inout [Double]) {
        precondition(x.count == nodeCount)
        x.withUnsafeMutableBufferPointer { x in
            // Uᵀ u = c, in elimination order.
            for segment in segments {
                switch segment {
                case .sparse(let steps):
                    for s in steps {
                        let node = Int(pivotNodes[s])
                        let v = x[node] / pivots[s]
                        x[node] = v
                        guard v != 0 else { continue }
                        for e in upperOffsets[s]..<upperOffsets[s + 1] {
                            x[Int(upperColumns[e])] += upperWeights[e] * v
                        }
                    }
                case .dense(let f):
                    fronts[f].forwardTransposed(x)
                }
            }
            // Lᵀ z = u, in reverse order.
            for segment in segments.reversed() {
                switch segment {
                case .sparse(let steps):
                    for s in steps.reversed() {
                        var sum = x[Int(pivotNodes[s])]
                        for e in lowerOffsets[s]..<lowerOffsets[s + 1] {
                            sum += lowerFactors[e] * x[Int(lowerRows[e])]
                        }
                        x[Int(pivotNodes[s])] = sum
                    }
                case .dense(let f):
                    fronts[f].backwardTransposed(x)
                }
            }
        }
    }
}

/// A block of a phase eliminated densely: `nodes[0..<eliminated]` in that order, while the
/// rows of the kept nodes `nodes[eliminated...]` (those that have one here) received updates.
///
/// `upper` holds the eliminated rows, `eliminated × count` row-major: row j has the
/// multipliers f(j, c) for c < j, the pivot at c = j, and the weights w(j, c) for c > j.
/// `keptLower` holds the multipliers of the kept rows, `(count − eliminated) × eliminated`
/// (zero for kept nodes that are only columns here).
struct DenseFront: Sendable {
    let nodes: [Int32]
    let eliminated: Int
    let upper: [Double]
    let keptLower: [Double]

    var count: Int { nodes.count }

    /// y_j = b_j + Σ_{c<j} f(j, c) y_c, then the kept rows' b += their multipliers · y.
    func forward(_ x: UnsafeMutableBufferPointer<Double>) {
        let n = count, r = eliminated
        withScratch { y in
            upper.withUnsafeBufferPointer { u in
                for j in 0..<r {
                    var sum = x[Int(nodes[j])]
                    let row = u.baseAddress! + j * n
                    for c in 0..<j { sum += row[c] * y[c] }
                    y[j] = sum
                    x[Int(nodes[j])] = sum
                }
            }
            keptLower.withUnsafeBufferPointer { l in
                for k in 0..<(n - r) {
                    var sum = 0.0
                    let row = l.baseAddress! + k * r
                    for c in 0..<r { sum += row[c] * y[c] }
                    x[Int(nodes[r + k])] += sum
                }
            }
        }
    }

    /// v_j = (y_j + Σ_{c>j} w(j, c) v_c) / pivot_j, in reverse order.
    func backward(_ x: UnsafeMutableBufferPointer<Double>) {
        let n = count, r = eliminated
        withScratch { v in
            for (j, node) in nodes.enumerated() { v[j] = x[Int(node)] }
            upper.withUnsafeBufferPointer { u in
                for j in stride(from: r - 1, through: 0, by: -1) {
                    let row = u.baseAddress! + j * n
                    var sum = v[j]
                    for c in (j + 1)..<n { sum += row[c] * v[c] }
                    v[j] = sum / row[j]
                    x[Int(nodes[j])] = v[j]
                }
            }
        }
    }

    /// Uᵀ: u_j = c_j / pivot_j, then c_k += w(j, k) u_j for k > j.
    func forwardTransposed(_ x: UnsafeMutableBufferPointer<Double>) {
        let n = count, r = eliminated
        withScratch { c in
            for (j, node) in nodes.enumerated() { c[j] = x[Int(node)] }
            upper.withUnsafeBufferPointer { u in
                for j in 0..<r {
                    let row = u.baseAddress! + j * n
                    let v = c[j] / row[j]
                    c[j] = v
                    guard v != 0 else { continue }
                    for k in (j + 1)..<n { c[k] += row[k] * v }
                }
            }
            for (j, node) in nodes.enumerated() { x[Int(node)] = c[j] }
        }
    }

    /// Lᵀ: z_j = u_j + Σ_{i>j} f(i, j) z_i, in reverse order.
    func backwardTransposed(_ x: UnsafeMutableBufferPointer<Double>) {
        let n = count, r = eliminated
        withScratch { z in
            for (j, node) in nodes.enumerated() { z[j] = x[Int(node)] }
            upper.withUnsafeBufferPointer { u in
                keptLower.withUnsafeBufferPointer { l in
                    for j in stride(from: r - 1, through: 0, by: -1) {
                        var sum = z[j]
                        for i in (j + 1)..<r { sum += u[i * n + j] * z[i] }
                        for k in 0..<(n - r) { sum += l[k * r + j] * z[r + k] }
                        z[j] = sum
                        x[Int(nodes[j])] = sum
                    }
                }
            }
        }
    }

    /// A temporary vector of `count` values, zeroed.
    private func withScratch(_ body: (UnsafeMutableBufferPointer<Double>) -> Void) {
        withUnsafeTemporaryAllocation(of: Double.self, capacity: count) { buffer in
            buffer.initialize(repeating: 0)
            body(buffer)
        }
    }
}
