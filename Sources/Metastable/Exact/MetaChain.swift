/// The exact cluster-level chain (paper-notes §5): one step of the chain from the uniform law
/// on a cluster, read at the cluster level,
///
///     q(k, l) = Σ_{x∈C_k} π_k(x) Σ_{y∈C_l} p(x, y),   π_k uniform on C_k,
///
/// and, per cluster, the exact law of the first exit from the uniform start: which cluster is
/// entered, and after how many steps on average. Distillation must preserve those escape
/// probabilities; they are what a K×K model fitted to cluster-level transitions estimates.
///
/// Rows are sparse (K can be 10⁴). The diagonal q(k, k) is summed from the mass that stays in
/// C_k, not computed as 1 − Σ_{l≠k} q(k, l), so small off-diagonal entries keep their digits
/// and the diagonal keeps its own.
public struct MetaChain: Sendable {
    public let clusterCount: Int
    /// `clusterCount + 1` offsets into `destinations` and `probabilities`.
    public let rowOffsets: [Int]
    /// The clusters l ≠ k with q(k, l) > 0, increasing within each row.
    public let destinations: [Int]
    public let probabilities: [Double]
    /// q(k, k).
    public let stay: [Double]

    private let chain: Chain
    private let labels: ClusterLabels

    /// - Throws: `.badLabel` when the chain has no cluster labels.
    public init(_ chain: Chain) throws(ChainError) {
        guard let labels = chain.clusters else {
            throw ChainError(.badLabel, "the meta-chain needs cluster labels; the chain has none")
        }
        self.chain = chain
        self.labels = labels
        clusterCount = labels.clusterCount
        var offsets = [0], destinations = [Int](), probabilities = [Double](), stay = [Double]()
        var mass = [Double](repeating: 0, count: labels.clusterCount)
        var touched = [Int]()
        for k in 0..<labels.clusterCount {
            var inside = 0.0
            for m in labels.members(of: k) {
                let x = Int(m)
                inside += chain.uniformMass(of: x)
                for e in chain.entries(of: x) {
                    let l = labels[Int(chain.columns[e])]
                    if l == k {
                        inside += chain.probabilities[e]
                    } else {
                        if mass[l] == 0 { touched.append(l) }
                        mass[l] += chain.probabilities[e]
                    }
                }
            }
            let size = Double(labels.size(of: k))
            for l in touched.sorted() {
                destinations.append(l)
                probabilities.append(mass[l] / size)
                mass[l] = 0
            }
            touched.removeAll(keepingCapacity: true)
            offsets.append(destinations.count)
            stay.append(inside / size)
        }
        rowOffsets = offsets
        self.destinations = destinations
        self.probabilities = probabilities
        self.stay = stay
    }

    /// q(k, l); 0 for clusters out of range.
    public func probability(from k: Int, to l: Int) -> Double {
        guard (0..<clusterCount).contains(k), (0..<clusterCount).contains(l) else { return 0 }
        if k == l { return stay[k] }
        let row = destinations[rowOffsets[k]..<rowOffsets[k + 1]]
        guard let i = row.firstIndex(of: l) else { return 0 }
        return probabilities[i]
    }

    /// The law of the cluster entered when the walk first leaves C_k, started uniformly on C_k.
    public func escapeDistribution(from k: Int) throws(ChainError) -> ClusterExit.Destinations {
        try exit(from: k).destinations
    }

    /// The expected number of steps before the walk first leaves C_k, started uniformly on C_k.
    public func expectedExitTime(from k: Int) throws(ChainError) -> Double {
        try exit(from: k).expectedTime
    }

    /// The first exit from C_k, started uniformly on C_k, computed exactly.
    ///
    /// One GTH elimination of the cluster (everything outside absorbing), then one transposed
    /// solve for the expected visits z_x from the uniform start: the exit time is Σ_x z_x and
    /// the probability of entering C_l is Σ_x z_x·p(x, C_l). Subtraction-free throughout.
    /// - Throws: `.badLabel` for a cluster out of range, `.unreachable` when some state of C_k
    ///   has no path out of it (the walk may never leave).
    public func exit(from k: Int) throws(ChainError) -> ClusterExit {
        guard (0..<clusterCount).contains(k) else {
            throw ChainError(.badLabel, "cluster \(k) is out of range 0..<\(clusterCount)")
        }
        let members = labels.members(of: k).map(Int.init)
        let size = members.count
        var local = [Int: Int32](minimumCapacity: size)
        for (i, x) in members.enumerated() { local[x] = Int32(i) }
        let hasHub = members.contains { chain.uniformMass(of: $0) > 0 }
        let hub = Int32(size)

        var rows = [GTHRow]()
        rows.reserveCapacity(size + 1)
        for x in members {
            var row = GTHRow(columns: [], weights: [], absorbed: 0)
            for e in chain.entries(of: x) {
                let y = Int(chain.columns[e])
                if let j = local[y] {
                    if y != x { row.columns.append(j); row.weights.append(chain.probabilities[e]) }
                } else {
                    row.absorbed += chain.probabilities[e]
                }
            }
            let u = chain.uniformMass(of: x)
            if u > 0 { row.columns.append(hub); row.weights.append(u) }
            rows.append(row)
        }
        if hasHub {
            let share = 1 / Double(size)
            rows.append(GTHRow(
                columns: (0..<Int32(size)).map { $0 }, weights: Array(repeating: share, count: size), absorbed: 0))
        }
        if let stuck = Self.stateWithoutExit(rows, size: size) {
            throw ChainError(
                .unreachable,
                "the walk started uniformly on cluster \(k) may never leave it: no path leads out of the cluster from state \(members[stuck])",
                row: members[stuck])
        }

        var eliminator = GTHEliminator(nodeCount: rows.count)
        do {
            _ = try eliminator.eliminate((0..<Int32(rows.count)).map { $0 }, keptRows: []) { rows[Int($0)] }
        } catch {
            throw ChainError(.unreachable, "the exit from cluster \(k) takes longer than the double range (~1.8e308 steps)")
        }
        var visits = [Double](repeating: 0, count: rows.count)
        for i in 0..<size { visits[i] = 1 / Double(size) }
        eliminator.factor.solveTransposed(&visits)

        var time = 0.0
        var mass = [Int: Double]()
        for (i, x) in members.enumerated() {
            time += visits[i]
            for e in chain.entries(of: x) {
                let l = labels[Int(chain.columns[e])]
                if l != k { mass[l, default: 0] += visits[i] * chain.probabilities[e] }
            }
        }
        let destinations = mass.keys.sorted()
        return ClusterExit(
            cluster: k, expectedTime: time,
            destinations: .init(clusters: destinations, probabilities: destinations.map { mass[$0]! }))
    }

    /// A local state from which no path leaves the cluster, if any (reverse search from the
    /// states with mass outside; the hub, when present, is node `size`).
    private static func stateWithoutExit(_ rows: [GTHRow], size: Int) -> Int? {
        var predecessors = [[Int32]](repeating: [], count: rows.count)
        for (i, row) in rows.enumerated() {
            for c in row.columns { predecessors[Int(c)].append(Int32(i)) }
        }
        var leaves = rows.map { $0.absorbed > 0 }
        var queue = (0..<rows.count).filter { leaves[$0] }
        var head = 0
        while head < queue.count {
            let y = queue[head]
            head += 1
            for x in predecessors[y] where !leaves[Int(x)] {
                leaves[Int(x)] = true
                queue.append(Int(x))
            }
        }
        return (0..<size).first { !leaves[$0] }
    }
}

/// How a walk started uniformly on a cluster first leaves it.
public struct ClusterExit: Sendable, Equatable {
    /// The law of the cluster entered: clusters in increasing order, their probabilities
    /// (summing to 1 up to rounding).
    public struct Destinations: Sendable, Equatable {
        public let clusters: [Int]
        public let probabilities: [Double]

        /// The probability of entering `cluster` (0 if it is not a neighbour).
        public func probability(of cluster: Int) -> Double {
            clusters.firstIndex(of: cluster).map { probabilities[$0] } ?? 0
        }
    }

    public let cluster: Int
    /// E[number of steps before leaving], counting the steps that stay in place.
    public let expectedTime: Double
    public let destinations: Destinations
}
