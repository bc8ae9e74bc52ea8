/// The outcome-reward baseline to contrast with PPO-Clip (paper-notes §4): REINFORCE with
/// reward 1 for a rollout from X_in that reaches X_out within the horizon, 0 otherwise.
///
/// Each iteration samples `rollouts` rollouts of the current policy from the task's start
/// and takes one gradient-ascent step on the REINFORCE estimate
///
///     ∇J ≈ (1/N) Σ_i R_i Σ_t ∇ log p̂(y_t | x_t),   ∇_{W(x,·)} log p̂(y|x) = 1_y − p̂(·|x).
///
/// With a horizon H ≪ K·M/ε almost no rollout is rewarded, so the estimate is almost always
/// zero: the learning signal PPO gets from every sampled sparse edge is missing here.
public struct ReinforceConfiguration: Sendable, Equatable {
    /// The gradient-ascent step size.
    public var learningRate: Double
    /// Rollouts per iteration.
    public var rollouts: Int
    /// H: steps per rollout at most; reaching the target ends a rollout.
    public var horizon: Int
    public var iterations: Int
    /// Solve E[τ] exactly on the policy's chain after each iteration.
    public var solveHittingTime: Bool
    /// Rollout r of iteration i uses the `.learning` stream (seed, i·rollouts + r).
    public var seed: UInt64

    public init(
        learningRate: Double = 1, rollouts: Int = 64, horizon: Int = 512, iterations: Int = 100,
        solveHittingTime: Bool = true, seed: UInt64 = 1
    ) {
        self.learningRate = learningRate
        self.rollouts = rollouts
        self.horizon = horizon
        self.iterations = iterations
        self.solveHittingTime = solveHittingTime
        self.seed = seed
    }

    func validate() throws(LearningError) {
        guard learningRate.isFinite, learningRate > 0 else {
            throw LearningError(.badValue, field: "learningRate", "must be positive, got \(learningRate)")
        }
        try validateBudget(rollouts: rollouts, horizon: horizon, iterations: iterations)
    }
}

public enum Reinforce {
    /// Trains `policy` in place and reports every iteration. Ê is not used for learning, only
    /// for the figures (sparse-edge probability, drift off Ê), so they compare with PPO-Clip.
    /// - Parameters:
    ///   - sparseEdges: Ê as candidate indices; `PPOClip.sparseEdges(of: policy)` when nil.
    /// - Throws: `LearningError` for a bad configuration, an empty Ê or indices out of range.
    public static func train(
        _ policy: inout SoftmaxPolicy, task: ReasoningTask, sparseEdges: [Int]? = nil,
        configuration: ReinforceConfiguration = ReinforceConfiguration()
    ) throws(LearningError) -> [RLIteration] {
        try configuration.validate()
        let edges = try EdgeSet(sparseEdges ?? PPOClip.sparseEdges(of: policy), policy: policy)
        try task.validate(for: policy)
        let initial = policy
        var report = [RLIteration]()
        for iteration in 0..<configuration.iterations {
            let old = policy
            let sampler = RolloutSampler(old)
            var rewarded = RewardedTransitions(candidateCount: policy.candidateCount)
            var steps = 0
            for r in 0..<configuration.rollouts {
                var random = WalkRandom(seed: configuration.seed, domain: .learning, index: UInt64(iteration * configuration.rollouts + r))
                steps += rewarded.add(sampler, start: task.start, target: task.target, horizon: configuration.horizon, random: &random)
            }
            update(&policy, rewarded: rewarded.counts, rollouts: configuration.rollouts, learningRate: configuration.learningRate)
            report.append(edges.measure(
                policy, previous: old, initial: initial, task: task, solve: configuration.solveHittingTime,
                iteration: iteration + 1, steps: steps, signal: rewarded.transitions))
        }
        return report
    }

    /// One gradient-ascent step of `policy` (the policy the rollouts came from) on the
    /// REINFORCE estimate. `rewarded[e]` counts the steps along candidate e taken by rewarded
    /// rollouts; summed over those steps, ∇_{W(x,·)} log p̂(y|x) = 1_y − p̂(·|x) gives
    ///
    ///     ∇J(e) ≈ (1/N) (n_e − p̂(e)·n_x),   n_x = Σ_{e' in row x} n_e',
    ///
    /// so integer counts carry the whole estimate (and sum exactly across batches).
    static func update(_ policy: inout SoftmaxPolicy, rewarded: [Int], rollouts: Int, learningRate: Double) {
        let p = policy.probabilities()
        let scale = learningRate / Double(rollouts)
        for x in 0..<policy.stateCount {
            let row = policy.candidates(of: x)
            let visits = row.reduce(0) { $0 + rewarded[$1] }
            guard visits > 0 else { continue }
            for e in row { policy.logits[e] += scale * (Double(rewarded[e]) - p[e] * Double(visits)) }
        }
    }
}

/// The steps of rewarded rollouts, per candidate: what REINFORCE's update needs.
struct RewardedTransitions {
    /// Steps along each candidate taken by rollouts that reached the target.
    private(set) var counts: [Int]
    /// Rollouts that reached the target.
    private(set) var rollouts = 0
    /// Steps of those rollouts.
    private(set) var transitions = 0
    private var trajectory = [Int]()

    init(candidateCount: Int) { counts = [Int](repeating: 0, count: candidateCount) }

    /// Samples one rollout from `start` that stops on reaching `target`; keeps its steps
    /// when it does (reward 1) and forgets them otherwise (reward 0: no gradient).
    /// Returns the steps taken.
    mutating func add(
        _ sampler: RolloutSampler, start: StartDistribution, target: TargetSet, horizon: Int, random: inout WalkRandom
    ) -> Int {
        trajectory.removeAll(keepingCapacity: true)
        let (steps, reached) = sampler.rollout(from: start, horizon: horizon, stopAt: target, random: &random) {
            trajectory.append($0)
        }
        if reached {
            rollouts += 1
            transitions += trajectory.count
            for e in trajectory { counts[e] += 1 }
        }
        return steps
    }
}
