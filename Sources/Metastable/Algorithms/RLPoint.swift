/// A grid point of the `ppo` and `reinforce` experiments: the pretrained policy, the task,
/// Ê, and the batch functions the rounds run (worker side). The driver (`RLDriver`) decides
/// the rounds and updates the policy.
///
/// Every round's input carries the logits of the policy to sample (`reals`, aligned with
/// the candidates of `initial`; `counts` empty). What a batch returns depends on the stage:
///
/// - `ppoRollouts`: items are rollouts of the old policy, from `PPOClipConfiguration.rolloutStart`
///   (uniform on all states when nil). `counts[i]` = sampled steps along edge i of Ê (Ê in
///   candidate order, `EdgeSet.edges`): the only transitions with Â ≠ 0, so all the update
///   needs. `outcome.steps` = steps sampled.
/// - `reinforceRollouts`: items are rollouts from X_in that stop on reaching X_out.
///   `counts[e]` for e < candidateCount = steps along candidate e taken by rewarded rollouts;
///   `counts[candidateCount]` = rewarded rollouts. `outcome.steps` = steps sampled.
/// - `evaluation`: items are hitting-time walks on the policy's chain; `outcome` holds them,
///   the payload is empty.
///
/// Rollout r of round n draws from `AlgorithmRandom.stream(seed:round: n, item: r)`; the
/// walks of an evaluation round use the walk streams of a seed drawn from item 0 of the
/// round's stream. Counts are integers and walk outcomes exact, so the driver's sums cannot
/// depend on batching or on who ran a batch.
final class RLPoint: AlgorithmPoint {
    enum Stage: Int, Sendable {
        case ppoRollouts = 0
        case reinforceRollouts = 1
        case evaluation = 2
    }

    let seed: UInt64
    /// The pretrained policy (the chain itself, `SoftmaxPolicy(chain:)`): where learners start,
    /// and the candidate layout of the logits a round carries.
    let initial: SoftmaxPolicy
    let task: ReasoningTask
    let edges: EdgeSet
    /// Nil for the `reinforce` experiment.
    let ppo: PPOClipConfiguration?
    /// The baseline (or the `reinforce` experiment's learner); nil for `ppo` without baseline.
    /// With PPO, its iteration budget is the number of iterations PPO ran.
    let reinforce: ReinforceConfiguration?
    let schedule: RLSchedule
    let evaluation: RLEvaluation
    /// Solve E[τ] exactly after every iteration (the spec's `exact`).
    let solveExactly: Bool

    init(
        seed: UInt64, initial: SoftmaxPolicy, task: ReasoningTask, edges: EdgeSet, ppo: PPOClipConfiguration?,
        reinforce: ReinforceConfiguration?, schedule: RLSchedule, evaluation: RLEvaluation, solveExactly: Bool
    ) {
        self.seed = seed
        self.initial = initial
        self.task = task
        self.edges = edges
        self.ppo = ppo
        self.reinforce = reinforce
        self.schedule = schedule
        self.evaluation = evaluation
        self.solveExactly = solveExactly
    }

    func makeDriver() throws -> any AlgorithmDriver { RLDriver(point: self) }

    /// The round of `stage` on `policy`; its batches are fixed by the spec, never by workers.
    func round(_ stage: Stage, policy: SoftmaxPolicy, label: String) -> AlgorithmRound {
        let (items, size) = layout(stage)
        return AlgorithmRound(stage: stage.rawValue, input: RoundPayload(reals: policy.logits), items: items, batchSize: size, label: label)
    }

    /// Items of a round of `stage`, and items per batch.
    private func layout(_ stage: Stage) -> (items: Int, batchSize: Int) {
        switch stage {
        case .ppoRollouts: (ppo?.rollouts ?? 0, schedule.rolloutsPerBatch)
        case .reinforceRollouts: (reinforce?.rollouts ?? 0, schedule.rolloutsPerBatch)
        case .evaluation: (evaluation.walks, evaluation.batchSize)
        }
    }

    private func items(_ stage: Stage, batch: Int) -> Range<Int>? {
        let (items, size) = layout(stage)
        guard batch >= 0, batch * size < items else { return nil }
        return batch * size..<min((batch + 1) * size, items)
    }

    // MARK: Worker side

    func runBatch(_ task: RoundTask, batch: Int, items: Range<Int>) throws -> RoundBatchOutput {
        guard let stage = Stage(rawValue: task.stage) else {
            throw LearningError(.badValue, field: "stage", "unknown stage \(task.stage) (expected 0, 1 or 2)")
        }
        let count = layout(stage).items
        guard items.lowerBound >= 0, items.upperBound <= count else {
            throw LearningError(.badValue, field: "items", "\(items) is outside the \(count) items of stage \(stage)")
        }
        let policy = try self.policy(task.input)
        switch stage {
        case .ppoRollouts:
            guard let ppo else { throw LearningError(.unsupported, field: "stage", "this point runs no PPO") }
            return ppoRollouts(policy, items: items, round: task.round, configuration: ppo)
        case .reinforceRollouts:
            guard let reinforce else { throw LearningError(.unsupported, field: "stage", "this point runs no REINFORCE") }
            return reinforceRollouts(policy, items: items, round: task.round, configuration: reinforce)
        case .evaluation:
            return try evaluate(policy, walks: items, round: task.round)
        }
    }

    /// The policy whose logits `input` carries.
    private func policy(_ input: RoundPayload) throws(LearningError) -> SoftmaxPolicy {
        guard input.reals.count == initial.candidateCount, input.counts.isEmpty else {
            throw LearningError(
                .inconsistent, field: "input",
                "expected \(initial.candidateCount) logits and no counts, got \(input.reals.count) and \(input.counts.count)")
        }
        if let bad = input.reals.firstIndex(where: { !$0.isFinite }) {
            throw LearningError(.badValue, field: "input.reals[\(bad)]", "a logit must be finite, got \(input.reals[bad])")
        }
        var policy = initial
        policy.logits = input.reals
        return policy
    }

    private func ppoRollouts(
        _ policy: SoftmaxPolicy, items: Range<Int>, round: Int, configuration: PPOClipConfiguration
    ) -> RoundBatchOutput {
        let sampler = RolloutSampler(policy)
        var hits = [UInt64](repeating: 0, count: edges.count)
        var steps: UInt64 = 0
        for item in items {
            var random = AlgorithmRandom.stream(seed: seed, round: round, item: item)
            let rollout = sampler.rollout(from: configuration.rolloutStart, horizon: configuration.horizon, random: &random) { e in
                if let i = edges.position(of: e) { hits[i] += 1 }
            }
            steps += UInt64(rollout.steps)
        }
        return RoundBatchOutput(outcome: MonteCarloOutcome(steps: steps), payload: RoundPayload(counts: hits))
    }

    private func reinforceRollouts(
        _ policy: SoftmaxPolicy, items: Range<Int>, round: Int, configuration: ReinforceConfiguration
    ) -> RoundBatchOutput {
        let sampler = RolloutSampler(policy)
        var rewarded = RewardedTransitions(candidateCount: policy.candidateCount)
        var steps: UInt64 = 0
        for item in items {
            var random = AlgorithmRandom.stream(seed: seed, round: round, item: item)
            steps += UInt64(rewarded.add(sampler, start: task.start, target: task.target, horizon: configuration.horizon, random: &random))
        }
        let counts = rewarded.counts.map { UInt64($0) } + [UInt64(rewarded.rollouts)]
        return RoundBatchOutput(outcome: MonteCarloOutcome(steps: steps), payload: RoundPayload(counts: counts))
    }

    private func evaluate(_ policy: SoftmaxPolicy, walks: Range<Int>, round: Int) throws -> RoundBatchOutput {
        var stream = AlgorithmRandom.stream(seed: seed, round: round, item: 0)
        let chain = try policy.chain(clusters: task.clusters)
        let walkTask = try WalkTask(
            graph: WalkGraph(chain, hugePages: false), start: task.start, target: task.target, maxSteps: evaluation.maxSteps,
            seed: stream.next())
        return RoundBatchOutput(outcome: MonteCarloOutcome(try walkTask.run(walks: walks, observer: HittingTimeObserver.self)))
    }

    // MARK: Coordinator side

    func problem(with output: RoundBatchOutput, of task: RoundTask, batch: Int) -> String? {
        guard let stage = Stage(rawValue: task.stage) else { return "unknown stage \(task.stage)" }
        guard let items = items(stage, batch: batch) else { return "batch \(batch) does not exist in stage \(stage)" }
        let counts = output.payload.counts, steps = output.outcome.steps
        switch stage {
        case .evaluation:
            guard output.payload.isEmpty else { return "an evaluation batch returns no payload" }
            guard output.outcome.hittingTimes.count == UInt64(items.count) else {
                return "expected \(items.count) walks, got \(output.outcome.hittingTimes.count)"
            }
            return nil
        case .ppoRollouts, .reinforceRollouts:
            let horizon = (stage == .ppoRollouts ? ppo?.horizon : reinforce?.horizon) ?? 0
            let expected = stage == .ppoRollouts ? edges.count : initial.candidateCount + 1
            guard output.payload.reals.isEmpty, counts.count == expected else {
                return "expected \(expected) counts and no reals, got \(counts.count) and \(output.payload.reals.count)"
            }
            guard output.outcome.hittingTimes.count == 0 else { return "a rollout batch runs no walks" }
            guard steps <= UInt64(items.count * horizon) else {
                return "\(steps) steps from \(items.count) rollouts of at most \(horizon) steps"
            }
            let transitions = stage == .ppoRollouts ? counts[...] : counts.dropLast()
            // Each count is at most `steps`, so the sum cannot overflow.
            guard transitions.allSatisfy({ $0 <= steps }), transitions.reduce(0, +) <= steps else {
                return "more counted transitions than the \(steps) steps sampled"
            }
            if stage == .reinforceRollouts, counts[counts.count - 1] > UInt64(items.count) {
                return "\(counts[counts.count - 1]) rewarded rollouts out of \(items.count)"
            }
            return nil
        }
    }
}
