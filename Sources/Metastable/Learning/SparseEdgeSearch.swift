import Foundation

/// The settings of sparse-edge search (Algorithm 2, paper-notes §3). K, M and ε are what
/// the searcher assumes about the chain; every other field left nil is derived from them.
public struct SparseEdgeSearchConfig: Sendable, Hashable, Codable {
    /// K, the number of clusters.
    public var clusterCount: Int
    /// M, the number of states per cluster.
    public var clusterSize: Int
    /// ε, the probability of a sparse edge.
    public var epsilon: Double
    /// R. Nil: ⌈roundFactor · K · ln K⌉, at least 1.
    public var rounds: Int?
    /// c in the default R = ⌈c · K ln K⌉.
    public var roundFactor: Double
    /// N, rollouts per round. Nil: ⌈ln K⌉ + 1.
    public var rollouts: Int?
    /// T_0, the steps whose visited states make the cluster estimate Ĉ. Nil:
    /// ⌈clusterStepsFactor · M ln M⌉ + M, so that a fast-mixing cluster is covered (coupon
    /// collector: M ln M steps on the uniform kernel) while staying far below the escape
    /// time M/ε.
    public var clusterSteps: Int?
    /// c₀ in the default T_0 = ⌈c₀ · M ln M⌉ + M.
    public var clusterStepsFactor: Double
    /// T_max, the steps of a rollout per round, T_0 included. Nil: T_0 + ⌈escapeFactor · M/ε⌉;
    /// with the default 3 a cluster with one source is left within a round with probability
    /// about 1 − e⁻³.
    public var maxSteps: Int?
    /// c₁ in the default T_max = T_0 + ⌈c₁ · M/ε⌉.
    public var escapeFactor: Double
    /// Steps a candidate escape is followed before it counts. Nil: T_0. See `SparseEdgeSearch`.
    public var confirmSteps: Int?
    public var seed: UInt64

    public init(
        clusterCount: Int, clusterSize: Int, epsilon: Double, rounds: Int? = nil, roundFactor: Double = 2,
        rollouts: Int? = nil, clusterSteps: Int? = nil, clusterStepsFactor: Double = 3, maxSteps: Int? = nil,
        escapeFactor: Double = 3, confirmSteps: Int? = nil, seed: UInt64 = 1
    ) {
        self.clusterCount = clusterCount
        self.clusterSize = clusterSize
        self.epsilon = epsilon
        self.rounds = rounds
        self.roundFactor = roundFactor
        self.rollouts = rollouts
        self.clusterSteps = clusterSteps
        self.clusterStepsFactor = clusterStepsFactor
        self.maxSteps = maxSteps
        self.escapeFactor = escapeFactor
        self.confirmSteps = confirmSteps
        self.seed = seed
    }

    /// The parameters with every default filled in.
    public struct Resolved: Sendable, Hashable, Codable {
        public var rounds: Int
        public var rollouts: Int
        public var clusterSteps: Int
        public var maxSteps: Int
        public var confirmSteps: Int
    }

    /// Checks the fields and fills in the defaults, naming the first bad field.
    public func resolved() throws(LearningError) -> Resolved {
        func bad(_ field: String, _ why: String) -> LearningError { LearningError(.badValue, field: field, why) }
        guard clusterCount >= 1 else { throw bad("clusterCount", "must be at least 1, got \(clusterCount)") }
        guard clusterSize >= 1 else { throw bad("clusterSize", "must be at least 1, got \(clusterSize)") }
        guard epsilon > 0, epsilon < 1 else { throw bad("epsilon", "must be in (0, 1), got \(epsilon)") }
        guard roundFactor.isFinite, roundFactor > 0 else { throw bad("roundFactor", "must be positive, got \(roundFactor)") }
        guard clusterStepsFactor.isFinite, clusterStepsFactor >= 0 else {
            throw bad("clusterStepsFactor", "must be non-negative, got \(clusterStepsFactor)")
        }
        guard escapeFactor.isFinite, escapeFactor > 0 else { throw bad("escapeFactor", "must be positive, got \(escapeFactor)") }
        let k = Double(clusterCount), m = Double(clusterSize)
        let r = rounds ?? max(1, Int((roundFactor * k * log(k)).rounded(.up)))
        let n = rollouts ?? Int(log(k).rounded(.up)) + 1
        let t0 = clusterSteps ?? Int((clusterStepsFactor * m * log(m)).rounded(.up)) + clusterSize
        let tMax = maxSteps ?? t0 + Int((escapeFactor * m / epsilon).rounded(.up))
        let confirm = confirmSteps ?? t0
        guard r >= 1 else { throw bad("rounds", "must be at least 1, got \(r)") }
        guard n >= 1 else { throw bad("rollouts", "must be at least 1, got \(n)") }
        guard t0 >= 0 else { throw bad("clusterSteps", "must be non-negative, got \(t0)") }
        guard tMax > t0 else { throw bad("maxSteps", "must exceed clusterSteps = \(t0), got \(tMax)") }
        guard confirm >= 0 else { throw bad("confirmSteps", "must be non-negative, got \(confirm)") }
        // R·N·T_max bounds the steps; keep it countable.
        let budget = Double(r) * Double(n) * Double(tMax + confirm)
        guard budget < 1e15 else { throw bad("rounds × rollouts × maxSteps", "\(budget) steps is beyond reach") }
        return Resolved(rounds: r, rollouts: n, clusterSteps: t0, maxSteps: tMax, confirmSteps: confirm)
    }
}

/// What a search found, with no reference to the true chain.
public struct SparseEdgeSearchResult: Sendable, Equatable, Codable {
    /// Ê, sorted.
    public var edges: [Transition]
    /// How many rollouts recorded each edge of `edges`.
    public var detections: [Int]
    /// Steps taken by all rollouts, confirmation windows included.
    public var steps: Int
    /// Candidate escapes that returned into Ĉ within the confirmation window: Ĉ had missed
    /// a state of the cluster, and the step was not recorded.
    public var rejectedEscapes: Int
    public var parameters: SparseEdgeSearchConfig.Resolved
}

/// A search result scored against the true chain.
public struct SparseEdgeSearchReport: Sendable, Equatable, Codable {
    public var trueSparseEdges: Int
    /// True sparse edges in Ê.
    public var foundSparseEdges: Int
    /// foundSparseEdges / trueSparseEdges (1 when there are none).
    public var recall: Double
    /// Edges of Ê that are not sparse edges of the true chain.
    public var falsePositives: [Transition]
    /// How many of the false positives are decoy edges.
    public var decoyFalsePositives: Int
    public var steps: Int
    /// K·M/ε: about one unaided run of the chain.
    public var referenceSteps: Double
    /// steps / referenceSteps.
    public var stepRatio: Double

    /// Scores `result` against `truth`, whose edge kinds say which edges are sparse.
    public init(result: SparseEdgeSearchResult, truth: Chain, config: SparseEdgeSearchConfig) {
        var sparse = Set<Transition>(), decoys = Set<Transition>()
        for x in 0..<truth.stateCount {
            for e in truth.entries(of: x) {
                let t = Transition(from: x, to: Int(truth.columns[e]))
                if truth.kinds[e] == .sparse { sparse.insert(t) } else if truth.kinds[e] == .decoy { decoys.insert(t) }
            }
        }
        let found = Set(result.edges)
        trueSparseEdges = sparse.count
        foundSparseEdges = found.intersection(sparse).count
        recall = sparse.isEmpty ? 1 : Double(foundSparseEdges) / Double(sparse.count)
        falsePositives = result.edges.filter { !sparse.contains($0) }
        decoyFalsePositives = falsePositives.filter(decoys.contains).count
        steps = result.steps
        referenceSteps = Double(config.clusterCount) * Double(config.clusterSize) / config.epsilon
        stepRatio = Double(steps) / referenceSteps
    }
}

/// Sparse-edge search (Algorithm 2): finds the hard steps of a chain by running it, with no
/// verifier and no cluster labels.
///
/// Reconstruction (the paper's pseudocode is not available):
/// - N rollouts keep their position from round to round; round 0 starts them from `start`.
///   A rollout that did not escape within a round (a cluster with no way out, or bad luck)
///   restarts from `start` in the next, so rollouts do not pile up in terminal clusters.
/// - In a round, a rollout walks T_0 steps; the states visited, with the first, are Ĉ.
///   It then walks on until step T_max; the first step x → y with x ∈ Ĉ, y ∉ Ĉ is a
///   candidate escape.
/// - A candidate is followed for `confirmSteps` more steps. A walk that comes back into Ĉ
///   had only found a state Ĉ missed (real escapes return only through another sparse
///   edge, with probability about confirmSteps·ε/M): the states seen join Ĉ and the walk
///   goes on. Otherwise (x, y) joins Ê and the rollout's round ends where it stands.
/// Decoy edges stay inside the cluster, so they are recorded only if Ĉ missed their target
/// and the confirmation window failed too.
public enum SparseEdgeSearch {
    /// Runs the search on `chain` (the true one or a learned one).
    ///
    /// Rollout i draws from `WalkRandom(seed:, domain: .search, index: i)` only. Rollouts
    /// share nothing but Ê, so each runs all its rounds in turn (`rollout`): the same steps
    /// as running the rounds one after the other.
    public static func run(
        chain: Chain, start: StartDistribution, config: SparseEdgeSearchConfig
    ) throws -> SparseEdgeSearchResult {
        let p = try config.resolved()
        try check(start, in: chain)
        let sampler = try ChainSampler(chain)
        var found = [Transition: Int]()
        var steps = 0, rejected = 0
        for i in 0..<p.rollouts {
            var random = WalkRandom(seed: config.seed, domain: .search, index: UInt64(i))
            for round in rollout(sampler: sampler, start: start, parameters: p, random: &random) {
                steps += round.steps
                rejected += round.rejectedEscapes
                if let edge = round.edge { found[edge, default: 0] += 1 }
            }
        }
        let edges = found.keys.sorted { ($0.from, $0.to) < ($1.from, $1.to) }
        return SparseEdgeSearchResult(
            edges: edges, detections: edges.map { found[$0]! }, steps: steps, rejectedEscapes: rejected, parameters: p)
    }

    /// What one round of one rollout did.
    public struct RolloutRound: Sendable, Equatable {
        /// Steps taken, the confirmation window included.
        public var steps: Int
        /// Candidate escapes that came back into Ĉ.
        public var rejectedEscapes: Int
        /// The escape recorded in Ê, if the rollout left its cluster this round.
        public var edge: Transition?
    }

    /// The `rounds` rounds of one rollout, drawing from `random` only: a rollout keeps its
    /// position from round to round and restarts from `start` after a round without escape.
    static func rollout(
        sampler: ChainSampler, start: StartDistribution, parameters p: SparseEdgeSearchConfig.Resolved,
        random: inout WalkRandom
    ) -> [RolloutRound] {
        var rounds = [RolloutRound]()
        rounds.reserveCapacity(p.rounds)
        var cluster = ClusterEstimate(stateCount: sampler.stateCount)
        var position = sample(start, &random)
        for _ in 0..<p.rounds {
            var x = position
            cluster.reset()
            cluster.insert(x)
            for _ in 0..<p.clusterSteps {
                x = sampler.step(from: x, using: &random)
                cluster.insert(x)
            }
            var t = p.clusterSteps
            var rejected = 0
            var edge: Transition? = nil
            search: while t < p.maxSteps {
                let y = sampler.step(from: x, using: &random)
                t += 1
                guard cluster.contains(y) else {
                    // Follow the candidate escape before believing it.
                    var z = y
                    var seen = [y]
                    for _ in 0..<p.confirmSteps {
                        z = sampler.step(from: z, using: &random)
                        t += 1
                        if cluster.contains(z) {
                            rejected += 1
                            for s in seen { cluster.insert(s) }
                            x = z
                            continue search
                        }
                        seen.append(z)
                    }
                    edge = Transition(from: x, to: y)
                    x = z
                    break
                }
                x = y
            }
            rounds.append(RolloutRound(steps: t, rejectedEscapes: rejected, edge: edge))
            position = edge != nil ? x : sample(start, &random)
        }
        return rounds
    }

    /// Throws `.badState` naming `start` when it has states outside `chain`.
    static func check(_ start: StartDistribution, in chain: Chain) throws(LearningError) {
        guard let last = start.states.last, last < chain.stateCount else {
            throw LearningError(.badState, field: "start", "has states outside 0..<\(chain.stateCount)")
        }
    }

    static func sample(_ start: StartDistribution, _ random: inout WalkRandom) -> Int {
        if let s = start.pointMass { return s }
        var u = random.nextDouble()
        for (s, q) in zip(start.states, start.probabilities) {
            if u < q { return s }
            u -= q
        }
        return start.states[start.states.count - 1]
    }
}

/// Ĉ, the states a rollout saw in the current round: a stamp per state, so that starting a
/// new round costs nothing.
struct ClusterEstimate {
    private var stamps: [UInt32]
    private var stamp: UInt32 = 1

    init(stateCount: Int) { stamps = [UInt32](repeating: 0, count: stateCount) }

    mutating func reset() {
        stamp &+= 1
        if stamp == 0 { // wrapped: clear the old stamps once
            for i in stamps.indices { stamps[i] = 0 }
            stamp = 1
        }
    }

    mutating func insert(_ x: Int) { stamps[x] = stamp }

    func contains(_ x: Int) -> Bool { stamps[x] == stamp }
}
