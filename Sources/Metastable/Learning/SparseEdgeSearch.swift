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
    /// T_0, the steps whose visited states make the cluster estimate Ĉ. Nil: ⌈3 M ln M⌉ + M,
    /// so that a fast-mixing cluster is covered (coupon collector: M ln M steps on the
    /// uniform kernel) while staying far below the escape time M/ε.
    public var clusterSteps: Int?
    /// T_max, the steps of a rollout per round, T_0 included. Nil: T_0 + ⌈3 M/ε⌉, so a
    /// cluster with one source is left within a round with probability about 1 − e⁻³.
    public var maxSteps: Int?
    /// Steps a candidate escape is followed before it counts. Nil: T_0. See `SparseEdgeSearch`.
    public var confirmSteps: Int?
    public var seed: UInt64

    public init(
        clusterCount: Int, clusterSize: Int, epsilon: Double, rounds: Int? = nil, roundFactor: Double = 2,
        rollouts: Int? = nil, clusterSteps: Int? = nil, maxSteps: Int? = nil, confirmSteps: Int? = nil, seed: UInt64 = 1
    ) {
        self.clusterCount = clusterCount
        self.clusterSize = clusterSize
        self.epsilon = epsilon
        self.rounds = rounds
        self.roundFactor = roundFactor
        self.rollouts = rollouts
        self.clusterSteps = clusterSteps
        self.maxSteps = maxSteps
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
        let k = Double(clusterCount), m = Double(clusterSize)
        let r = rounds ?? max(1, Int((roundFactor * k * log(k)).rounded(.up)))
        let n = rollouts ?? Int(log(k).rounded(.up)) + 1
        let t0 = clusterSteps ?? Int((3 * m * log(m)).rounded(.up)) + clusterSize
        let tMax = maxSteps ?? t0 + Int((3 * m / epsilon).rounded(.up))
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
    /// Rollout i draws from `WalkRandom(seed:, domain: .search, index: i)` only.
    public static func run(
        chain: Chain, start: StartDistribution, config: SparseEdgeSearchConfig
    ) throws -> SparseEdgeSearchResult {
        let p = try config.resolved()
        guard let last = start.states.last, last < chain.stateCount else {
            throw LearningError(.badState, field: "start", "has states outside 0..<\(chain.stateCount)")
        }
        let sampler = try ChainSampler(chain)
        var random = (0..<p.rollouts).map { WalkRandom(seed: config.seed, domain: .search, index: UInt64($0)) }
        var position = random.indices.map { sample(start, &random[$0]) }
        var found = [Transition: Int]()
        var steps = 0, rejected = 0
        var cluster = Set<Int>()

        for _ in 0..<p.rounds {
            for i in 0..<p.rollouts {
                var x = position[i]
                cluster.removeAll(keepingCapacity: true)
                cluster.insert(x)
                for _ in 0..<p.clusterSteps {
                    x = sampler.step(from: x, using: &random[i])
                    cluster.insert(x)
                }
                var t = p.clusterSteps
                var escaped = false
                search: while t < p.maxSteps {
                    let y = sampler.step(from: x, using: &random[i])
                    t += 1
                    guard cluster.contains(y) else {
                        // Follow the candidate escape before believing it.
                        var z = y
                        var seen = [y]
                        for _ in 0..<p.confirmSteps {
                            z = sampler.step(from: z, using: &random[i])
                            t += 1
                            if cluster.contains(z) {
                                rejected += 1
                                cluster.formUnion(seen)
                                x = z
                                continue search
                            }
                            seen.append(z)
                        }
                        found[Transition(from: x, to: y), default: 0] += 1
                        x = z
                        escaped = true
                        break
                    }
                    x = y
                }
                steps += t
                position[i] = escaped ? x : sample(start, &random[i])
            }
        }
        let edges = found.keys.sorted { ($0.from, $0.to) < ($1.from, $1.to) }
        return SparseEdgeSearchResult(
            edges: edges, detections: edges.map { found[$0]! }, steps: steps, rejectedEscapes: rejected, parameters: p)
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
