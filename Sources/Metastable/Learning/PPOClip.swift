import Foundation

/// A reasoning task for the RL learners: where chains of thought start, what they must
/// reach, and the labels under which the policy's chain is solved exactly.
public struct ReasoningTask: Sendable, Equatable {
    /// X_in: where the task's chains of thought start.
    public var start: StartDistribution
    /// X_out: the states to reach.
    public var target: TargetSet
    /// Labels for the policy's chain; they only speed up the exact solver.
    public var clusters: ClusterLabels?

    public init(start: StartDistribution, target: TargetSet, clusters: ClusterLabels? = nil) {
        self.start = start
        self.target = target
        self.clusters = clusters
    }
}

/// PPO-Clip (paper-notes §4, Algorithm 3) with the sparse-edge advantage
/// Â(x, y) = 1 if (x, y) ∈ Ê, else 0, optimised by sign-gradient ascent.
///
/// Reconstruction. Each iteration freezes p̂_old, samples `rollouts` rollouts of `horizon`
/// steps from it, and maximises the clipped surrogate
///
///     L(W) = Σ_{sampled (x, y)} min(r·Â, clip(r, 1 − c, 1 + c)·Â),   r = p̂_W(y|x) / p̂_old(y|x),
///
/// with up to `innerSteps` sign-gradient steps W ← W + η·sign(∇L). Only sampled sparse
/// transitions have Â ≠ 0, and on row x
///
///     ∂r(x, y)/∂W(x, j) = r·(1[j = y] − p̂_W(j|x)),
///
/// so a step raises the sampled sparse logits by η and lowers every other logit of the row
/// by η: the non-sparse part of the row keeps its shape exactly (no drift off Ê), the sparse
/// edge gains about e^{2η}. Once r > 1 + c the surrogate is flat (clipped) and the row stops,
/// so one iteration multiplies a sampled sparse probability by about 1 + c, and getting from
/// ε to ε_max takes about log(ε_max/ε)/log(1 + c) iterations. The cap: a sparse edge whose
/// probability has reached ε_max gets no more advantage, the paper's construction stopping at
/// ε_max.
public struct PPOClipConfiguration: Sendable, Equatable {
    /// c, the clip range.
    public var clip: Double
    /// η, the sign-gradient step; nil for log(1 + c)/8, small enough that one step overshoots
    /// the clip boundary by at most a factor e^{2η} = (1 + c)^{1/4}.
    public var stepSize: Double?
    /// Sign-gradient steps per iteration at most (PPO's epochs over one batch); clipping
    /// ends them earlier.
    public var innerSteps: Int
    /// ε_max: sparse edges stop gaining once they reach it.
    public var epsilonMax: Double
    /// Rollouts of the old policy per iteration.
    public var rollouts: Int
    /// Steps per rollout.
    public var horizon: Int
    /// Iterations at most.
    public var iterations: Int
    /// Where rollouts start; nil for uniform on all states, so every sparse edge is sampled
    /// from the first iteration on (rollouts from X_in alone reach later clusters only once
    /// earlier edges have grown).
    public var rolloutStart: StartDistribution?
    /// Solve E[τ] exactly on the policy's chain after each iteration.
    public var solveHittingTime: Bool
    /// Rollout r of iteration i uses the `.learning` stream (seed, i·rollouts + r).
    public var seed: UInt64

    public init(
        clip: Double = 0.2, stepSize: Double? = nil, innerSteps: Int = 64, epsilonMax: Double = 0.25,
        rollouts: Int = 64, horizon: Int = 512, iterations: Int = 100, rolloutStart: StartDistribution? = nil,
        solveHittingTime: Bool = true, seed: UInt64 = 1
    ) {
        self.clip = clip
        self.stepSize = stepSize
        self.innerSteps = innerSteps
        self.epsilonMax = epsilonMax
        self.rollouts = rollouts
        self.horizon = horizon
        self.iterations = iterations
        self.rolloutStart = rolloutStart
        self.solveHittingTime = solveHittingTime
        self.seed = seed
    }

    /// log(ε_max/ε)/log(1 + c): the iterations the construction needs from ε to ε_max.
    public func expectedIterations(from epsilon: Double) -> Double {
        log(epsilonMax / epsilon) / log(1 + clip)
    }

    func validate() throws(LearningError) {
        guard clip.isFinite, clip > 0 else { throw LearningError(.badValue, field: "clip", "must be positive, got \(clip)") }
        if let stepSize, !(stepSize.isFinite && stepSize > 0) {
            throw LearningError(.badValue, field: "stepSize", "must be positive, got \(stepSize)")
        }
        guard innerSteps > 0 else { throw LearningError(.badValue, field: "innerSteps", "must be positive, got \(innerSteps)") }
        guard epsilonMax > 0, epsilonMax < 1 else {
            throw LearningError(.badValue, field: "epsilonMax", "must be in (0, 1), got \(epsilonMax)")
        }
        try validateBudget(rollouts: rollouts, horizon: horizon, iterations: iterations)
    }

    func validateRolloutStart(for policy: SoftmaxPolicy) throws(LearningError) {
        if let rolloutStart, !rolloutStart.states.allSatisfy({ $0 < policy.stateCount }) {
            throw LearningError(.badState, field: "rolloutStart", "a start state is outside the policy's \(policy.stateCount) states")
        }
    }
}

/// What one RL iteration did, measured after its update.
public struct RLIteration: Sendable, Equatable {
    /// 1-based.
    public var iteration: Int
    /// The mean of p̂(y|x) over Ê.
    public var sparseProbability: Double
    /// The smallest p̂(y|x) over Ê.
    public var minSparseProbability: Double
    /// max_x TV between the previous and the new p̂(·|x) restricted to the candidates outside
    /// Ê and renormalised.
    public var driftOffSparse: Double
    /// The same against the policy before training: the drift accumulated so far.
    public var totalDriftOffSparse: Double
    /// E[τ] from the task's start on the policy's chain; nil when not solved, +∞ when the
    /// target is not reached with probability 1.
    public var expectedHittingTime: Double?
    /// Steps sampled from the policy in this iteration: the sampling budget.
    public var sampledSteps: Int
    /// Sampled transitions with a positive learning signal: sparse ones for PPO, those of
    /// rewarded rollouts for REINFORCE.
    public var signalTransitions: Int
}

public enum PPOClip {
    /// Ê = the candidates whose kind is `.sparse`: the true hard edges, for tests and as the
    /// ideal output of search. Indices into the policy's candidates.
    public static func sparseEdges(of policy: SoftmaxPolicy) -> [Int] {
        policy.kinds.indices.filter { policy.kinds[$0] == .sparse }
    }

    /// Ê given as transitions x → y (what search found), as candidate indices of `policy`.
    /// - Throws: `.unsupported` naming the first transition that is not a candidate.
    public static func candidates(of edges: [Transition], in policy: SoftmaxPolicy) throws(LearningError) -> [Int] {
        var indices = [Int]()
        for edge in edges {
            guard let e = policy.candidate(from: edge.from, to: edge.to) else {
                throw LearningError(.unsupported, field: "sparseEdges", "\(edge.from) → \(edge.to) is not a candidate of the policy")
            }
            indices.append(e)
        }
        return indices
    }

    /// Trains `policy` in place and reports every iteration. Stops early once every edge of Ê
    /// is at the cap.
    /// - Parameters:
    ///   - sparseEdges: Ê as candidate indices; `sparseEdges(of: policy)` when nil.
    /// - Throws: `LearningError` for a bad configuration, an empty Ê or indices out of range,
    ///   or a start distribution of another chain.
    public static func train(
        _ policy: inout SoftmaxPolicy, task: ReasoningTask, sparseEdges: [Int]? = nil,
        configuration: PPOClipConfiguration = PPOClipConfiguration()
    ) throws(LearningError) -> [RLIteration] {
        try configuration.validate()
        let edges = try EdgeSet(sparseEdges ?? Self.sparseEdges(of: policy), policy: policy)
        try task.validate(for: policy)
        try configuration.validateRolloutStart(for: policy)
        let initial = policy
        var report = [RLIteration]()
        for iteration in 0..<configuration.iterations {
            let old = policy
            let sampler = RolloutSampler(old)
            var hits = [Int](repeating: 0, count: edges.count)
            var steps = 0
            for r in 0..<configuration.rollouts {
                var random = WalkRandom(seed: configuration.seed, domain: .learning, index: UInt64(iteration * configuration.rollouts + r))
                steps += sampler.rollout(from: configuration.rolloutStart, horizon: configuration.horizon, random: &random) { e in
                    if let i = edges.position(of: e) { hits[i] += 1 }
                }.steps
            }
            update(&policy, hits: hits, edges: edges, configuration: configuration)
            report.append(edges.measure(
                policy, previous: old, initial: initial, task: task, solve: configuration.solveHittingTime,
                iteration: iteration + 1, steps: steps, signal: hits.reduce(0, +)))
            if edges.allAtCap(policy, cap: configuration.epsilonMax) { break }
        }
        return report
    }

    /// One PPO-Clip update of `policy` (the old policy of the iteration) from the sampled
    /// transitions along Ê: `hits[i]` counts those along `edges.edges[i]`, the only
    /// transitions with Â ≠ 0. Rows are updated in increasing order, each independently.
    static func update(_ policy: inout SoftmaxPolicy, hits: [Int], edges: EdgeSet, configuration: PPOClipConfiguration) {
        let old = policy.probabilities()
        let eta = configuration.stepSize ?? log(1 + configuration.clip) / 8
        // Ê is in candidate order, so the edges of a row are consecutive.
        var i = 0
        while i < edges.count {
            let x = edges.rows[i]
            var sampled = [(candidate: Int, count: Int)]()
            while i < edges.count, edges.rows[i] == x {
                if hits[i] > 0 { sampled.append((edges.edges[i], hits[i])) }
                i += 1
            }
            if !sampled.isEmpty {
                ascend(&policy, row: x, sampled: sampled, old: old, eta: eta, configuration: configuration)
            }
        }
    }
    /// Up to `innerSteps` sign-gradient steps of the clipped surrogate on row `x`.
    private static func ascend(
        _ policy: inout SoftmaxPolicy, row x: Int, sampled: [(candidate: Int, count: Int)], old: [Double], eta: Double,
        configuration: PPOClipConfiguration
    ) {
        let row = policy.candidates(of: x)
        var gradient = [Double](repeating: 0, count: row.count)
        for _ in 0..<configuration.innerSteps {
            let p = policy.probabilities(of: x)
            for i in gradient.indices { gradient[i] = 0 }
            var active = false
            for (e, n) in sampled {
                let r = p[e - row.lowerBound] / old[e]
                // Clipped (r ≥ 1 + c: the surrogate is flat) or capped: no gradient.
                guard r < 1 + configuration.clip, p[e - row.lowerBound] < configuration.epsilonMax else { continue }
                active = true
                let weight = Double(n) * r
                for j in gradient.indices { gradient[j] -= weight * p[j] }
                gradient[e - row.lowerBound] += weight
            }
            guard active else { return }
            for (j, e) in row.enumerated() where gradient[j] != 0 {
                policy.logits[e] += gradient[j] > 0 ? eta : -eta
            }
        }
    }
}

/// A validated Ê: distinct candidate indices in increasing order (so grouped by row), the
/// row of each, and the position of each candidate in that order. The position is the
/// layout of every per-edge vector (PPO's sampled-transition counts).
struct EdgeSet: Sendable {
    let edges: [Int]
    let rows: [Int]
    private let positions: [Int: Int]

    init(_ edges: [Int], policy: SoftmaxPolicy) throws(LearningError) {
        guard !edges.isEmpty else { throw LearningError(.unsupported, field: "sparseEdges", "Ê is empty: nothing to learn") }
        for e in edges where !(0..<policy.candidateCount).contains(e) {
            throw LearningError(.badState, field: "sparseEdges", "candidate \(e) is outside the policy's \(policy.candidateCount)")
        }
        self.edges = Array(Set(edges)).sorted()
        rows = self.edges.map { e in
            // Rows are sorted offsets: the row of e is the last offset not above it.
            var lo = 0, hi = policy.stateCount
            while hi - lo > 1 {
                let mid = (lo + hi) / 2
                if policy.rowOffsets[mid] <= e { lo = mid } else { hi = mid }
            }
            return lo
        }
        positions = Dictionary(uniqueKeysWithValues: self.edges.enumerated().map { ($1, $0) })
    }

    var count: Int { edges.count }

    /// Where candidate `e` stands in `edges`, nil when it is not in Ê.
    func position(of e: Int) -> Int? { positions[e] }

    func contains(_ e: Int) -> Bool { positions[e] != nil }

    func allAtCap(_ policy: SoftmaxPolicy, cap: Double) -> Bool {
        let p = policy.probabilities()
        return edges.allSatisfy { p[$0] >= cap }
    }

    /// The per-iteration figures of `policy` after an update from `previous`.
    func measure(
        _ policy: SoftmaxPolicy, previous: SoftmaxPolicy, initial: SoftmaxPolicy, task: ReasoningTask, solve: Bool,
        iteration: Int, steps: Int, signal: Int
    ) -> RLIteration {
        let p = policy.probabilities()
        let sparse = edges.map { p[$0] }
        var time: Double? = nil
        if solve {
            // A chain that cannot reach the target has E[τ] = ∞; any other failure (the
            // model left the double range) is reported the same way rather than trapped on.
            time = (try? policy.chain(clusters: task.clusters)).flatMap { chain in
                try? ExactSolver.hittingTimes(chain, target: task.target).expected(from: task.start)
            } ?? .infinity
        }
        return RLIteration(
            iteration: iteration, sparseProbability: sparse.reduce(0, +) / Double(sparse.count),
            minSparseProbability: sparse.min() ?? 0, driftOffSparse: drift(from: previous.probabilities(), to: p, policy),
            totalDriftOffSparse: drift(from: initial.probabilities(), to: p, policy), expectedHittingTime: time,
            sampledSteps: steps, signalTransitions: signal)
    }

    /// max_x TV of the rows restricted to the candidates outside Ê, each renormalised.
    func drift(from a: [Double], to b: [Double], _ policy: SoftmaxPolicy) -> Double {
        var worst = 0.0
        for x in 0..<policy.stateCount {
            let rest = policy.candidates(of: x).filter { !contains($0) }
            let sa = rest.reduce(0) { $0 + a[$1] }, sb = rest.reduce(0) { $0 + b[$1] }
            guard sa > 0, sb > 0 else { continue }
            worst = max(worst, 0.5 * rest.reduce(0) { $0 + abs(a[$1] / sa - b[$1] / sb) })
        }
        return worst
    }
}

extension ReasoningTask {
    func validate(for policy: SoftmaxPolicy) throws(LearningError) {
        let n = policy.stateCount
        guard start.states.allSatisfy({ $0 < n }) else {
            throw LearningError(.badState, field: "start", "a start state is outside the policy's \(n) states")
        }
        guard target.bits.count == (n + 63) / 64, target.states.allSatisfy({ $0 < n }) else {
            throw LearningError(.badState, field: "target", "the target set was made for another number of states than \(n)")
        }
        if let clusters, clusters.labels.count != n {
            throw LearningError(.inconsistent, field: "clusters", "\(clusters.labels.count) labels for \(n) states")
        }
    }
}

func validateBudget(rollouts: Int, horizon: Int, iterations: Int) throws(LearningError) {
    guard rollouts > 0 else { throw LearningError(.badValue, field: "rollouts", "must be positive, got \(rollouts)") }
    guard horizon > 0 else { throw LearningError(.badValue, field: "horizon", "must be positive, got \(horizon)") }
    guard iterations > 0 else { throw LearningError(.badValue, field: "iterations", "must be positive, got \(iterations)") }
}

/// Rollouts of one fixed policy, one at a time: each draws from the stream it is given, so a
/// caller decides which stream each rollout uses (and so what batching cannot change).
struct RolloutSampler {
    let policy: SoftmaxPolicy
    /// Cumulative probabilities per row, aligned with the candidates: a binary search per
    /// step is plenty for learning.
    private let cumulative: [Double]

    init(_ policy: SoftmaxPolicy) {
        var cumulative = policy.probabilities()
        for x in 0..<policy.stateCount {
            var sum = 0.0
            for e in policy.candidates(of: x) {
                sum += cumulative[e]
                cumulative[e] = sum
            }
        }
        self.policy = policy
        self.cumulative = cumulative
    }

    /// One rollout of at most `horizon` steps, calling `visit(candidate)` for every step
    /// x → columns[candidate].
    ///
    /// - Parameters:
    ///   - start: where the rollout starts; uniform on all states when nil. Its states must
    ///     be states of the policy.
    ///   - stopAt: the rollout ends on entering this set (it is not cut otherwise).
    /// - Returns: the steps taken, and whether the rollout reached `stopAt`.
    func rollout(
        from start: StartDistribution?, horizon: Int, stopAt: TargetSet? = nil, random: inout WalkRandom,
        visit: (Int) -> Void
    ) -> (steps: Int, reached: Bool) {
        var x = start.map { draw($0, &random) } ?? random.next(below: policy.stateCount)
        var reached = stopAt?.contains(x) ?? false
        var t = 0
        while t < horizon, !reached {
            let row = policy.candidates(of: x)
            let u = random.nextDouble() * cumulative[row.upperBound - 1]
            var lo = row.lowerBound, hi = row.upperBound - 1
            while lo < hi {
                let mid = (lo + hi) / 2
                if cumulative[mid] > u { hi = mid } else { lo = mid + 1 }
            }
            visit(lo)
            x = Int(policy.columns[lo])
            t += 1
            reached = stopAt?.contains(x) ?? false
        }
        return (t, reached)
    }

    private func draw(_ start: StartDistribution, _ random: inout WalkRandom) -> Int {
        if let x = start.pointMass { return x }
        var u = random.nextDouble()
        for (x, p) in zip(start.states, start.probabilities) {
            u -= p
            if u < 0 { return x }
        }
        return start.states[start.states.count - 1]
    }
}
