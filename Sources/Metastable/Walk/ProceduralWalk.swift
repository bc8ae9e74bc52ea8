/// Walks on a procedural chain (`GeneratorSpec.procedural`), whose rows are computed from the
/// state when the walk is there, so no edge is stored and K·M can reach 10¹⁰ and beyond.
///
/// The family is the generator's uniform kernel with one source per cluster at a fixed ε, on
/// the `chain`, `chain-bidirectional` or `complete` topology. State `k·M + i` is state i of
/// cluster k, and its row is
///
///     p(x, ·) = (1 − d_k·ε)·uniform(C_k) + ε·Σ_{l ∈ succ(k)} δ_{l·M}   for the source i = 0,
///     p(x, ·) = uniform(C_k)                                             for every other state,
///
/// with succ(k) the topology's d_k successors of k (k + 1; k − 1 and k + 1; every other
/// cluster): the rows `GeneratorSpec.generate()` stores for the same K, M, topology and ε
/// (the uniform part includes x itself), except that the source and its landing state are
/// index 0 of their cluster instead of being drawn from the seed: a choice that needs no
/// table, so memory stays constant in K·M. The chain's `seed` therefore plays no part.
///
/// Walk i draws from `WalkRandom(seed:, domain: .walk, index: i)` only, as `WalkTask`'s walks
/// do, so a batch gives the same result on any thread, worker or machine.
public struct ProceduralWalk: Sendable {
    /// The spec the walk was made from, for reports.
    public let chain: GeneratorSpec
    public let clusters: UInt64
    public let clusterSize: UInt64
    public let epsilon: Double
    public let start: UInt64
    public let targetCluster: UInt64
    public let maxSteps: UInt64
    public let seed: UInt64
    /// A source takes its sparse edge when its draw is below this: probability ε up to 2⁻⁶⁴.
    private let sparseThreshold: UInt64

    /// Checks the chain, start and target, naming the field at fault.
    ///
    /// The start must be one state and the target one whole cluster: a state set or a
    /// start distribution over 10¹⁰ states could not be held either.
    public init(chain: GeneratorSpec, start: StartSpec, target: TargetSpec, maxSteps: UInt64, seed: UInt64) throws(SpecError) {
        guard chain.procedural else { throw SpecError(field: "chain.procedural", "the chain is not procedural") }
        do {
            try chain.validate()
        } catch {
            throw SpecError(field: "chain", error.message)
        }
        guard case .fixed(let epsilon) = chain.epsilon else {
            throw SpecError(field: "chain.epsilon", "a procedural chain needs a fixed ε")
        }
        let clusters = UInt64(chain.clusters), clusterSize = UInt64(chain.clusterSize)
        let stateCount = clusters * clusterSize // validate() rules out overflow
        guard case .state(let s) = start else {
            throw SpecError(field: "start", "a procedural chain's walks start from one state: give a state id")
        }
        guard s >= 0, UInt64(s) < stateCount else {
            throw SpecError(field: "start", "state \(s) is outside the chain's \(stateCount) states")
        }
        guard case .cluster(let reference) = target else {
            throw SpecError(field: "target", "a procedural chain's target is one cluster: give {cluster: k}")
        }
        let targetCluster: UInt64
        switch reference {
        case .last: targetCluster = clusters - 1
        case .index(let k):
            guard k >= 0, UInt64(k) < clusters else {
                throw SpecError(field: "target", "cluster \(k) does not exist (the chain has \(clusters) clusters)")
            }
            targetCluster = UInt64(k)
        }
        let startCluster = UInt64(s) / clusterSize
        // On the chain edges only go forward: from a later cluster no walk would ever end but at the cap.
        guard startCluster <= targetCluster || chain.topology != .chain else {
            throw SpecError(
                field: "target",
                "cluster \(targetCluster) cannot be reached from state \(s) in cluster \(startCluster): the chain only moves forward")
        }
        self.chain = chain
        self.clusters = clusters
        self.clusterSize = clusterSize
        self.epsilon = epsilon
        self.start = UInt64(s)
        self.targetCluster = targetCluster
        self.maxSteps = maxSteps
        self.seed = seed
        sparseThreshold = UInt64(epsilon * 0x1p64) // ε < 1, checked by validate()
    }

    /// E[τ] from the start to the target cluster, from `ClosedForm`.
    public var expectedHittingTime: Double {
        ClosedForm.proceduralHittingTime(
            topology: chain.topology, clusters: clusters, clusterSize: clusterSize, epsilon: epsilon,
            startCluster: start / clusterSize, startIsSource: start % clusterSize == 0, targetCluster: targetCluster)
    }

    /// Runs walks `walks` on the calling thread, one after the other: a step reads no
    /// memory, so there are no cache misses for interleaved walkers to hide.
    public func run(walks: Range<Int>) throws(WalkError) -> WalkResult<NoStatistics> {
        guard walks.lowerBound >= 0 else { throw WalkError(.badArgument, "walk indices start at 0, got \(walks)") }
        var times = IntegerSampleAccumulator()
        var steps: UInt64 = 0
        for index in walks {
            var random = WalkRandom(seed: seed, domain: .walk, index: UInt64(index))
            let (t, hit) = walk(&random)
            if hit { times.record(t) } else { times.recordCensored(t) }
            steps &+= t
        }
        return WalkResult(hittingTimes: times, steps: steps, statistics: NoStatistics())
    }

    /// Runs walks `0..<walks` in batches of `batchSize` on `threads` threads, merged in
    /// batch order: the result does not depend on `threads`.
    public func outcome(
        walks: Int, threads: Int, batchSize: Int, progress: (@Sendable (WalkProgress) -> Void)? = nil
    ) throws(WalkError) -> MonteCarloOutcome {
        guard walks >= 0 else { throw WalkError(.badArgument, "the number of walks must be non-negative, got \(walks)") }
        guard threads >= 1 else { throw WalkError(.badArgument, "threads must be at least 1, got \(threads)") }
        guard batchSize >= 1 else { throw WalkError(.badArgument, "the batch size must be at least 1, got \(batchSize)") }
        let batches = try WalkScheduler.run(walks: walks, batchSize: batchSize, threads: threads, progress: progress) {
            (range) throws(WalkError) in try self.run(walks: range)
        }
        var result = WalkResult(hittingTimes: IntegerSampleAccumulator(), steps: 0, statistics: NoStatistics())
        for batch in batches { result.merge(batch) }
        return MonteCarloOutcome(result)
    }

    /// One walk: τ and whether it hit (false: censored at `maxSteps`). The state is kept as
    /// (cluster, index), so the hit test is a comparison and no step divides.
    @inline(__always)
    private func walk(_ random: inout WalkRandom) -> (steps: UInt64, hit: Bool) {
        var k = start / clusterSize, i = start % clusterSize
        var t: UInt64 = 0
        while k != targetCluster {
            guard t < maxSteps else { return (t, false) }
            if i == 0, let next = sparseStep(from: k, random.next()) {
                k = next // lands on index 0 of its cluster: i stays 0
            } else {
                i = random.next(below: clusterSize)
            }
            t &+= 1
        }
        return (t, true)
    }

    /// The cluster a source's draw `u` sends the walk to, or nil for its uniform part: edge
    /// j of succ(k), in the generator's order, takes u in [j·t, (j+1)·t) with t = ε·2⁶⁴.
    @inline(__always)
    private func sparseStep(from k: UInt64, _ u: UInt64) -> UInt64? {
        switch chain.topology {
        case .chain:
            // k < targetCluster <= K − 1 on the chain, so the source has its edge.
            return u < sparseThreshold ? k &+ 1 : nil
        case .chainBidirectional:
            let down = k > 0, up = k &+ 1 < clusters
            guard u < sparseThreshold else {
                return down && up && u < 2 &* sparseThreshold ? k &+ 1 : nil
            }
            return down ? k &- 1 : (up ? k &+ 1 : nil)
        default: // complete (validated): K − 1 edges, (K − 1)·ε < 1
            let j = u / sparseThreshold
            guard j < clusters &- 1 else { return nil }
            return j < k ? j : j &+ 1
        }
    }
}

extension GeneratorSpec {
    /// The procedural family's checks (see `ProceduralWalk`): any other kernel, topology,
    /// source count, decoys or a range of ε would need stored edges or drawn parameters.
    func validateProcedural() throws(ChainError) {
        func bad(_ field: String, _ why: String) -> ChainError { ChainError(.badSpec, "\(field): \(why)") }
        guard clusters >= 1 else { throw bad("clusters", "must be at least 1, got \(clusters)") }
        guard clusterSize >= 1 else { throw bad("cluster_size", "must be at least 1, got \(clusterSize)") }
        guard !clusters.multipliedReportingOverflow(by: clusterSize).overflow else {
            throw bad("clusters × cluster_size", "\(clusters) × \(clusterSize) states exceed \(Int.max)")
        }
        guard kernel == .uniform else { throw bad("kernel", "a procedural chain needs kernel uniform, got \(kernel)") }
        guard [.chain, .chainBidirectional, .complete].contains(topology) else {
            throw bad("topology", "a procedural chain needs topology chain, chain-bidirectional or complete, got \(topology)")
        }
        guard sources == 1 else { throw bad("sources", "a procedural chain has 1 source per cluster, got \(sources)") }
        guard decoys == 0 else { throw bad("decoys", "a procedural chain has no decoys, got \(decoys)") }
        guard case .fixed(let e) = epsilon else { throw bad("epsilon", "a procedural chain needs a fixed ε, got \(epsilon)") }
        guard e > 0, e < 1 else { throw bad("epsilon", "must be in (0, 1), got \(e)") }
        let perRow = Double(maxSuccessors) * e
        guard perRow < 1 else {
            throw bad("epsilon", "a source has \(maxSuccessors) sparse edges of ε = \(e): their total \(perRow) must stay below 1")
        }
    }
}

extension ChainSummary {
    /// What results.json says about a procedural chain: its K − 1 sparse edges are all its
    /// explicit transitions, as for the stored chain of the same family.
    init(procedural spec: GeneratorSpec) {
        let edges = spec.topology == .complete
            ? spec.clusters * (spec.clusters - 1) : (spec.topology == .chain ? 1 : 2) * (spec.clusters - 1)
        self.init(
            source: "procedural: K=\(spec.clusters) M=\(spec.clusterSize) uniform \(spec.topology) sources=1 ε=\(spec.epsilon)",
            states: spec.stateCount, clusters: spec.clusters, transitions: edges, sparseEdges: edges)
    }
}
