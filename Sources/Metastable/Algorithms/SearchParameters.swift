/// The sparse-edge search parameters of an `algorithm:` mapping, shared by the `search` and
/// `prm` experiments. Every one left out is derived from K, M and ε as
/// `SparseEdgeSearchConfig` documents:
///
///     rounds: R              default ⌈round_factor · K ln K⌉   (round_factor: 2)
///     rollouts: N            default ⌈ln K⌉ + 1
///     t0: T_0                default ⌈t0_factor · M ln M⌉ + M   (t0_factor: 3)
///     t_max: T_max           default T_0 + ⌈t_max_factor · M/ε⌉  (t_max_factor: 3)
///     confirm_steps          default T_0
///     rollouts_per_batch     default 4: rollouts one batch runs (no effect on results)
struct SearchParameters: Sendable, Equatable {
    var rounds: Int?
    var roundFactor: Double
    var rollouts: Int?
    var t0: Int?
    var t0Factor: Double
    var tMax: Int?
    var tMaxFactor: Double
    var confirmSteps: Int?
    var rolloutsPerBatch: Int

    init(_ p: AlgorithmParameters) throws(SpecError) {
        rounds = try p.optionalInt("rounds", min: 1)
        roundFactor = try p.double("round_factor", default: 2, .above(0))
        rollouts = try p.optionalInt("rollouts", min: 1)
        t0 = try p.optionalInt("t0", min: 0)
        t0Factor = try p.double("t0_factor", default: 3, .atLeast(0))
        tMax = try p.optionalInt("t_max", min: 1)
        tMaxFactor = try p.double("t_max_factor", default: 3, .above(0))
        confirmSteps = try p.optionalInt("confirm_steps", min: 0)
        rolloutsPerBatch = try p.int("rollouts_per_batch", default: 4, min: 1)
        if let t0, let tMax, tMax <= t0 { throw p.error("t_max", "must exceed t0 = \(t0), got \(tMax)") }
    }

    /// The search configuration for `chain`, with the K, M and ε the paper assumes the
    /// searcher knows: the number of clusters, the largest cluster, and the smallest
    /// probability of a sparse edge. They set the scale of the defaults only; the search
    /// itself never reads a label or an edge kind.
    ///
    /// - Throws: `SpecError` naming `chain` when it has no labels or no sparse edge, or the
    ///   algorithm field whose value the chain makes impossible (t_max ≤ T_0).
    func configuration(for chain: Chain, seed: UInt64) throws -> SparseEdgeSearchConfig {
        guard let clusters = chain.clusters else {
            throw SpecError(field: "chain", "the search experiments need cluster labels (to set K and M)")
        }
        guard let epsilon = Self.smallestSparseProbability(chain) else {
            throw SpecError(field: "chain", "has no sparse edge: there is nothing to search for")
        }
        let m = (0..<clusters.clusterCount).map(clusters.size(of:)).max() ?? 1
        let config = SparseEdgeSearchConfig(
            clusterCount: clusters.clusterCount, clusterSize: m, epsilon: epsilon, rounds: rounds, roundFactor: roundFactor,
            rollouts: rollouts, clusterSteps: t0, clusterStepsFactor: t0Factor, maxSteps: tMax, escapeFactor: tMaxFactor,
            confirmSteps: confirmSteps, seed: seed)
        do {
            _ = try config.resolved()
        } catch {
            throw SpecError(field: "algorithm.\(Self.specField[error.field] ?? error.field)", error.message)
        }
        return config
    }

    /// The spec's name for each field of `SparseEdgeSearchConfig`.
    private static let specField = [
        "rounds": "rounds", "rollouts": "rollouts", "clusterSteps": "t0", "maxSteps": "t_max",
        "confirmSteps": "confirm_steps", "roundFactor": "round_factor", "clusterStepsFactor": "t0_factor",
        "escapeFactor": "t_max_factor",
    ]

    /// The smallest probability of an edge of kind `.sparse`, or nil when there is none.
    static func smallestSparseProbability(_ chain: Chain) -> Double? {
        var smallest: Double? = nil
        for e in 0..<chain.entryCount where chain.kinds[e] == .sparse {
            smallest = min(smallest ?? 1, chain.probabilities[e])
        }
        return smallest
    }

    /// The sparse and the decoy edges of `chain`, by kind: what search results are scored against.
    static func edges(of chain: Chain) -> (sparse: Set<Transition>, decoys: Set<Transition>) {
        var sparse = Set<Transition>(), decoys = Set<Transition>()
        for x in 0..<chain.stateCount {
            for e in chain.entries(of: x) {
                let t = Transition(from: x, to: Int(chain.columns[e]))
                if chain.kinds[e] == .sparse { sparse.insert(t) } else if chain.kinds[e] == .decoy { decoys.insert(t) }
            }
        }
        return (sparse, decoys)
    }
}

/// Rollouts of the sparse-edge search as batch items. Item i is rollout lineage i: all R
/// rounds of one rollout (rollouts share nothing but Ê, see `SparseEdgeSearch`), drawing
/// from `AlgorithmRandom.stream(seed:, round: 0, item: i)` only, so neither the batch size
/// nor the worker count changes what it finds.
///
/// Payload (counts), per item in batch order, per round r of R:
///
///     [steps, rejected escapes, from + 1, to + 1]      (from + 1 = to + 1 = 0: no escape)
///
/// and `outcome.steps` is the sum of the steps.
enum SearchRollouts {
    static let fieldsPerRound = 4

    static func run(
        _ sampler: ChainSampler, start: StartDistribution, parameters p: SparseEdgeSearchConfig.Resolved, seed: UInt64,
        items: Range<Int>
    ) -> RoundBatchOutput {
        var counts = [UInt64]()
        counts.reserveCapacity(items.count * p.rounds * fieldsPerRound)
        var steps: UInt64 = 0
        for item in items {
            var random = AlgorithmRandom.stream(seed: seed, round: 0, item: item)
            for round in SparseEdgeSearch.rollout(sampler: sampler, start: start, parameters: p, random: &random) {
                steps += UInt64(round.steps)
                counts += [
                    UInt64(round.steps), UInt64(round.rejectedEscapes),
                    round.edge.map { UInt64($0.from) + 1 } ?? 0, round.edge.map { UInt64($0.to) + 1 } ?? 0,
                ]
            }
        }
        return RoundBatchOutput(outcome: MonteCarloOutcome(steps: steps), payload: RoundPayload(counts: counts))
    }

    /// What is wrong with a batch that should hold `items` lineages, or nil.
    static func problem(
        with output: RoundBatchOutput, items: Range<Int>?, parameters p: SparseEdgeSearchConfig.Resolved, stateCount: Int
    ) -> String? {
        guard let items else { return "there is no such batch in this round" }
        let counts = output.payload.counts
        guard output.payload.reals.isEmpty, counts.count == items.count * p.rounds * fieldsPerRound else {
            return "expected \(items.count * p.rounds * fieldsPerRound) counts and no reals, got \(counts.count) and \(output.payload.reals.count)"
        }
        var steps: UInt64 = 0
        for r in stride(from: 0, to: counts.count, by: fieldsPerRound) {
            guard counts[r] <= UInt64(p.maxSteps + p.confirmSteps) else { return "a round took \(counts[r]) steps, more than T_max allows" }
            guard counts[r + 2] <= UInt64(stateCount), counts[r + 3] <= UInt64(stateCount), (counts[r + 2] == 0) == (counts[r + 3] == 0) else {
                return "a recorded edge leaves the \(stateCount) states"
            }
            steps += counts[r]
        }
        guard output.outcome.steps == steps else { return "reports \(output.outcome.steps) steps, its rounds \(steps)" }
        return nil
    }

    /// The rounds of every lineage of a round's outputs (checked by `problem`), in item order.
    static func decode(_ outputs: [RoundBatchOutput], rounds: Int) -> [[SparseEdgeSearch.RolloutRound]] {
        var lineages = [[SparseEdgeSearch.RolloutRound]]()
        for output in outputs {
            let counts = output.payload.counts
            for start in stride(from: 0, to: counts.count, by: rounds * fieldsPerRound) {
                lineages.append((0..<rounds).map { r in
                    let f = start + r * fieldsPerRound
                    let edge = counts[f + 2] == 0 ? nil : Transition(from: Int(counts[f + 2] - 1), to: Int(counts[f + 3] - 1))
                    return SparseEdgeSearch.RolloutRound(steps: Int(counts[f]), rejectedEscapes: Int(counts[f + 1]), edge: edge)
                })
            }
        }
        return lineages
    }
}
