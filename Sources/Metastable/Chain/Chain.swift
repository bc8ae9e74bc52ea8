/// What kind of step an edge is, in the paper's vocabulary.
public enum EdgeKind: UInt8, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// An easy step inside a cluster (the dense kernel).
    case dense = 0
    /// A hard step between clusters, taken with a small probability.
    case sparse = 1
    /// A low-probability edge inside a cluster: looks hard locally, is not.
    case decoy = 2

    public var description: String {
        switch self {
        case .dense: "dense"
        case .sparse: "sparse"
        case .decoy: "decoy"
        }
    }

    /// Merged duplicate entries keep the hardest kind: sparse over decoy over dense.
    var hardness: Int {
        switch self {
        case .dense: 0
        case .decoy: 1
        case .sparse: 2
        }
    }

    public init?(name: String) {
        switch name.lowercased() {
        case "dense": self = .dense
        case "sparse": self = .sparse
        case "decoy": self = .decoy
        default: return nil
        }
    }
}

/// A finite discrete-time Markov chain on states `0..<stateCount`.
///
/// Row `x` is stored as explicit CSR entries (sorted, distinct columns) plus an optional
/// implicit part: `uniformMass[x]` spread evenly over the states of `x`'s own cluster. The
/// implicit part is how the `uniform` dense kernel is represented without storing M entries
/// per row. So
///
///     p(x, y) = Σ explicit (x, y) + (y in cluster(x) ? uniformMass[x] / |cluster(x)| : 0).
///
/// A `Chain` is always valid: the initializer checks every invariant (sizes, ids, finite
/// non-negative probabilities, rows summing to 1) and throws a `ChainError` otherwise.
public struct Chain: Sendable, RowAccess {
    /// Tolerance on each row's sum.
    public static let rowSumTolerance = 1e-9

    public let stateCount: Int
    /// `stateCount + 1` offsets into `columns`, `probabilities` and `kinds`.
    public let rowOffsets: [Int]
    public let columns: [UInt32]
    public let probabilities: [Double]
    public let kinds: [EdgeKind]
    /// Per state, the probability mass spread uniformly over its own cluster; empty when
    /// no row has an implicit part.
    public let uniformMass: [Double]
    /// Cluster labels, when known. Without them the cluster-level observers say so.
    public let clusters: ClusterLabels?

    /// Creates a chain from CSR rows, validating every invariant.
    ///
    /// Columns inside a row may come in any order and may repeat: entries are sorted and
    /// duplicates merged (probabilities added, the hardest kind kept).
    /// - Parameter normalize: rescale every row to sum to exactly 1 instead of rejecting
    ///   rows whose sum is off by more than `rowSumTolerance`.
    public init(
        stateCount: Int,
        rowOffsets: [Int],
        columns: [UInt32],
        probabilities: [Double],
        kinds: [EdgeKind]? = nil,
        uniformMass: [Double] = [],
        clusters: ClusterLabels? = nil,
        normalize: Bool = false
    ) throws(ChainError) {
        guard stateCount > 0 else { throw ChainError(.empty, "a chain needs at least one state") }
        guard stateCount <= Int(UInt32.max >> 1) else {
            throw ChainError(.tooLarge, "\(stateCount) states: at most \(UInt32.max >> 1) are supported")
        }
        guard rowOffsets.count == stateCount + 1, rowOffsets.first == 0, rowOffsets.last == columns.count else {
            throw ChainError(.inconsistent, "row offsets do not match \(stateCount) states and \(columns.count) entries")
        }
        // Non-decreasing offsets from 0 to columns.count keep every row inside the arrays.
        if let x = (0..<stateCount).first(where: { rowOffsets[$0] > rowOffsets[$0 + 1] }) {
            throw ChainError(.inconsistent, "row offsets decrease at row \(x)", row: x)
        }
        guard probabilities.count == columns.count else {
            throw ChainError(.inconsistent, "\(columns.count) columns but \(probabilities.count) probabilities")
        }
        let kinds = kinds ?? [EdgeKind](repeating: .dense, count: columns.count)
        guard kinds.count == columns.count else {
            throw ChainError(.inconsistent, "\(columns.count) columns but \(kinds.count) edge kinds")
        }
        guard uniformMass.isEmpty || uniformMass.count == stateCount else {
            throw ChainError(.inconsistent, "uniform mass given for \(uniformMass.count) of \(stateCount) states")
        }
        if let clusters {
            guard clusters.labels.count == stateCount else {
                throw ChainError(.inconsistent, "\(clusters.labels.count) cluster labels for \(stateCount) states")
            }
        } else if uniformMass.contains(where: { $0 != 0 }) {
            throw ChainError(.inconsistent, "a uniform-within-cluster part needs cluster labels")
        }

        var outOffsets = [Int](repeating: 0, count: stateCount + 1)
        var outColumns = [UInt32]()
        var outProbabilities = [Double]()
        var outKinds = [EdgeKind]()
        outColumns.reserveCapacity(columns.count)
        outProbabilities.reserveCapacity(columns.count)
        outKinds.reserveCapacity(columns.count)
        var outUniform = uniformMass

        var order = [Int]()
        for x in 0..<stateCount {
            let lo = rowOffsets[x], hi = rowOffsets[x + 1]
            order.removeAll(keepingCapacity: true)
            order.append(contentsOf: lo..<hi)
            var sum = uniformMass.isEmpty ? 0 : uniformMass[x]
            guard sum.isFinite, sum >= 0 else {
                throw ChainError(.badProbability, "uniform mass \(sum) of state \(x) is not a probability", row: x)
            }
            for e in order {
                let p = probabilities[e]
                guard p.isFinite, p >= 0 else {
                    throw ChainError(.badProbability, "entry (\(x), \(columns[e])) has probability \(p)", row: x)
                }
                guard Int(columns[e]) < stateCount else {
                    throw ChainError(.badState, "entry (\(x), \(columns[e])): state \(columns[e]) is out of range 0..<\(stateCount)", row: x)
                }
                sum += p
            }
            if normalize {
                guard sum > 0 else { throw ChainError(.badRowSum, "row \(x) is empty and cannot be normalized", row: x) }
                guard sum.isFinite else { throw ChainError(.badRowSum, "row \(x) sums to \(sum) and cannot be normalized", row: x) }
            } else if abs(sum - 1) > Chain.rowSumTolerance {
                throw ChainError(.badRowSum, "row \(x) sums to \(sum), not 1 (tolerance \(Chain.rowSumTolerance))", row: x)
            }
            // Dividing (not multiplying by 1/sum) stays finite for tiny sums.
            let divisor = normalize ? sum : 1
            if !outUniform.isEmpty { outUniform[x] /= divisor }
            order.sort { columns[$0] < columns[$1] }
            var last: UInt32? = nil
            for e in order {
                let p = probabilities[e] / divisor
                if p == 0 { continue }
                if columns[e] == last {
                    outProbabilities[outProbabilities.count - 1] += p
                    if kinds[e].hardness > outKinds[outKinds.count - 1].hardness { outKinds[outKinds.count - 1] = kinds[e] }
                } else {
                    outColumns.append(columns[e])
                    outProbabilities.append(p)
                    outKinds.append(kinds[e])
                    last = columns[e]
                }
            }
            outOffsets[x + 1] = outColumns.count
        }
        self.stateCount = stateCount
        self.rowOffsets = outOffsets
        self.columns = outColumns
        self.probabilities = outProbabilities
        self.kinds = outKinds
        self.uniformMass = outUniform.allSatisfy { $0 == 0 } ? [] : outUniform
        self.clusters = clusters
    }

    /// Number of explicit entries.
    public var entryCount: Int { columns.count }

    /// The explicit entries of row `x`.
    @inlinable
    public func entries(of x: Int) -> Range<Int> { rowOffsets[x]..<rowOffsets[x + 1] }

    public func column(_ e: Int) -> Int { Int(columns[e]) }
    public func probability(_ e: Int) -> Double { probabilities[e] }
    public func kind(_ e: Int) -> EdgeKind { kinds[e] }

    /// The uniform-within-cluster mass of row `x` (0 when the row has none).
    @inlinable
    public func uniformMass(of x: Int) -> Double { uniformMass.isEmpty ? 0 : uniformMass[x] }

    /// p(x, y), including the implicit uniform part.
    public func probability(from x: Int, to y: Int) -> Double {
        var p = 0.0
        let row = entries(of: x)
        var lo = row.lowerBound, hi = row.upperBound
        while lo < hi {
            let mid = (lo + hi) / 2
            if Int(columns[mid]) < y { lo = mid + 1 } else { hi = mid }
        }
        if lo < row.upperBound, Int(columns[lo]) == y { p += probabilities[lo] }
        let u = uniformMass(of: x)
        if u > 0, let clusters, clusters.labels[x] == clusters.labels[y] {
            p += u / Double(clusters.size(of: Int(clusters.labels[x])))
        }
        return p
    }

    /// Calls `body(y, p(x, y), kind)` once for every y with p(x, y) > 0, in increasing y.
    /// Implicit uniform parts are expanded (and merged with explicit entries).
    public func forEachTransition(from x: Int, _ body: (Int, Double, EdgeKind) throws -> Void) rethrows {
        let row = entries(of: x)
        let u = uniformMass(of: x)
        guard u > 0, let clusters else {
            for e in row { try body(Int(columns[e]), probabilities[e], kinds[e]) }
            return
        }
        let c = Int(clusters.labels[x])
        let share = u / Double(clusters.size(of: c))
        let members = clusters.members(of: c) // sorted increasing
        var e = row.lowerBound
        var m = members.startIndex
        while e < row.upperBound || m < members.endIndex {
            let ye = e < row.upperBound ? Int(columns[e]) : Int.max
            let ym = m < members.endIndex ? Int(members[m]) : Int.max
            if ye < ym {
                try body(ye, probabilities[e], kinds[e]); e += 1
            } else if ym < ye {
                try body(ym, share, .dense); m += 1
            } else {
                try body(ye, probabilities[e] + share, kinds[e]); e += 1; m += 1
            }
        }
    }

    /// A copy with other cluster labels (or none). Fails if the chain has an implicit
    /// uniform part, whose meaning depends on the labels, or the labels do not fit.
    public func withClusters(_ clusters: ClusterLabels?) throws(ChainError) -> Chain {
        guard uniformMass.isEmpty else {
            throw ChainError(.inconsistent, "the chain has a uniform-within-cluster part; its cluster labels cannot change")
        }
        if let clusters, clusters.labels.count != stateCount {
            throw ChainError(.inconsistent, "\(clusters.labels.count) cluster labels for \(stateCount) states")
        }
        return Chain(
            validatedStateCount: stateCount, rowOffsets: rowOffsets, columns: columns, probabilities: probabilities,
            kinds: kinds, uniformMass: uniformMass, clusters: clusters)
    }

    /// The same chain with every implicit uniform part written out as explicit entries.
    public func expanded() -> Chain {
        guard !uniformMass.isEmpty else { return self }
        var offsets = [0]
        var cols = [UInt32](), probs = [Double](), ks = [EdgeKind]()
        offsets.reserveCapacity(stateCount + 1)
        for x in 0..<stateCount {
            forEachTransition(from: x) { y, p, k in
                cols.append(UInt32(y)); probs.append(p); ks.append(k)
            }
            offsets.append(cols.count)
        }
        // The rows were valid before; expansion only moves mass between representations.
        return Chain(
            validatedStateCount: stateCount, rowOffsets: offsets, columns: cols, probabilities: probs, kinds: ks,
            uniformMass: [], clusters: clusters)
    }

    /// Memberwise, for rows already known to satisfy every invariant.
    init(
        validatedStateCount stateCount: Int, rowOffsets: [Int], columns: [UInt32], probabilities: [Double],
        kinds: [EdgeKind], uniformMass: [Double], clusters: ClusterLabels?
    ) {
        self.stateCount = stateCount
        self.rowOffsets = rowOffsets
        self.columns = columns
        self.probabilities = probabilities
        self.kinds = kinds
        self.uniformMass = uniformMass
        self.clusters = clusters
    }
}
