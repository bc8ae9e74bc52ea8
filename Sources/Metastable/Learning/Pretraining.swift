import Foundation

/// The settings of two-stage pretraining (Algorithm 1, paper-notes §2).
public struct PretrainingConfig: Sendable, Hashable, Codable {
    /// Random non-edges added as candidates to every row, so that pruning has something to
    /// prune. (The paper's candidate set is larger; this keeps the model tractable.)
    public var distractors: Int
    /// Transitions per gradient step; each is x uniform on the states, y ~ p(x, ·).
    public var batchSize: Int
    /// η of stage 1. The mean cross-entropy gives row x about 1/|S| of the batch, so the
    /// step a row sees is about η/|S|: scale η with the number of states. The defaults
    /// (η = 4, then 1, T_1 = T_2 = 3000, batches of 512) were tuned on |S| = 18, ε = 0.05:
    /// support recovered on every seed tried, max-row TV ≈ 0.02 at the end.
    public var learningRate: Double
    /// η of stage 2, smaller than stage 1's so the iterate averages out batch noise.
    public var stage2LearningRate: Double
    /// T_1, gradient steps on all candidates.
    public var stage1Steps: Int
    /// T_2, gradient steps on the pruned model.
    public var stage2Steps: Int
    /// Candidates with learned probability below this are pruned after stage 1. Nil: a
    /// quarter of the smallest positive probability of the true chain (ε/4 on the reference
    /// family, where dense entries (1−ε)/M are larger than ε): far below every true edge,
    /// far above what a non-edge keeps after T_1 steps.
    public var pruneThreshold: Double?
    /// Steps between two row-distance checkpoints (and one at the end of each stage).
    public var checkpointInterval: Int
    public var seed: UInt64

    public init(
        distractors: Int = 4, batchSize: Int = 512, learningRate: Double = 4, stage2LearningRate: Double = 1,
        stage1Steps: Int = 3000, stage2Steps: Int = 3000, pruneThreshold: Double? = nil, checkpointInterval: Int = 250,
        seed: UInt64 = 1
    ) {
        self.distractors = distractors
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.stage2LearningRate = stage2LearningRate
        self.stage1Steps = stage1Steps
        self.stage2Steps = stage2Steps
        self.pruneThreshold = pruneThreshold
        self.checkpointInterval = checkpointInterval
        self.seed = seed
    }

    /// Checks every field, naming the first bad one.
    public func validate() throws(LearningError) {
        func bad(_ field: String, _ why: String) -> LearningError { LearningError(.badValue, field: field, why) }
        guard distractors >= 0 else { throw bad("distractors", "must be non-negative, got \(distractors)") }
        guard batchSize >= 1 else { throw bad("batchSize", "must be at least 1, got \(batchSize)") }
        guard learningRate.isFinite, learningRate > 0 else { throw bad("learningRate", "must be positive, got \(learningRate)") }
        guard stage2LearningRate.isFinite, stage2LearningRate > 0 else {
            throw bad("stage2LearningRate", "must be positive, got \(stage2LearningRate)")
        }
        guard stage1Steps >= 0 else { throw bad("stage1Steps", "must be non-negative, got \(stage1Steps)") }
        guard stage2Steps >= 0 else { throw bad("stage2Steps", "must be non-negative, got \(stage2Steps)") }
        if let t = pruneThreshold, !(t.isFinite && t >= 0 && t < 1) {
            throw bad("pruneThreshold", "must be in [0, 1), got \(t)")
        }
        guard checkpointInterval >= 1 else { throw bad("checkpointInterval", "must be at least 1, got \(checkpointInterval)") }
    }
}

/// What pretraining did and how close it came.
public struct PretrainingReport: Sendable, Equatable, Codable {
    public struct Checkpoint: Sendable, Equatable, Codable {
        /// 1 or 2.
        public var stage: Int
        /// Gradient steps done so far, both stages counted.
        public var step: Int
        public var maxRowTV: Double
        public var meanRowTV: Double
        /// Mean cross-entropy of the last batch.
        public var loss: Double
    }

    public var checkpoints: [Checkpoint]
    /// The threshold used (the configured one or the default).
    public var pruneThreshold: Double
    public var candidatesBeforePruning: Int
    public var candidatesAfterPruning: Int
    /// Kept candidates that are not transitions of the true chain.
    public var spuriousEdges: [Transition]
    /// Transitions of the true chain that pruning removed.
    public var missedEdges: [Transition]
    /// Stage-2 transitions the pruned model could not represent (nonzero iff an edge was missed).
    public var outsideSupport: Int
    /// Transitions drawn in all.
    public var samples: Int
    /// Row distance of the final model to the true chain.
    public var finalDistance: SoftmaxPolicy.RowDistance
    /// E[τ] of the true chain and of the learned one, when a start and target were given.
    /// `learnedHittingTime` is nil when the learned chain misses the target with positive
    /// probability (E[τ] = ∞).
    public var trueHittingTime: Double?
    public var learnedHittingTime: Double?

    /// No spurious edge and no missed edge.
    public var supportRecovered: Bool { spuriousEdges.isEmpty && missedEdges.isEmpty }
}

/// Two-stage pretraining (Algorithm 1): GD on the cross-entropy of sampled transitions over
/// all candidates, pruning of low-probability candidates, GD again on the pruned model.
public enum Pretraining {
    /// Trains a softmax model of `chain` from its transitions.
    ///
    /// Stage 1 starts from W = 0 (each row uniform over its candidates). Batches come from
    /// `stepRandom(seed:step:)`, the distractors from index 0, so the result depends on the
    /// arguments only.
    ///
    /// - Parameters:
    ///   - start, target: when both are given, the report has the exact E[τ] of the true and
    ///     the learned chain.
    /// - Returns: the pruned, trained model and the report.
    public static func run(
        chain: Chain, config: PretrainingConfig = PretrainingConfig(), start: StartDistribution? = nil,
        target: TargetSet? = nil
    ) throws -> (policy: SoftmaxPolicy, report: PretrainingReport) {
        try config.validate()
        let truth = chain.expanded()
        let sampler = try ChainSampler(chain)
        let threshold = config.pruneThreshold ?? defaultThreshold(truth)
        var trainer = PretrainingTrainer(truth: truth, candidates: candidates(truth, distractors: config.distractors, seed: config.seed))
        var checkpoints = [PretrainingReport.Checkpoint]()
        var counts = [UInt64](repeating: 0, count: trainer.candidates.candidateCount)

        func train(stage: Int, steps: Int, learningRate: Double) throws {
            for local in 0..<steps {
                var random = stepRandom(seed: config.seed, step: trainer.steps)
                for e in counts.indices { counts[e] = 0 }
                try countTransitions(config.batchSize, sampler: sampler, candidates: trainer.candidates, random: &random, into: &counts[...])
                let loss = try trainer.step(counts: counts[...], learningRate: learningRate)
                if (local + 1) % config.checkpointInterval == 0 || local + 1 == steps {
                    let d = try trainer.distance()
                    checkpoints.append(.init(stage: stage, step: trainer.steps, maxRowTV: d.max, meanRowTV: d.mean, loss: loss))
                }
            }
        }

        try train(stage: 1, steps: config.stage1Steps, learningRate: config.learningRate)
        let before = trainer.policy.candidateCount
        let (spurious, missed) = try trainer.prune(threshold: threshold)
        let after = trainer.policy.candidateCount
        try train(stage: 2, steps: config.stage2Steps, learningRate: config.stage2LearningRate)

        var trueTime: Double? = nil, learnedTime: Double? = nil
        if let start, let target {
            trueTime = try ExactSolver.hittingTimes(chain, target: target).expected(from: start)
            learnedTime = try finiteHittingTime(trainer.policy.chain(clusters: chain.clusters), target: target, start: start)
        }
        let report = PretrainingReport(
            checkpoints: checkpoints, pruneThreshold: threshold, candidatesBeforePruning: before,
            candidatesAfterPruning: after, spuriousEdges: spurious, missedEdges: missed, outsideSupport: trainer.outsideSupport,
            samples: trainer.steps * config.batchSize, finalDistance: try trainer.distance(), trueHittingTime: trueTime,
            learnedHittingTime: learnedTime)
        return (trainer.policy, report)
    }

    /// The default pruning threshold: a quarter of the smallest positive probability of the
    /// true chain (see `PretrainingConfig.pruneThreshold`).
    static func defaultThreshold(_ truth: Chain) -> Double { (truth.probabilities.min() ?? 0) / 4 }

    /// The stream of gradient step `step` (0-based, both stages counted); index 0 belongs to
    /// the distractors. Shared by `run` and the pretraining experiment, so that both draw the
    /// same batches.
    static func stepRandom(seed: UInt64, step: Int) -> WalkRandom {
        AlgorithmRandom.stream(seed: seed, round: 0, item: step + 1)
    }

    /// Draws `count` transitions (x uniform on the states, y ~ p(x, ·)) and adds each to the
    /// count of its candidate in `counts` (aligned with `candidates.columns`).
    ///
    /// - Throws: `.inconsistent` when a drawn transition is not a candidate: the candidate
    ///   set must contain the chain's support, as `candidates(_:distractors:seed:)` builds it.
    static func countTransitions(
        _ count: Int, sampler: ChainSampler, candidates: SoftmaxPolicy, random: inout WalkRandom,
        into counts: inout ArraySlice<UInt64>
    ) throws(LearningError) {
        guard counts.count == candidates.candidateCount else {
            throw LearningError(.inconsistent, field: "counts", "\(counts.count) counts for \(candidates.candidateCount) candidates")
        }
        let n = sampler.stateCount, base = counts.startIndex
        for _ in 0..<count {
            let x = random.next(below: n)
            let y = sampler.step(from: x, using: &random)
            guard let e = candidates.candidate(from: x, to: y) else {
                throw LearningError(.inconsistent, field: "candidates", "transition \(x) → \(y) of the chain is not a candidate")
            }
            counts[base + e] += 1
        }
    }

    /// E[τ], or nil when the target is missed with positive probability.
    static func finiteHittingTime(_ chain: Chain, target: TargetSet, start: StartDistribution) throws(ChainError) -> Double? {
        do {
            return try ExactSolver.hittingTimes(chain, target: target).expected(from: start)
        } catch {
            guard error.reason == .unreachable else { throw error }
            return nil
        }
    }

    /// The true support of every row plus up to `distractors` random non-edges, W = 0.
    /// Distractors keep the kind `.dense`; true edges keep theirs.
    static func candidates(_ truth: Chain, distractors: Int, seed: UInt64) -> SoftmaxPolicy {
        let n = truth.stateCount
        var random = WalkRandom(seed: seed, domain: .learning, index: 0)
        var offsets = [0], columns = [UInt32](), kinds = [EdgeKind]()
        for x in 0..<n {
            var row = [Int: EdgeKind]()
            for e in truth.entries(of: x) { row[Int(truth.columns[e])] = truth.kinds[e] }
            let extra = min(distractors, n - row.count)
            var added = 0
            // Rejection sampling: rows are short next to n in the chains this runs on; a
            // full row takes the deterministic scan instead.
            if extra * 2 <= n - row.count {
                while added < extra {
                    let y = random.next(below: n)
                    if row[y] == nil { row[y] = .dense; added += 1 }
                }
            } else {
                var free = (0..<n).filter { row[$0] == nil }
                random.shuffle(&free)
                for y in free.prefix(extra) { row[y] = .dense }
            }
            for (y, kind) in row.sorted(by: { $0.key < $1.key }) {
                columns.append(UInt32(y)); kinds.append(kind)
            }
            offsets.append(columns.count)
        }
        return SoftmaxPolicy(
            validatedStateCount: n, rowOffsets: offsets, columns: columns,
            logits: [Double](repeating: 0, count: columns.count), kinds: kinds)
    }
}

/// The coordinator side of two-stage pretraining: the model, trained on batches counted
/// against the stage-1 candidates, and what pruning removed.
///
/// Batches are counted against the fixed stage-1 candidate set, so whoever counts them
/// (this process or a worker) needs no copy of the model; the trainer maps the counts onto
/// the current, possibly pruned, candidates.
struct PretrainingTrainer {
    let truth: Chain
    /// The stage-1 candidates, W = 0: what batches are counted against.
    let candidates: SoftmaxPolicy
    private(set) var policy: SoftmaxPolicy
    /// Gradient steps done, both stages.
    private(set) var steps = 0
    /// Transitions counted on candidates that pruning removed (nonzero iff an edge was lost).
    private(set) var outsideSupport = 0
    /// For each stage-1 candidate, its index in `policy`, or nil once pruned.
    private var current: [Int?]

    init(truth: Chain, candidates: SoftmaxPolicy) {
        self.truth = truth
        self.candidates = candidates
        policy = candidates
        current = Array(0..<candidates.candidateCount)
    }

    /// One gradient step on a batch given as counts per stage-1 candidate.
    ///
    /// - Returns: the batch's mean cross-entropy.
    /// - Throws: `.inconsistent` when `counts` does not match the stage-1 candidates.
    mutating func step(counts: ArraySlice<UInt64>, learningRate: Double) throws(LearningError) -> Double {
        guard counts.count == current.count else {
            throw LearningError(.inconsistent, field: "counts", "\(counts.count) counts for \(current.count) candidates")
        }
        var mapped = [UInt64](repeating: 0, count: policy.candidateCount)
        for (e, c) in zip(current, counts) {
            if let e { mapped[e] += c } else { outsideSupport += Int(c) }
        }
        let ce = try policy.crossEntropy(counts: mapped)
        try policy.descend(ce.gradient, learningRate: learningRate)
        steps += 1
        return ce.loss
    }

    /// Prunes the candidates whose learned probability is below `threshold`.
    ///
    /// - Returns: kept candidates that are not transitions of the true chain, and
    ///   transitions of the true chain that were removed.
    mutating func prune(threshold: Double) throws(LearningError) -> (spurious: [Transition], missed: [Transition]) {
        let model = policy.probabilities()
        let kept = { (e: Int) in model[e] >= threshold }
        var next = 0
        for (i, e) in current.enumerated() {
            guard let e else { continue }
            if kept(e) { current[i] = next; next += 1 } else { current[i] = nil }
        }
        policy = try policy.pruned(keeping: kept)
        var spurious = [Transition](), missed = [Transition]()
        for x in 0..<truth.stateCount {
            let mine = Set(policy.candidates(of: x).map { Int(policy.columns[$0]) })
            let real = Set(truth.entries(of: x).map { Int(truth.columns[$0]) })
            spurious += mine.subtracting(real).sorted().map { Transition(from: x, to: $0) }
            missed += real.subtracting(mine).sorted().map { Transition(from: x, to: $0) }
        }
        return (spurious, missed)
    }

    /// Which stage-1 candidates the current model keeps.
    var keptCandidates: [Bool] { current.map { $0 != nil } }

    func distance() throws(LearningError) -> SoftmaxPolicy.RowDistance { try policy.rowDistance(to: truth) }
}
