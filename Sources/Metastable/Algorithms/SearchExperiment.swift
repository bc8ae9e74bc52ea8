/// Sparse-edge search (Algorithm 2, paper-notes §3), repeated on the spec's chain: how often
/// all sparse edges are found as a function of R, N, T_0 and T_max, false positives (plant
/// decoys with the chain's `decoys:`), and the steps spent next to K·M/ε.
///
/// Parameters: those of `SearchParameters` (R, N, T_0, T_max and their factors), and
///
///     repetitions: 100       independent searches per grid point
///
/// The search runs on the spec's chain, standing for a pretrained one (the pretraining
/// experiment shows the learned chain has the true support).
///
/// One round: every repetition's N rollout lineages are items (item = repetition·N + rollout).
/// Because a lineage's first r rounds do not depend on R, and rollout n's stream does not
/// depend on N, the same round also gives the recovery rate of every smaller R (at N) and
/// every smaller N (at R): the `recovery_by_rounds` and `recovery_by_rollouts` tables.
public struct SearchExperiment: AlgorithmConfiguration {
    public static let name = "search"
    public static let summary = "sparse-edge search: probability of finding all sparse edges vs R, N, T_0, T_max; false positives; steps vs K·M/ε"
    public static let tableValues: [String]? = [
        "p_all_found", "p_all_found_lower", "p_all_found_upper", "false_positives", "decoy_false_positives", "steps_ratio",
    ]

    let search: SearchParameters
    let repetitions: Int

    public init(_ parameters: AlgorithmParameters) throws(SpecError) {
        search = try SearchParameters(parameters)
        repetitions = try parameters.int("repetitions", default: 100, min: 1)
    }

    public func prepare(_ context: AlgorithmContext) throws -> any AlgorithmPoint {
        let (chain, start, _) = try context.problem()
        let config = try search.configuration(for: chain, seed: context.seed)
        return try SearchExperimentPoint(
            chain: chain, start: start, config: config, repetitions: repetitions, rolloutsPerBatch: search.rolloutsPerBatch,
            seed: context.seed)
    }

    public static func figures(gridParameters: [String]) -> [FigureSpec] {
        let group: String? = gridParameters.isEmpty ? nil : "point"
        // Per-point curves of R and N: at the default T_0 factor when the grid sweeps it, so
        // that a large grid does not draw a line per point.
        let slice: [String: Double] = gridParameters.contains("t0_factor") ? ["t0_factor": 3] : [:]
        let recovery = FigureSpec.Series("p_all_found", label: "P(all sparse edges found)", lower: "p_all_found_lower", upper: "p_all_found_upper")
        var figures = [
            FigureSpec(
                file: "recovery_vs_rounds.png", title: "Search: recovery vs rounds R (N fixed)", table: "recovery_by_rounds",
                x: "rounds", xLabel: "rounds R", yLabel: "P(all sparse edges found)", series: [recovery], groupBy: group,
                only: slice),
            FigureSpec(
                file: "recovery_vs_rollouts.png", title: "Search: recovery vs rollouts N (R fixed)", table: "recovery_by_rollouts",
                x: "rollouts", xLabel: "rollouts per round N", yLabel: "P(all sparse edges found)", series: [recovery], groupBy: group,
                only: slice),
            FigureSpec(
                file: "steps_vs_reference.png", title: "Search: steps spent vs K·M/ε", table: "summary", x: "reference_steps",
                xLabel: "K·M/ε", yLabel: "steps per search (mean)",
                series: [.init("steps_mean", label: "steps spent", lower: "steps_mean_lower", upper: "steps_mean_upper")],
                logX: true, logY: true, groupBy: lineParameter(gridParameters, besides: ["epsilon", "clusters", "cluster_size"]),
                diagonal: true),
        ]
        for parameter in gridParameters {
            let other = lineParameter(gridParameters, besides: [parameter])
            figures.append(FigureSpec(
                file: "recovery_vs_\(parameter).png", title: "Search: recovery vs \(parameter)", table: "summary", x: parameter,
                xLabel: parameter, yLabel: "P(all sparse edges found)", series: [recovery], groupBy: other))
            figures.append(FigureSpec(
                file: "false_positives_vs_\(parameter).png", title: "Search: false positives vs \(parameter)", table: "summary",
                x: parameter, xLabel: parameter, yLabel: "edges per search",
                series: [.init("false_positives", label: "false positives"), .init("decoy_false_positives", label: "of which decoys")],
                groupBy: other))
        }
        return figures
    }

    /// The grid parameter that gets one line per value in a summary figure: T_max sets the
    /// steps and the recovery most, so it is preferred; nil when the grid has no other.
    static func lineParameter(_ gridParameters: [String], besides excluded: [String]) -> String? {
        let candidates = gridParameters.filter { !excluded.contains($0) }
        return candidates.first { $0.hasSuffix("t_max_factor") || $0.hasSuffix("t_max") } ?? candidates.first
    }
}

/// A grid point of the search experiment: the chain, the resolved search, and the layout of
/// its single round.
final class SearchExperimentPoint: AlgorithmPoint {
    let chain: Chain
    let start: StartDistribution
    let sampler: ChainSampler
    let config: SparseEdgeSearchConfig
    let parameters: SparseEdgeSearchConfig.Resolved
    let repetitions: Int
    let seed: UInt64
    /// The batches of the round: lineages in groups of `rollouts_per_batch`.
    let batches: [Range<Int>]

    init(
        chain: Chain, start: StartDistribution, config: SparseEdgeSearchConfig, repetitions: Int, rolloutsPerBatch: Int,
        seed: UInt64
    ) throws {
        try SparseEdgeSearch.check(start, in: chain)
        self.chain = chain
        self.start = start
        sampler = try ChainSampler(chain)
        self.config = config
        parameters = try config.resolved()
        self.repetitions = repetitions
        self.seed = seed
        batches = AlgorithmRound(stage: 0, items: repetitions * parameters.rollouts, batchSize: rolloutsPerBatch, label: "").batches
    }

    func runBatch(_ task: RoundTask, batch: Int, items: Range<Int>) throws -> RoundBatchOutput {
        guard task.round == 0, task.stage == 0 else {
            throw LearningError(.badValue, field: "task", "the search has one round of stage 0, got round \(task.round) stage \(task.stage)")
        }
        guard batches.indices.contains(batch), batches[batch] == items else {
            throw LearningError(.badValue, field: "items", "batch \(batch) with items \(items) is not a batch of this round")
        }
        return SearchRollouts.run(sampler, start: start, parameters: parameters, seed: seed, items: items)
    }

    func problem(with output: RoundBatchOutput, of task: RoundTask, batch: Int) -> String? {
        SearchRollouts.problem(
            with: output, items: batches.indices.contains(batch) ? batches[batch] : nil, parameters: parameters,
            stateCount: chain.stateCount)
    }

    func makeDriver() throws -> any AlgorithmDriver { SearchExperimentDriver(point: self) }
}

/// Runs the round of lineages, then scores every repetition against the chain's edge kinds.
struct SearchExperimentDriver: AlgorithmDriver {
    let point: SearchExperimentPoint
    private var lineages: [[SparseEdgeSearch.RolloutRound]]? = nil

    init(point: SearchExperimentPoint) { self.point = point }

    mutating func nextRound() throws -> AlgorithmRound? {
        guard lineages == nil else { return nil }
        return AlgorithmRound(stage: 0, batches: point.batches, label: "\(point.repetitions) searches")
    }

    mutating func finish(_ outputs: [RoundBatchOutput]) throws {
        lineages = SearchRollouts.decode(outputs, rounds: point.parameters.rounds)
    }

    func report() throws -> AlgorithmReport {
        guard let lineages else { throw LearningError(.unsupported, field: "search", "reported before its round ran") }
        let p = point.parameters
        let (sparse, decoys) = SearchParameters.edges(of: point.chain)
        let reference = Double(point.config.clusterCount) * Double(point.config.clusterSize) / point.config.epsilon

        /// The edges repetition `rep` found with its first `rounds` rounds of its first `rollouts` rollouts, and the steps.
        func search(_ rep: Int, rounds: Int, rollouts: Int) -> (edges: Set<Transition>, steps: Int) {
            var edges = Set<Transition>(), steps = 0
            for lineage in lineages[rep * p.rollouts..<rep * p.rollouts + rollouts] {
                for round in lineage.prefix(rounds) {
                    steps += round.steps
                    if let edge = round.edge { edges.insert(edge) }
                }
            }
            return (edges, steps)
        }

        func row(_ size: Int, rounds: Int, rollouts: Int) -> [Double?] {
            var successes = 0
            var steps = IntegerSampleAccumulator()
            for rep in 0..<point.repetitions {
                let (edges, spent) = search(rep, rounds: rounds, rollouts: rollouts)
                if sparse.isSubset(of: edges) { successes += 1 }
                steps.record(UInt64(spent))
            }
            let found = AlgorithmEstimate.proportion(successes: successes, trials: point.repetitions)
            let mean = steps.summary.mean ?? 0
            return [Double(size), found.value, found.lower, found.upper, mean, mean / reference]
        }

        let columns = ["p_all_found", "p_all_found_lower", "p_all_found_upper", "steps_mean", "steps_ratio"]
        var byRounds = ResultTable(name: "recovery_by_rounds", columns: ["rounds"] + columns)
        for r in 1...p.rounds { byRounds.append(row(r, rounds: r, rollouts: p.rollouts)) }
        var byRollouts = ResultTable(name: "recovery_by_rollouts", columns: ["rollouts"] + columns)
        for n in 1...p.rollouts { byRollouts.append(row(n, rounds: p.rounds, rollouts: n)) }

        var successes = 0, clean = 0
        var recall = 0.0, falsePositives = 0, decoyFalsePositives = 0, rejected = 0
        var steps = IntegerSampleAccumulator()
        for rep in 0..<point.repetitions {
            let (edges, spent) = search(rep, rounds: p.rounds, rollouts: p.rollouts)
            let wrong = edges.subtracting(sparse)
            if sparse.isSubset(of: edges) { successes += 1 }
            if wrong.isEmpty { clean += 1 }
            recall += Double(edges.intersection(sparse).count) / Double(sparse.count)
            falsePositives += wrong.count
            decoyFalsePositives += wrong.intersection(decoys).count
            steps.record(UInt64(spent))
            for lineage in lineages[rep * p.rollouts..<(rep + 1) * p.rollouts] {
                rejected += lineage.reduce(0) { $0 + $1.rejectedEscapes }
            }
        }
        let n = Double(point.repetitions)
        var values: [String: Double?] = [
            "repetitions": n, "sparse_edges": Double(sparse.count), "decoy_edges": Double(decoys.count),
            "rounds": Double(p.rounds), "rollouts": Double(p.rollouts), "t0": Double(p.clusterSteps), "t_max": Double(p.maxSteps),
            "clusters": Double(point.config.clusterCount), "cluster_size": Double(point.config.clusterSize),
            "epsilon": point.config.epsilon, "reference_steps": reference, "mean_recall": recall / n,
            "false_positives": Double(falsePositives) / n, "decoy_false_positives": Double(decoyFalsePositives) / n,
            "rejected_escapes": Double(rejected) / n, "steps_ratio": (steps.summary.mean ?? 0) / reference,
        ]
        values.merge(AlgorithmEstimate.proportion(successes: successes, trials: point.repetitions).values("p_all_found")) { a, _ in a }
        values.merge(AlgorithmEstimate.proportion(successes: clean, trials: point.repetitions).values("p_no_false_positive")) { a, _ in a }
        values.merge(AlgorithmEstimate.mean(steps.summary).values("steps_mean")) { a, _ in a }
        return AlgorithmReport(values: values, tables: [byRounds, byRollouts])
    }
}
