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
            let p = old.probabilities()
            var gradient = [Double](repeating: 0, count: policy.candidateCount)
            var trajectory = [(row: Int, candidate: Int)]()
            var rewarded = 0
            let steps = Rollouts.sample(
                old, start: task.start, rollouts: configuration.rollouts, horizon: configuration.horizon,
                seed: configuration.seed, iteration: iteration, stopAt: task.target,
                visit: { x, e in trajectory.append((x, e)) },
                finish: { reached in
                    defer { trajectory.removeAll(keepingCapacity: true) }
                    guard reached else { return } // R = 0: no gradient
                    rewarded += trajectory.count
                    for (x, e) in trajectory {
                        for j in old.candidates(of: x) { gradient[j] -= p[j] }
                        gradient[e] += 1
                    }
                })
            let scale = configuration.learningRate / Double(configuration.rollouts)
            for j in gradient.indices where gradient[j] != 0 { policy.logits[j] += scale * gradient[j] }
            report.append(edges.measure(
                policy, previous: old, initial: initial, task: task, solve: configuration.solveHittingTime,
                iteration: iteration + 1, steps: steps, signal: rewarded))
        }
        return report
    }
}
