/// Expected hitting times of a target set from every state, to full double precision.
///
/// Solves (I − P_T) h = 1 on the states outside the target T (h = 0 on T). The system of a
/// metastable chain is extremely ill-conditioned (κ ≈ E[τ], 10¹² and more), so general-purpose
/// solvers fail: stationary iterations need ~E[τ] sweeps, ILU-Krylov stalls, a plain LU loses
/// digits. Two things make it exact:
///
/// 1. GTH elimination (Grassmann–Taksar–Heyman): the equations are written as
///    out(x)·h_x = 1 + Σ_{y∉T} p(x, y)·h_y with out(x) summed from the off-diagonal
///    probabilities (including those into T), never as 1 − p(x, x). Eliminating a state only
///    adds non-negative numbers, so every pivot and every entry keeps full relative accuracy.
/// 2. Iterative refinement with the residual in difference form,
///    (A h)_x = p(x, T)·h_x + Σ_{y∉T} p(x, y)·(h_x − h_y), which is accurate where the plain
///    residual is pure rounding noise; the corrections reuse the stored factors.
///
/// The elimination order is what makes it fast. With cluster labels (`Method.clusters`) each
/// cluster's interior (its states that no other cluster points to) is eliminated first, a
/// cluster at a time: dense blocks for dense kernels, while a uniform kernel stays sparse
/// through one hub node per cluster (see `HittingSystem`). What is left is a system on the
/// entry states only, eliminated sparsely in minimum-degree order. Cost: about Σ_k |C_k|³/3
/// flops and Σ_k |C_k|² stored doubles for dense kernels (10⁴ clusters of 100 states: ~3·10⁹
/// flops, 0.8 GB), O(|C_k|) per uniform cluster, plus the entry-state system, which is cheap
/// for path-like cluster graphs (`chain`, `tree`) and grows like a dense matrix of ~K entry
/// states for expanding ones (`random`, `complete`). `Method.general` eliminates the whole
/// chain in minimum-degree order, for chains without labels: fine up to ~10⁵ states with short
/// rows, but its fill, and so its time and memory, grows quickly with clusters that mix well.
public struct ExactSolver: Sendable {
    public enum Method: Sendable, Hashable, CustomStringConvertible {
        /// `clusters` when the chain has cluster labels, else `general`.
        case automatic
        /// Cluster interiors first, then the system on the entry states.
        case clusters
        /// One sparse elimination of the whole chain in minimum-degree order.
        case general

        public var description: String {
            switch self {
            case .automatic: "automatic"
            case .clusters: "cluster elimination"
            case .general: "sparse elimination"
            }
        }
    }

    public var method: Method
    /// Refinement steps at most; at least one is always made, to estimate the error.
    public var maxRefinementSteps: Int

    public init(method: Method = .automatic, maxRefinementSteps: Int = 6) {
        self.method = method
        self.maxRefinementSteps = maxRefinementSteps
    }

    /// Hitting times with the default solver.
    public static func hittingTimes(_ chain: Chain, target: TargetSet) throws(ChainError) -> HittingTimeSolution {
        try ExactSolver().hittingTimes(chain, target: target)
    }

    /// E_x[τ_T] for every state x: 0 on T, +∞ where T is not reached with probability 1.
    ///
    /// - Throws: `.badState` if `target` was built for a chain with other states, `.badLabel`
    ///   for `Method.clusters` on a chain without labels, `.unreachable` if a hitting time
    ///   overflows the double range.
    public func hittingTimes(_ chain: Chain, target: TargetSet) throws(ChainError) -> HittingTimeSolution {
        let n = chain.stateCount
        guard target.bits.count == (n + 63) / 64, let last = target.states.last, last < n else {
            throw ChainError(.badState, "the target set was built for a chain with another number of states than \(n)")
        }
        let resolved: Method
        switch method {
        case .automatic: resolved = chain.clusters == nil ? .general : .clusters
        case .clusters:
            guard chain.clusters != nil else {
                throw ChainError(.badLabel, "the cluster elimination needs cluster labels; the chain has none")
            }
            resolved = .clusters
        case .general: resolved = .general
        }

        let system = HittingSystem(chain: chain, target: target)
        let factor: GTHFactor
        do {
            factor = resolved == .clusters ? try Self.factorByClusters(system) : try Self.factorWhole(system)
        } catch {
            throw Self.breakdown(at: error.node, in: system)
        }

        var h = system.ones()
        factor.solve(&h)
        let unknowns = (0..<n).filter(system.isUnknown)
        if let bad = unknowns.first(where: { !h[$0].isFinite || h[$0] <= 0 }) {
            throw Self.breakdown(at: Int32(bad), in: system)
        }
        var steps = 0
        var estimate = Double.infinity
        while steps < max(1, maxRefinementSteps) {
            var correction = system.residual(h)
            factor.solve(&correction)
            var size = 0.0
            for x in unknowns { size = max(size, abs(correction[x]) / h[x]) }
            for i in 0..<h.count { h[i] += correction[i] }
            steps += 1
            let previous = estimate
            estimate = size
            // Stop at the noise floor: tiny, or no longer shrinking.
            if !(size > 1e-15) || size > previous / 2 { break }
        }

        var times = [Double](repeating: 0, count: n)
        for x in 0..<n where !target.contains(x) {
            times[x] = system.isUnknown(x) ? h[x] : .infinity
        }
        return HittingTimeSolution(
            hittingTimes: times, errorEstimate: estimate, refinementSteps: steps, method: resolved,
            deadEnds: system.deadEnds)
    }

    /// Interiors cluster by cluster, then the entry states: states another cluster points to.
    static func factorByClusters(_ system: HittingSystem) throws(SingularPivot) -> GTHFactor {
        let chain = system.chain
        let labels = chain.clusters!
        var isEntry = [Bool](repeating: false, count: chain.stateCount)
        for x in 0..<chain.stateCount where system.isUnknown(x) {
            for e in chain.entries(of: x) {
                let y = Int(chain.columns[e])
                if labels[y] != labels[x], system.isUnknown(y) { isEntry[y] = true }
            }
        }
        var eliminator = GTHEliminator(nodeCount: system.nodeCount)
        var entries = [Int32]()
        var entryRows = [Int32: GTHRow]()
        for k in 0..<labels.clusterCount {
            var interior = [Int32](), kept = [Int32]()
            for m in labels.members(of: k) where system.isUnknown(Int(m)) {
                if isEntry[Int(m)] { kept.append(Int32(m)) } else { interior.append(Int32(m)) }
            }
            if !system.hubs.isEmpty, system.hubs[k] >= 0 { interior.append(system.hubs[k]) }
            let reduced = try eliminator.eliminate(interior, keptRows: kept, row: system.row)
            for (e, row) in zip(kept, reduced) { entryRows[e] = row }
            entries += kept
        }
        _ = try eliminator.eliminate(entries, keptRows: []) { entryRows[$0]! }
        return eliminator.factor
    }

    static func factorWhole(_ system: HittingSystem) throws(SingularPivot) -> GTHFactor {
        var eliminator = GTHEliminator(nodeCount: system.nodeCount)
        _ = try eliminator.eliminate(system.unknowns, keptRows: [], row: system.row)
        return eliminator.factor
    }

    /// Reachability is checked first, so this means the numbers left the double range.
    static func breakdown(at node: Int32, in system: HittingSystem) -> ChainError {
        let n = system.chain.stateCount
        let what = Int(node) < n ? "state \(node)" : "the uniform part of cluster \(system.hubs.firstIndex(of: node) ?? -1)"
        return ChainError(
            .unreachable, "the elimination broke down at \(what): hitting times beyond the double range (~1.8e308)",
            row: Int(node) < n ? Int(node) : nil)
    }
}

/// The expected hitting times of a target set from every state, and how far to trust them.
public struct HittingTimeSolution: Sendable {
    /// E_x[τ_T] per state: 0 on the target, +∞ where the walk can reach a state with no path
    /// to the target (then the target is missed with positive probability).
    public let hittingTimes: [Double]
    /// max_x |last correction_x| / h_x over finite hitting times: the relative size of the last
    /// refinement correction, an upper estimate of the error left before it was applied.
    public let errorEstimate: Double
    public let refinementSteps: Int
    /// The method that ran (`automatic` resolved).
    public let method: ExactSolver.Method
    /// See `Reachability.deadEnds`.
    let deadEnds: [Int32]

    /// E[τ_T] for a walk started from `start`.
    ///
    /// - Throws: `.unreachable` naming a start state from which the target is not hit with
    ///   probability 1 (so E[τ] = ∞), and the dead end that walk can reach; `.badState` for a
    ///   start state outside the chain.
    public func expected(from start: StartDistribution) throws(ChainError) -> Double {
        var sum = 0.0
        for (s, p) in zip(start.states, start.probabilities) {
            guard s < hittingTimes.count else {
                throw ChainError(.badState, "start state \(s) is out of range 0..<\(hittingTimes.count)")
            }
            guard hittingTimes[s].isFinite else { throw unreachable(from: s) }
            sum += p * hittingTimes[s]
        }
        return sum
    }

    func unreachable(from s: Int) -> ChainError {
        let dead = Int(deadEnds[s])
        let why = dead == s
            ? "no path leads from state \(s) to the target"
            : "from state \(s) the walk can reach state \(dead), from which no path leads to the target"
        return ChainError(.unreachable, "the target is not reached with probability 1 (E[τ] = ∞): \(why)", row: s)
    }
}
