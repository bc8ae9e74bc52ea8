/// Two-stage pretraining (Algorithm 1, paper-notes §2) of a softmax model on transitions of
/// the spec's chain: max-row TV error over the gradient steps of both stages, exact support
/// recovery after pruning, and E[τ] (exact and Monte Carlo) of the learned chain next to the
/// true one.
///
/// Parameters (defaults as `PretrainingConfig`, tuned on |S| = 18, ε = 0.05):
///
///     distractors: 4                 random non-edges added as candidates per row
///     transitions_per_step: 512      transitions per gradient step
///     learning_rate: 4               η of stage 1
///     stage2_learning_rate: 1        η of stage 2
///     stage1_steps: 3000             T_1
///     stage2_steps: 3000             T_2
///     prune_threshold: (none)        default: a quarter of the smallest true probability
///     checkpoint_interval: 250       gradient steps per round (one TV checkpoint each)
///     steps_per_batch: 25            gradient steps whose transitions one batch draws
///                                    (no effect on results)
///
/// The evaluation walks use the spec's `walks`, `max_steps` and `batch_size`.
public struct PretrainingExperiment: AlgorithmConfiguration {
    public static let name = "pretraining"
    public static let summary = "two-stage pretraining: max-row TV over GD steps, support recovery, E[τ] of the learned chain"
    public static let tableValues: [String]? = [
        "support_recovered", "spurious_edges", "lost_edges", "stage1_max_tv", "final_max_tv", "exact_true", "exact_learned", "mc_ratio",
    ]

    let config: PretrainingConfig
    let stepsPerBatch: Int

    public init(_ parameters: AlgorithmParameters) throws(SpecError) {
        let defaults = PretrainingConfig()
        config = PretrainingConfig(
            distractors: try parameters.int("distractors", default: defaults.distractors),
            batchSize: try parameters.int("transitions_per_step", default: defaults.batchSize, min: 1),
            learningRate: try parameters.double("learning_rate", default: defaults.learningRate, .above(0)),
            stage2LearningRate: try parameters.double("stage2_learning_rate", default: defaults.stage2LearningRate, .above(0)),
            stage1Steps: try parameters.int("stage1_steps", default: defaults.stage1Steps),
            stage2Steps: try parameters.int("stage2_steps", default: defaults.stage2Steps),
            pruneThreshold: try parameters.optionalDouble(
                "prune_threshold", AlgorithmParameters.Check { $0 >= 0 && $0 < 1 ? nil : "must be in [0, 1), got \($0)" }),
            checkpointInterval: try parameters.int("checkpoint_interval", default: defaults.checkpointInterval, min: 1))
        stepsPerBatch = try parameters.int("steps_per_batch", default: 25, min: 1)
    }

    public func prepare(_ context: AlgorithmContext) throws -> any AlgorithmPoint {
        let (chain, start, target) = try context.problem()
        var config = config
        config.seed = context.seed
        return try PretrainingExperimentPoint(
            chain: chain, start: start, target: target, spec: context.spec, config: config, stepsPerBatch: stepsPerBatch)
    }

    public static func figures(gridParameters: [String]) -> [FigureSpec] {
        [
            FigureSpec(
                file: "tv.png", title: "Pretraining: max-row TV of p̂ vs p", table: "training", x: "step",
                xLabel: "gradient step", yLabel: "max_x TV(p̂(x,·), p(x,·))",
                series: [.init("stage1_max_tv", label: "stage 1 (all candidates)"), .init("stage2_max_tv", label: "stage 2 (pruned)")],
                logY: true, groupBy: gridParameters.isEmpty ? nil : "point"),
            FigureSpec(
                file: "hitting_time.png", title: "Pretraining: E[τ] of the learned chain vs the true one", table: "summary",
                x: "exact_true", xLabel: "E[τ] of the true chain (exact)", yLabel: "E[τ] of the learned chain",
                series: [
                    .init("mc_learned", label: "Monte Carlo", lower: "mc_learned_lower", upper: "mc_learned_upper"),
                    .init("exact_learned", label: "exact"),
                ],
                logX: true, logY: true, diagonal: true),
        ]
    }
}

/// A grid point of the pretraining experiment. Rounds and stages:
///
///     rounds 0..<c   stage 1 or 2: draw the transitions of `checkpoint_interval` gradient
///                    steps. Items are global step indices; item s draws from
///                    `Pretraining.stepRandom(seed:step: s)`. Payload counts: per item,
///                    one count per stage-1 candidate (`candidates.columns` order).
///     then           stage 3: walks on the true chain; stage 4: walks on the learned one,
///                    input reals = a logit per stage-1 candidate, counts = 1 if kept else 0.
///
/// Transitions come from the true chain whatever the model, so workers count them against
/// the fixed stage-1 candidates and the coordinator does every gradient step.
final class PretrainingExperimentPoint: AlgorithmPoint {
    let chain: Chain
    let truth: Chain
    let start: StartDistribution
    let target: TargetSet
    let spec: ExperimentSpec
    let config: PretrainingConfig
    let sampler: ChainSampler
    /// The stage-1 candidates, W = 0.
    let candidates: SoftmaxPolicy
    /// The sampling rounds: stage and gradient steps of each.
    let chunks: [(stage: Int, steps: Range<Int>)]
    let stepsPerBatch: Int
    let walkBatches: [Range<Int>]

    init(
        chain: Chain, start: StartDistribution, target: TargetSet, spec: ExperimentSpec, config: PretrainingConfig,
        stepsPerBatch: Int
    ) throws {
        try config.validate()
        self.chain = chain
        truth = chain.expanded()
        self.start = start
        self.target = target
        self.spec = spec
        self.config = config
        sampler = try ChainSampler(chain)
        candidates = Pretraining.candidates(truth, distractors: config.distractors, seed: config.seed)
        var chunks = [(stage: Int, steps: Range<Int>)]()
        let ends = [(1, config.stage1Steps), (2, config.stage1Steps + config.stage2Steps)]
        var next = 0
        for (stage, end) in ends {
            while next < end {
                let stop = min(next + config.checkpointInterval, end)
                chunks.append((stage, next..<stop))
                next = stop
            }
        }
        self.chunks = chunks
        self.stepsPerBatch = stepsPerBatch
        walkBatches = AlgorithmWalks.batches(spec)
    }

    /// The batches of a round: steps of the chunk in groups of `steps_per_batch`, or walks.
    func batches(_ task: RoundTask) -> [Range<Int>] {
        guard task.stage <= 2 else { return walkBatches }
        guard chunks.indices.contains(task.round) else { return [] }
        let steps = chunks[task.round].steps
        return stride(from: steps.lowerBound, to: steps.upperBound, by: stepsPerBatch).map { $0..<min($0 + stepsPerBatch, steps.upperBound) }
    }

    func runBatch(_ task: RoundTask, batch: Int, items: Range<Int>) throws -> RoundBatchOutput {
        guard (1...4).contains(task.stage) else { throw LearningError(.badValue, field: "stage", "must be 1 to 4, got \(task.stage)") }
        let batches = batches(task)
        guard batches.indices.contains(batch), batches[batch] == items else {
            throw LearningError(.badValue, field: "items", "batch \(batch) with items \(items) is not a batch of round \(task.round)")
        }
        switch task.stage {
        case 1, 2:
            let c = candidates.candidateCount
            var counts = [UInt64](repeating: 0, count: items.count * c)
            for (i, step) in items.enumerated() {
                var random = Pretraining.stepRandom(seed: config.seed, step: step)
                try Pretraining.countTransitions(
                    config.batchSize, sampler: sampler, candidates: candidates, random: &random, into: &counts[i * c..<(i + 1) * c])
            }
            return RoundBatchOutput(
                outcome: MonteCarloOutcome(steps: UInt64(items.count * config.batchSize)), payload: RoundPayload(counts: counts))
        case 3:
            return RoundBatchOutput(outcome: try walks(on: chain, evaluation: 0, items: items))
        default:
            return RoundBatchOutput(outcome: try walks(on: learnedChain(task.input), evaluation: 1, items: items))
        }
    }

    func problem(with output: RoundBatchOutput, of task: RoundTask, batch: Int) -> String? {
        let batches = batches(task)
        let items = batches.indices.contains(batch) ? batches[batch] : nil
        guard task.stage <= 2 else { return AlgorithmWalks.problem(with: output, items: items) }
        guard let items else { return "there is no such batch in round \(task.round)" }
        let counts = output.payload.counts
        guard output.payload.reals.isEmpty, counts.count == items.count * candidates.candidateCount else {
            return "expected \(items.count * candidates.candidateCount) counts and no reals, got \(counts.count) and \(output.payload.reals.count)"
        }
        for i in 0..<items.count {
            let total = counts[i * candidates.candidateCount..<(i + 1) * candidates.candidateCount].reduce(0, &+)
            guard total == UInt64(config.batchSize) else { return "step \(items.lowerBound + i) counts \(total) transitions, expected \(config.batchSize)" }
        }
        guard output.outcome.steps == UInt64(items.count * config.batchSize) else { return "reports \(output.outcome.steps) steps" }
        return nil
    }

    func makeDriver() throws -> any AlgorithmDriver { PretrainingExperimentDriver(point: self) }

    /// The learned model an evaluation round's input describes, as a chain.
    func learnedChain(_ input: RoundPayload) throws -> Chain {
        let c = candidates.candidateCount
        guard input.reals.count == c, input.counts.count == c, input.counts.allSatisfy({ $0 <= 1 }) else {
            throw LearningError(.inconsistent, field: "input", "expected \(c) logits and \(c) kept flags (0 or 1)")
        }
        guard input.reals.allSatisfy(\.isFinite) else { throw LearningError(.badValue, field: "input", "a logit is not finite") }
        var policy = try candidates.pruned { input.counts[$0] == 1 }
        policy.logits = zip(input.reals, input.counts).filter { $0.1 == 1 }.map(\.0)
        return try policy.chain(clusters: chain.clusters)
    }

    private func walks(on chain: Chain, evaluation: Int, items: Range<Int>) throws -> MonteCarloOutcome {
        try AlgorithmWalks.run(
            chain, start: start, target: target, maxSteps: spec.maxSteps,
            seed: AlgorithmWalks.seed(config.seed, evaluation: evaluation), items: items)
    }
}

/// Does the gradient steps on the counted batches, prunes between the stages, then asks for
/// the evaluation walks.
struct PretrainingExperimentDriver: AlgorithmDriver {
    let point: PretrainingExperimentPoint
    private var trainer: PretrainingTrainer
    private var round = 0
    private var pruning: (spurious: [Transition], missed: [Transition], before: Int, after: Int)? = nil
    private var training: ResultTable
    private var stage1Distance: Double? = nil
    private var base = MonteCarloOutcome(), learned = MonteCarloOutcome()

    init(point: PretrainingExperimentPoint) {
        self.point = point
        trainer = PretrainingTrainer(truth: point.truth, candidates: point.candidates)
        training = ResultTable(name: "training", columns: ["step", "stage", "stage1_max_tv", "stage2_max_tv", "mean_tv", "loss"])
    }

    private var evaluation: Int { round - point.chunks.count }

    mutating func nextRound() throws -> AlgorithmRound? {
        if training.rows.isEmpty {
            let d = try trainer.distance()
            training.append([0, 1, d.max, nil, d.mean, nil])
        }
        if pruning == nil, round == point.chunks.count || point.chunks[round].stage == 2 {
            let before = trainer.policy.candidateCount
            stage1Distance = try trainer.distance().max
            let (spurious, missed) = try trainer.prune(threshold: threshold)
            pruning = (spurious, missed, before, trainer.policy.candidateCount)
        }
        if round < point.chunks.count {
            let chunk = point.chunks[round]
            let task = RoundTask(round: round, stage: chunk.stage)
            return AlgorithmRound(stage: chunk.stage, batches: point.batches(task), label: "stage \(chunk.stage): steps \(chunk.steps)")
        }
        switch evaluation {
        case 0: return AlgorithmRound(stage: 3, batches: point.walkBatches, label: "walks on the true chain")
        case 1:
            // A learned chain that lost an edge on every path never hits the target: its walks
            // would run to max_steps, so the report says E[τ] = ∞ instead.
            guard try learnedExact() != nil else { return nil }
            var logits = [Double](repeating: 0, count: point.candidates.candidateCount)
            var e = 0
            for (i, kept) in trainer.keptCandidates.enumerated() where kept {
                logits[i] = trainer.policy.logits[e]
                e += 1
            }
            let input = RoundPayload(reals: logits, counts: trainer.keptCandidates.map { $0 ? 1 : 0 })
            return AlgorithmRound(stage: 4, input: input, batches: point.walkBatches, label: "walks on the learned chain")
        default: return nil
        }
    }

    mutating func finish(_ outputs: [RoundBatchOutput]) throws {
        defer { round += 1 }
        guard round < point.chunks.count else {
            for output in outputs {
                if evaluation == 0 { base.merge(output.outcome) } else { learned.merge(output.outcome) }
            }
            return
        }
        let stage = point.chunks[round].stage
        let rate = stage == 1 ? point.config.learningRate : point.config.stage2LearningRate
        let c = point.candidates.candidateCount
        var loss = Double.nan
        for output in outputs {
            for start in stride(from: 0, to: output.payload.counts.count, by: c) {
                loss = try trainer.step(counts: output.payload.counts[start..<start + c], learningRate: rate)
            }
        }
        let d = try trainer.distance()
        training.append([Double(trainer.steps), Double(stage), stage == 1 ? d.max : nil, stage == 2 ? d.max : nil, d.mean, loss])
    }

    /// E[τ] of the current model's chain, nil when it misses the target with positive probability.
    private func learnedExact() throws -> Double? {
        try Pretraining.finiteHittingTime(trainer.policy.chain(clusters: point.chain.clusters), target: point.target, start: point.start)
    }

    private var threshold: Double { point.config.pruneThreshold ?? Pretraining.defaultThreshold(point.truth) }

    func report() throws -> AlgorithmReport {
        guard let pruning else { throw LearningError(.unsupported, field: "pretraining", "reported before pruning") }
        let final = try trainer.distance()
        let exactTrue = try ExactSolver.hittingTimes(point.chain, target: point.target).expected(from: point.start)
        let exactLearned = try learnedExact()
        var values: [String: Double?] = [
            "support_recovered": pruning.spurious.isEmpty && pruning.missed.isEmpty ? 1 : 0,
            "spurious_edges": Double(pruning.spurious.count), "lost_edges": Double(pruning.missed.count),
            "candidates_before": Double(pruning.before), "candidates_after": Double(pruning.after),
            "true_edges": Double(point.truth.entryCount), "prune_threshold": threshold,
            "outside_support": Double(trainer.outsideSupport), "stage1_max_tv": stage1Distance,
            "final_max_tv": final.max, "final_mean_tv": final.mean,
            "samples": Double(trainer.steps * point.config.batchSize),
            "exact_true": exactTrue, "exact_learned": exactLearned,
            "exact_relative_error": exactLearned.map { $0 / exactTrue - 1 },
        ]
        values.merge(AlgorithmWalks.values("mc_true", base.hittingTimes.summary)) { a, _ in a }
        values.merge(AlgorithmWalks.values("mc_learned", learned.hittingTimes.summary)) { a, _ in a }
        values.merge(AlgorithmEstimate.ratio(learned.hittingTimes.summary, base.hittingTimes.summary).values("mc_ratio")) { a, _ in a }
        let edges = { (list: [Transition]) in list.map { "\($0.from)→\($0.to)" }.joined(separator: " ") }
        return AlgorithmReport(
            values: values, tables: [training], notes: ["spurious_edges": edges(pruning.spurious), "lost_edges": edges(pruning.missed)])
    }
}
