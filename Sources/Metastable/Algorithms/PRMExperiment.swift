/// The process reward model (paper-notes §3): Ê from sparse-edge search (or, with
/// `edges: true`, the chain's sparse edges), every edge of Ê boosted to ε_max, then E[τ] of
/// the base and the boosted chain, exact and by Monte Carlo. Claim: the speed-up
/// E[τ_base]/E[τ_PRM] is about ε_max/ε.
///
/// Parameters:
///
///     epsilon_max: 0.05      the probability the PRM gives every found edge
///     edges: search          search | true (the chain's sparse edges, no search)
///
/// and those of `SearchParameters` for the search. The evaluation walks use the spec's
/// `walks`, `max_steps` and `batch_size`. ε is the chain's smallest sparse-edge probability.
public struct PRMExperiment: AlgorithmConfiguration {
    public static let name = "prm"
    public static let summary = "process reward model: E[τ] of the base and the PRM chain, speed-up vs ε_max/ε"
    public static let tableValues: [String]? = [
        "epsilon_ratio", "recall", "false_positives", "speedup_exact", "speedup_mc", "speedup_mc_lower", "speedup_mc_upper",
    ]

    let epsilonMax: Double
    let useSearch: Bool
    let search: SearchParameters

    public init(_ parameters: AlgorithmParameters) throws(SpecError) {
        epsilonMax = try parameters.double("epsilon_max", default: 0.05, .open(0, 1))
        useSearch = try parameters.string("edges", default: "search", allowed: ["search", "true"]) == "search"
        search = try SearchParameters(parameters)
    }

    public func prepare(_ context: AlgorithmContext) throws -> any AlgorithmPoint {
        let (chain, start, target) = try context.problem()
        return try PRMExperimentPoint(
            chain: chain, start: start, target: target, spec: context.spec, epsilonMax: epsilonMax,
            search: useSearch ? search.configuration(for: chain, seed: context.seed) : nil,
            rolloutsPerBatch: search.rolloutsPerBatch, seed: context.seed)
    }

    public static func figures(gridParameters: [String]) -> [FigureSpec] {
        let group = gridParameters.first { $0 != "epsilon_max" && $0 != "algorithm.epsilon_max" }
        return [
            FigureSpec(
                file: "speedup.png", title: "PRM speed-up E[τ_base]/E[τ_PRM] vs ε_max/ε", table: "summary", x: "epsilon_ratio",
                xLabel: "ε_max/ε", yLabel: "speed-up",
                series: [
                    .init("speedup_mc", label: "Monte Carlo", lower: "speedup_mc_lower", upper: "speedup_mc_upper"),
                    .init("speedup_exact", label: "exact"),
                ],
                logX: true, logY: true, groupBy: group, diagonal: true),
            FigureSpec(
                file: "hitting_times.png", title: "E[τ] with and without the PRM", table: "summary", x: "epsilon_ratio",
                xLabel: "ε_max/ε", yLabel: "E[τ]",
                series: [
                    .init("mc_base", label: "base (Monte Carlo)", lower: "mc_base_lower", upper: "mc_base_upper"),
                    .init("mc_prm", label: "PRM (Monte Carlo)", lower: "mc_prm_lower", upper: "mc_prm_upper"),
                    .init("exact_base", label: "base (exact)", theory: true),
                    .init("exact_prm", label: "PRM (exact)", theory: true),
                ],
                logX: true, logY: true, groupBy: group),
        ]
    }
}

/// A grid point of the PRM experiment. Stages:
///
///     0  search rollouts (only when searching): items are the N rollout lineages,
///        payload as `SearchRollouts` documents
///     1  walks on the base chain
///     2  walks on the PRM chain; input counts: Ê as [from₀, to₀, from₁, to₁, ...]
///
/// A worker rebuilds the PRM chain from the input, so a stage-2 batch depends on nothing
/// the coordinator did not send.
final class PRMExperimentPoint: AlgorithmPoint {
    let chain: Chain
    let start: StartDistribution
    let target: TargetSet
    let spec: ExperimentSpec
    let epsilonMax: Double
    let search: SparseEdgeSearchConfig?
    let parameters: SparseEdgeSearchConfig.Resolved?
    let sampler: ChainSampler
    let seed: UInt64
    let searchBatches: [Range<Int>]
    let walkBatches: [Range<Int>]

    init(
        chain: Chain, start: StartDistribution, target: TargetSet, spec: ExperimentSpec, epsilonMax: Double,
        search: SparseEdgeSearchConfig?, rolloutsPerBatch: Int, seed: UInt64
    ) throws {
        try SparseEdgeSearch.check(start, in: chain)
        self.chain = chain
        self.start = start
        self.target = target
        self.spec = spec
        self.epsilonMax = epsilonMax
        self.search = search
        parameters = try search?.resolved()
        sampler = try ChainSampler(chain)
        self.seed = seed
        searchBatches = AlgorithmRound(stage: 0, items: parameters?.rollouts ?? 0, batchSize: rolloutsPerBatch, label: "").batches
        walkBatches = AlgorithmWalks.batches(spec)
    }

    func batches(stage: Int) -> [Range<Int>] { stage == 0 ? searchBatches : walkBatches }

    func runBatch(_ task: RoundTask, batch: Int, items: Range<Int>) throws -> RoundBatchOutput {
        guard (0...2).contains(task.stage) else { throw LearningError(.badValue, field: "stage", "must be 0, 1 or 2, got \(task.stage)") }
        let batches = batches(stage: task.stage)
        guard batches.indices.contains(batch), batches[batch] == items else {
            throw LearningError(.badValue, field: "items", "batch \(batch) with items \(items) is not a batch of stage \(task.stage)")
        }
        switch task.stage {
        case 0:
            guard let parameters else { throw LearningError(.badValue, field: "stage", "this point does not search") }
            return SearchRollouts.run(sampler, start: start, parameters: parameters, seed: seed, items: items)
        case 1:
            return RoundBatchOutput(outcome: try walks(on: chain, evaluation: 0, items: items))
        default:
            let boosted = try prm(task.input).apply(to: chain)
            return RoundBatchOutput(outcome: try walks(on: boosted, evaluation: 1, items: items))
        }
    }

    func problem(with output: RoundBatchOutput, of task: RoundTask, batch: Int) -> String? {
        let batches = batches(stage: task.stage)
        let items = batches.indices.contains(batch) ? batches[batch] : nil
        if task.stage == 0, let parameters {
            return SearchRollouts.problem(with: output, items: items, parameters: parameters, stateCount: chain.stateCount)
        }
        return AlgorithmWalks.problem(with: output, items: items)
    }

    func makeDriver() throws -> any AlgorithmDriver { PRMExperimentDriver(point: self) }

    /// The PRM of an input's edge list.
    func prm(_ input: RoundPayload) throws -> ProcessRewardModel {
        let counts = input.counts
        guard input.reals.isEmpty, counts.count % 2 == 0 else {
            throw LearningError(.inconsistent, field: "input", "expected pairs of states and no reals")
        }
        guard counts.allSatisfy({ $0 < UInt64(chain.stateCount) }) else {
            throw LearningError(.badState, field: "input", "an edge leaves the \(chain.stateCount) states")
        }
        let edges = stride(from: 0, to: counts.count, by: 2).map { Transition(from: Int(counts[$0]), to: Int(counts[$0 + 1])) }
        return try ProcessRewardModel(edges: edges, epsilonMax: epsilonMax)
    }

    private func walks(on chain: Chain, evaluation: Int, items: Range<Int>) throws -> MonteCarloOutcome {
        try AlgorithmWalks.run(
            chain, start: start, target: target, maxSteps: spec.maxSteps, seed: AlgorithmWalks.seed(seed, evaluation: evaluation),
            items: items)
    }
}

/// Search (or the true edges), then base walks, then PRM walks; the exact E[τ] of both
/// chains is solved here, on the coordinator.
struct PRMExperimentDriver: AlgorithmDriver {
    let point: PRMExperimentPoint
    private var stage: Int
    private var edges = [Transition]()
    private var searchSteps = 0
    private var base = MonteCarloOutcome(), boosted = MonteCarloOutcome()

    init(point: PRMExperimentPoint) {
        self.point = point
        stage = point.search == nil ? 1 : 0
        if point.search == nil { edges = SearchParameters.edges(of: point.chain).sparse.sorted { ($0.from, $0.to) < ($1.from, $1.to) } }
    }

    mutating func nextRound() throws -> AlgorithmRound? {
        switch stage {
        case 0: return AlgorithmRound(stage: 0, batches: point.searchBatches, label: "search rollouts")
        case 1: return AlgorithmRound(stage: 1, batches: point.walkBatches, label: "walks on the base chain")
        case 2:
            let input = RoundPayload(counts: edges.flatMap { [UInt64($0.from), UInt64($0.to)] })
            return AlgorithmRound(stage: 2, input: input, batches: point.walkBatches, label: "walks on the PRM chain")
        default: return nil
        }
    }

    mutating func finish(_ outputs: [RoundBatchOutput]) throws {
        switch stage {
        case 0:
            var found = Set<Transition>()
            for lineage in SearchRollouts.decode(outputs, rounds: point.parameters?.rounds ?? 0) {
                for round in lineage {
                    searchSteps += round.steps
                    if let edge = round.edge { found.insert(edge) }
                }
            }
            edges = found.sorted { ($0.from, $0.to) < ($1.from, $1.to) }
        case 1: for output in outputs { base.merge(output.outcome) }
        default: for output in outputs { boosted.merge(output.outcome) }
        }
        stage += 1
    }

    func report() throws -> AlgorithmReport {
        let chain = point.chain
        let boostedChain = try ProcessRewardModel(edges: edges, epsilonMax: point.epsilonMax).apply(to: chain)
        let exactBase = try ExactSolver.hittingTimes(chain, target: point.target).expected(from: point.start)
        let exactPRM = try Pretraining.finiteHittingTime(boostedChain, target: point.target, start: point.start)
        let (sparse, decoys) = SearchParameters.edges(of: chain)
        let epsilon = SearchParameters.smallestSparseProbability(chain) ?? 0
        let found = Set(edges)
        let wrong = found.subtracting(sparse)
        let clusters = Double(chain.clusters?.clusterCount ?? 0)
        let size = Double(chain.clusters.map { c in (0..<c.clusterCount).map(c.size(of:)).max() ?? 0 } ?? 0)
        var values: [String: Double?] = [
            "epsilon": epsilon, "epsilon_max": point.epsilonMax, "epsilon_ratio": point.epsilonMax / epsilon,
            "sparse_edges": Double(sparse.count), "edges_found": Double(found.count),
            "recall": sparse.isEmpty ? 1 : Double(found.intersection(sparse).count) / Double(sparse.count),
            "false_positives": Double(wrong.count), "decoy_false_positives": Double(wrong.intersection(decoys).count),
            "search_steps": Double(searchSteps), "search_steps_ratio": Double(searchSteps) / (clusters * size / epsilon),
            "exact_base": exactBase, "exact_prm": exactPRM, "speedup_exact": exactPRM.map { exactBase / $0 },
            "speedup_exact_relative_error": exactPRM.map { exactBase / $0 / (point.epsilonMax / epsilon) - 1 },
        ]
        values.merge(AlgorithmWalks.values("mc_base", base.hittingTimes.summary)) { a, _ in a }
        values.merge(AlgorithmWalks.values("mc_prm", boosted.hittingTimes.summary)) { a, _ in a }
        values.merge(AlgorithmEstimate.ratio(base.hittingTimes.summary, boosted.hittingTimes.summary).values("speedup_mc")) { a, _ in a }
        return AlgorithmReport(values: values, notes: ["edges": point.search == nil ? "true" : "search"])
    }
}
