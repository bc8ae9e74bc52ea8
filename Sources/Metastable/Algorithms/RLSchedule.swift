/// How an RL experiment (`ppo`, `reinforce`) cuts its work into rounds, read from the
/// `algorithm:` mapping. The learners' own parameters live in `PPOClipConfiguration` and
/// `ReinforceConfiguration`.
struct RLSchedule: Sendable, Equatable {
    /// Rollouts per batch of a rollout round (`rollouts_per_batch`, default 16): the unit of
    /// parallel work. Rollout r of a round draws from its own stream whatever its batch, so
    /// this changes only how work is spread, never a number.
    var rolloutsPerBatch: Int
    /// Monte Carlo E[τ] is measured on the policy before training, after every
    /// `evaluate_every`-th iteration (default 5) and after the last one. Walks are costly
    /// while E[τ] is still about K·M/ε, so not every iteration gets them; every iteration
    /// gets the exact E[τ].
    var evaluateEvery: Int

    init(_ parameters: AlgorithmParameters) throws(SpecError) {
        rolloutsPerBatch = try parameters.int("rollouts_per_batch", default: 16, min: 1)
        evaluateEvery = try parameters.int("evaluate_every", default: 5, min: 1)
    }

    /// The rollout budget shared by both learners: `rollouts` per iteration (default 64),
    /// `horizon` steps each at most (default 512), `iterations` at most (default 100).
    static func budget(_ parameters: AlgorithmParameters) throws(SpecError) -> (rollouts: Int, horizon: Int, iterations: Int) {
        (
            try parameters.int("rollouts", default: 64, min: 1), try parameters.int("horizon", default: 512, min: 1),
            try parameters.int("iterations", default: 100, min: 1)
        )
    }
}

/// The Monte Carlo evaluation of a policy, from the spec's top-level fields: `walks` walks
/// from the spec's start to its target, `batch_size` walks per batch, each stopped (and
/// counted as censored) at `max_steps`.
struct RLEvaluation: Sendable, Equatable {
    var walks: Int
    var batchSize: Int
    var maxSteps: UInt64

    init(_ spec: ExperimentSpec) {
        walks = spec.walks
        batchSize = spec.batchSize
        maxSteps = spec.maxSteps
    }
}
