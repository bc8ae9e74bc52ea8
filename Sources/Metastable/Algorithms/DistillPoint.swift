/// One grid point of a distillation experiment: the batch functions workers run, and the
/// shape checks the coordinator applies to what comes back.
///
/// Rounds: one `collect` round per entry of `data_walks`, then one `evaluate` round.
/// - `collect` (stage 0): items are CoT walk indices; walk i of the chain uses the `.walk`
///   stream (point seed, i), whatever the round, so the data after a round are the walks
///   `0..<data_walks[r]`. Input: empty. Output: the walks' `MonteCarloOutcome`, whose
///   `transitions` are the cluster-level counts (the chain has labels); empty payload.
/// - `evaluate` (stage 1): items are walk indices on the distilled K-state chain. Input:
///   `reals` = q̂⁺ row-major, K² probabilities (`DistilledChainPayload`). Output: the walks'
///   `MonteCarloOutcome` (hitting times of the target cluster); empty payload.
final class DistillPoint: AlgorithmPoint {
    enum Stage: Int {
        case collect = 0
        case evaluate = 1
    }

    let configuration: DistillConfiguration
    let seed: UInt64
    /// The spec's chain, its start and target.
    let chain: Chain
    let start: StartDistribution
    let target: TargetSet
    let clusterCount: Int
    /// The law of the start's cluster, and the target cluster: the distilled chain's problem.
    let startClusters: StartDistribution
    let targetCluster: Int
    let beta: Double
    let maxSteps: UInt64
    /// CoT walks of the chain, seeded by the point.
    let walks: WalkTask

    init(configuration: DistillConfiguration, context: AlgorithmContext) throws {
        let (chain, start, target) = try context.problem()
        guard let labels = chain.clusters else {
            throw SpecError(field: "chain", "distillation needs cluster labels (a generated chain, or a graph with labels)")
        }
        let targetCluster = labels[target.states[0]]
        guard Set(target.states) == Set(labels.members(of: targetCluster).map(Int.init)) else {
            throw SpecError(field: "target", "distillation needs a whole cluster as target, e.g. {cluster: last}")
        }
        var weights = [Double](repeating: 0, count: labels.clusterCount)
        for (s, p) in zip(start.states, start.probabilities) { weights[labels[s]] += p }
        self.configuration = configuration
        seed = context.seed
        self.chain = chain
        self.start = start
        self.target = target
        clusterCount = labels.clusterCount
        startClusters = try StartDistribution(
            weights: weights.indices.filter { weights[$0] > 0 }.map { ($0, weights[$0]) }, stateCount: labels.clusterCount)
        self.targetCluster = targetCluster
        beta = try configuration.boost(for: context.spec.chain)
        maxSteps = context.spec.maxSteps
        walks = try WalkTask(graph: WalkGraph(chain), start: start, target: target, maxSteps: maxSteps, seed: seed)
    }

    /// The rounds that collect data.
    var collectRounds: Int { configuration.dataWalks.count }

    /// The items of every batch of round `round`: fixed by the configuration alone.
    func batches(round: Int) -> [Range<Int>] {
        if round < collectRounds {
            let first = round == 0 ? 0 : configuration.dataWalks[round - 1]
            let last = configuration.dataWalks[round]
            return stride(from: first, to: last, by: configuration.walksPerBatch).map {
                $0..<min($0 + configuration.walksPerBatch, last)
            }
        }
        return AlgorithmRound(
            stage: Stage.evaluate.rawValue, items: configuration.evaluationWalks,
            batchSize: DistillConfiguration.evaluationBatchSize, label: ""
        ).batches
    }

    func stage(of round: Int) -> Stage { round < collectRounds ? .collect : .evaluate }

    func runBatch(_ task: RoundTask, batch: Int, items: Range<Int>) throws -> RoundBatchOutput {
        guard task.round >= 0, task.round <= collectRounds, Stage(rawValue: task.stage) == stage(of: task.round) else {
            throw LearningError(.badValue, field: "round", "round \(task.round), stage \(task.stage) is not a round of this point")
        }
        let expected = batches(round: task.round)
        guard expected.indices.contains(batch), expected[batch] == items else {
            throw LearningError(.badValue, field: "items", "batch \(batch) of round \(task.round) is not the walks \(items)")
        }
        switch stage(of: task.round) {
        case .collect:
            guard task.input.isEmpty else { throw LearningError(.inconsistent, field: "input", "a collect round takes no input") }
            return RoundBatchOutput(outcome: MonteCarloOutcome(try walks.run(walks: items, observer: ClusterObserver.self)))
        case .evaluate:
            let distilled = try DistilledChainPayload.chain(from: task.input, clusterCount: clusterCount)
            var stream = AlgorithmRandom.stream(seed: seed, round: task.round, item: 0)
            let evaluation = try WalkTask(
                graph: WalkGraph(distilled), start: startClusters,
                target: TargetSet(states: [targetCluster], stateCount: clusterCount), maxSteps: maxSteps,
                seed: stream.next())
            return RoundBatchOutput(outcome: MonteCarloOutcome(try evaluation.run(walks: items)))
        }
    }

    func problem(with output: RoundBatchOutput, of task: RoundTask, batch: Int) -> String? {
        let expected = batches(round: task.round)
        guard expected.indices.contains(batch) else { return "round \(task.round) has no batch \(batch)" }
        guard output.payload.isEmpty else { return "expected an empty payload" }
        let outcome = output.outcome
        guard outcome.hittingTimes.count == UInt64(expected[batch].count) else {
            return "expected \(expected[batch].count) walks, got \(outcome.hittingTimes.count)"
        }
        switch stage(of: task.round) {
        case .collect:
            guard let counts = outcome.transitions, counts.clusterCount == clusterCount else {
                return "expected cluster transition counts over \(clusterCount) clusters"
            }
            let counted = (0..<clusterCount).reduce(UInt64(0)) { $0 &+ counts.steps(in: $1) }
            guard counted == outcome.steps else {
                return "the transition counts hold \(counted) steps, the walks took \(outcome.steps)"
            }
        case .evaluate:
            guard outcome.transitions == nil else { return "evaluation walks record no cluster transitions" }
        }
        return nil
    }

    func makeDriver() throws -> any AlgorithmDriver {
        try DistillDriver(point: self)
    }
}

/// The distilled chain as a round input: `reals` = the K×K transition matrix, row-major.
enum DistilledChainPayload {
    static func payload(_ model: DistilledMetaChain) -> RoundPayload {
        RoundPayload(reals: (0..<model.clusterCount).flatMap { model.boostedRow($0) })
    }

    /// The K-state chain of a payload, checked entry by entry: it came off the wire.
    static func chain(from payload: RoundPayload, clusterCount k: Int) throws -> Chain {
        guard payload.counts.isEmpty, payload.reals.count == k * k else {
            throw LearningError(.inconsistent, field: "input", "expected \(k * k) transition probabilities and no counts")
        }
        var offsets = [0], columns = [UInt32](), probabilities = [Double]()
        for row in 0..<k {
            let entries = payload.reals[row * k..<(row + 1) * k]
            guard entries.allSatisfy({ $0.isFinite && $0 >= 0 && $0 <= 1 }), abs(entries.reduce(0, +) - 1) < 1e-9 else {
                throw LearningError(.badValue, field: "input", "row \(row) is not a probability vector")
            }
            for (l, p) in zip(0..., entries) where p > 0 {
                columns.append(UInt32(l))
                probabilities.append(p)
            }
            offsets.append(columns.count)
        }
        return try Chain(
            stateCount: k, rowOffsets: offsets, columns: columns, probabilities: probabilities, kinds: nil, normalize: true)
    }
}
