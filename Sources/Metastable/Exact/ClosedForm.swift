/// Exact expected hitting times of the `uniform` kernel with the `chain` topology, in closed
/// form: the independent reference the solver is checked against.
///
/// The structure is read off the chain itself: cluster labels, an implicit uniform part
/// (the rest of each row), and every explicit entry goes from cluster k to cluster k + 1 (any number of sources
/// per cluster, any ε per edge, no decoys). The targets must lie in one cluster k*.
///
/// Derivation. Write ε_x = Σ_y p(x, y) for the explicit (sparse) mass of x, so that
/// u_x = 1 − ε_x is its uniform mass, and H(x) = E_x[τ_T]. For a cluster C_k with k < k*
/// (no targets in it), with A_k the mean of H over C_k:
///
///     H(x) = 1 + u_x·A_k + Σ_y p(x, y)·H(y)                    (y ∈ C_{k+1})
///
/// Averaging over C_k, and using the mean of 1 − u_x = mean of ε_x:
///
///     A_k = (|C_k| + Σ_{x∈C_k} Σ_y p(x, y)·H(y)) / E_k,        E_k = Σ_{x∈C_k} ε_x.
///
/// A_k depends only on H in C_{k+1}, so the recursion runs from C_{k*} down to C_0. Landing
/// states that are themselves sources are covered: their H is computed with C_{k+1}.
/// In C_{k*} with m target states among |C_{k*}|: if C_{k*} has no sparse edges, a
/// non-target state jumps to a uniform state of the cluster until it hits one of the m
/// targets, H(x) = |C_{k*}|/m (geometric; M for a single target state). If it has sparse
/// edges and m < |C_{k*}|, the walk leaves C_{k*} with positive probability and never comes
/// back (edges only go forward): H = ∞ there and below. States of clusters after k* never
/// reach the target: H = ∞. Every term above is a sum of non-negative numbers, but the error
/// grows by a few rounding units per cluster crossed: ~10⁻¹⁵ for K = 5, ~7·10⁻¹⁴ measured for
/// K = 1000 (where the solver, checked against an 80-bit evaluation, stays at 2·10⁻¹⁶).
///
/// Leading order: A_k ≈ |C_k|/E_k, so from C_0 to a state of C_{K−1} with n_out sources of
/// probability ε per cluster, E[τ] ≈ (K − 1)·M/(n_out·ε).
public enum ClosedForm {
    /// E[τ_T] from `start`, or nil when the chain or target does not have the structure above.
    /// +∞ when the walk misses the target with positive probability.
    public static func hittingTime(chain: some RowAccess, start: StartDistribution, target: TargetSet) -> Double? {
        guard let h = hittingTimes(chain: chain, target: target),
            start.states.allSatisfy({ $0 < chain.stateCount })
        else { return nil }
        var sum = 0.0
        for (s, p) in zip(start.states, start.probabilities) { sum += p * h[s] }
        return sum
    }

    /// E_x[τ_T] for every state, or nil when the structure does not apply.
    public static func hittingTimes(chain: some RowAccess, target: TargetSet) -> [Double]? {
        guard let structure = Structure(chain: chain, target: target) else { return nil }
        let labels = structure.labels
        let targetCluster = structure.targetCluster
        var h = [Double](repeating: .infinity, count: chain.stateCount)
        for t in target.states { h[t] = 0 }

        let members = labels.members(of: targetCluster)
        let m = target.states.count
        if m < members.count, structure.sparseMass[targetCluster] == 0 {
            for x in members where !target.contains(Int(x)) { h[Int(x)] = Double(members.count) / Double(m) }
        }
        for k in stride(from: targetCluster - 1, through: 0, by: -1) {
            let cluster = labels.members(of: k)
            var landing = 0.0
            for x in cluster {
                for e in chain.entries(of: Int(x)) { landing += chain.probability(e) * h[chain.column(e)] }
            }
            // E_k = 0: nothing leaves C_k, A_k = ∞.
            let mean = (Double(cluster.count) + landing) / structure.sparseMass[k]
            for x in cluster.map(Int.init) {
                var hx = 1.0
                let u = chain.uniformMass(of: x)
                if u > 0 { hx += u * mean } // u = 0 with mean = ∞ would give NaN
                for e in chain.entries(of: x) { hx += chain.probability(e) * h[chain.column(e)] }
                h[x] = hx
            }
        }
        return h
    }

    /// Σ_k |C_k|/E_k over the clusters a walk from `start` crosses before the target's: the
    /// leading term, for display next to the exact value. nil when the structure does not apply.
    public static func leadingOrder(chain: some RowAccess, start: StartDistribution, target: TargetSet) -> Double? {
        guard let structure = Structure(chain: chain, target: target),
            start.states.allSatisfy({ $0 < chain.stateCount })
        else { return nil }
        let labels = structure.labels
        var escapes = [Double](repeating: 0, count: structure.targetCluster + 1)
        for k in stride(from: structure.targetCluster - 1, through: 0, by: -1) {
            escapes[k] = escapes[k + 1] + Double(labels.size(of: k)) / structure.sparseMass[k]
        }
        var sum = 0.0
        for (s, p) in zip(start.states, start.probabilities) {
            sum += p * (labels[s] <= structure.targetCluster ? escapes[labels[s]] : .infinity)
        }
        return sum
    }

    /// (K − 1)·M / (n_out·ε): the textbook leading order from C_0 to a state of C_{K−1}.
    public static func leadingOrder(clusters: Int, clusterSize: Int, sources: Int, epsilon: Double) -> Double {
        Double(clusters - 1) * Double(clusterSize) / (Double(sources) * epsilon)
    }

    /// E[τ] to the whole cluster `targetCluster` of the procedural chain of `ProceduralWalk`
    /// (source and landing state at index 0 of each cluster) from a state of `startCluster`,
    /// its source or not, without a Chain.
    ///
    /// The recursion above with E_k = ε and the landing state a source: write h_k for H at the
    /// source of C_k, h_{k*} = 0 (it lies in the target). Then A_k = M/ε + h_{k+1} and
    ///
    ///     h_k = 1 + (1 − ε)·A_k + ε·h_{k+1} = d + h_{k+1},      d = 1 + (1 − ε)·M/ε,
    ///
    /// so h_c = (k* − c)·d, and a non-source state of C_c has H = 1 + A_c = 1 + M/ε + (k* − c − 1)·d.
    /// A start in the target cluster gives 0, one after it +∞ (edges only go forward).
    ///
    /// Other topologies (every landing state being a source, each stay in a cluster starts at
    /// its source): a source with d sparse edges leaves after
    ///
    ///     a(d) = (1 + (1 − d·ε)·(M − 1)) / (d·ε)
    ///
    /// steps in expectation (a(1) = d above), and a non-source start first needs M steps to
    /// reach the source. Then E[τ] = Σ_j N_j·a(d_j) + (start a source ? 0 : M), with N_j the
    /// expected stays in cluster j of the meta-walk, which moves to a uniform successor:
    /// - `complete`: from any other cluster the target comes next with probability 1/(K − 1),
    ///   so K − 1 stays, all with d = K − 1.
    /// - `chain-bidirectional`: a simple random walk on 0...K−1 reflected at the ends (d = 1
    ///   there, 2 inside). Towards a target T > c (the other side mirrors): from j ≥ 1 it
    ///   escapes to T before returning with probability 1/(2(T − j)), from 0 with 1/T, and
    ///   reaches j < c before T with probability (T − c)/(T − j). So N_j = 2(T − j) for
    ///   c ≤ j < T (N_0 = T when c = 0) and N_j = 2(T − c) for 1 ≤ j < c, N_0 = T − c.
    public static func proceduralHittingTime(
        topology: Topology = .chain, clusters: UInt64, clusterSize: UInt64, epsilon: Double, startCluster c: UInt64,
        startIsSource: Bool, targetCluster: UInt64
    ) -> Double {
        guard c != targetCluster else { return 0 }
        let m = Double(clusterSize)
        let toSource = startIsSource ? 0 : m
        func a(_ d: Double) -> Double { (1 + (1 - d * epsilon) * (m - 1)) / (d * epsilon) }
        switch topology {
        case .complete:
            let others = Double(clusters - 1)
            return others * a(others) + toSource
        case .chainBidirectional:
            // Mirrored so that the target lies above the start.
            let (t, s) = targetCluster > c ? (Double(targetCluster), Double(c)) : (Double(clusters - 1 - targetCluster), Double(clusters - 1 - c))
            let inner = t - s
            if s == 0 { return t * a(1) + t * (t - 1) * a(2) + toSource }
            return inner * a(1) + (2 * inner * (s - 1) + inner * (inner + 1)) * a(2) + toSource
        default:
            guard c < targetCluster else { return .infinity } // edges only go forward
            // a(1) and a(1) + M, written as in the recursion: fewer rounding steps.
            let d = 1 + (1 - epsilon) * m / epsilon
            if startIsSource { return Double(targetCluster - c) * d }
            return 1 + m / epsilon + Double(targetCluster - c - 1) * d
        }
    }

    /// What the recursion needs, when the chain has the closed-form structure.
    private struct Structure {
        let labels: ClusterLabels
        let targetCluster: Int
        /// E_k per cluster.
        let sparseMass: [Double]

        init?(chain: some RowAccess, target: TargetSet) {
            guard let labels = chain.clusters, (0..<chain.stateCount).contains(where: { chain.uniformMass(of: $0) > 0 }),
                target.bits.count == (chain.stateCount + 63) / 64,
                let first = target.states.first, let last = target.states.last, last < chain.stateCount,
                target.states.allSatisfy({ labels[$0] == labels[first] })
            else { return nil }
            var sparseMass = [Double](repeating: 0, count: labels.clusterCount)
            for x in 0..<chain.stateCount {
                for e in chain.entries(of: x) {
                    guard labels[chain.column(e)] == labels[x] + 1 else { return nil }
                    sparseMass[labels[x]] += chain.probability(e)
                }
            }
            self.labels = labels
            targetCluster = labels[first]
            self.sparseMass = sparseMass
        }
    }
}
