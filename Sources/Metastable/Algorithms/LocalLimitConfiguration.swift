import Foundation

/// `algorithm: {name: local-limit}`: the limit of local information (paper-notes §6, see
/// `LocalInformationExperiment` for the task, the access levels and their learners).
///
/// One grid point per K (sweep the chain's `clusters`). Each task draws a fresh chain from
/// the spec's chain fields, its Z_2 labels and one walk from C_1 into C_K; every access level
/// (nothing, path, neighbourhood, kernel = global access) answers it. Tasks are the items of
/// one round, spread over batches.
///
/// The chain fields must describe the task's family: `kernel: permutations(d)`,
/// `topology: chain`, `sources: 1`, a fixed `epsilon` below 1/(d + 1), and `decoys` per
/// cluster. The chain's own `seed` is not used: every task draws its chain from its stream.
///
/// Parameters (all optional):
/// - `tasks`: tasks per point; default 1000.
/// - `tasks_per_batch`: tasks per batch, the unit of work sent to a worker; default 50.
public struct LocalLimitConfiguration: AlgorithmConfiguration {
    public static let name = "local-limit"
    public static let summary =
        "Limit of local information: success of the best learner per access level as K grows (decoys make local views ambiguous)."

    public var tasks: Int
    public var tasksPerBatch: Int

    public init(_ parameters: AlgorithmParameters) throws(SpecError) {
        tasks = try parameters.int("tasks", default: 1000, min: 1)
        guard tasks <= 10_000_000 else { throw parameters.error("tasks", "must be at most 10⁷, got \(tasks)") }
        tasksPerBatch = try parameters.int("tasks_per_batch", default: 50, min: 1)
    }

    public func prepare(_ context: AlgorithmContext) throws -> any AlgorithmPoint {
        try LocalLimitPoint(configuration: self, context: context)
    }

    /// The task family of a spec's chain fields, checked with errors that name the field.
    func experimentConfig(_ source: ChainSource) throws(SpecError) -> LocalInformationExperiment.Config {
        guard case .generated(let g) = source else {
            throw SpecError(field: "chain.graph", "local-limit draws its own chains: give generator fields, not a graph file")
        }
        guard case .permutations(let degree) = g.kernel else {
            throw SpecError(field: "chain.kernel", "local-limit needs kernel permutations(d), got \(g.kernel)")
        }
        guard g.topology == .chain else { throw SpecError(field: "chain.topology", "local-limit needs topology chain, got \(g.topology)") }
        guard g.sources == 1 else { throw SpecError(field: "chain.sources", "local-limit needs one source per cluster, got \(g.sources)") }
        guard case .fixed(let epsilon) = g.epsilon else {
            throw SpecError(field: "chain.epsilon", "local-limit needs one fixed ε for every hard edge, got \(g.epsilon)")
        }
        let config = LocalInformationExperiment.Config(
            clusterCounts: [g.clusters], clusterSize: g.clusterSize, epsilon: epsilon, kernelDegree: degree,
            decoysPerCluster: g.decoys, tasksPerK: tasks, seed: 0)
        if let (field, why) = config.firstProblem {
            let fields = [
                "clusterCounts": "chain.clusters", "clusterSize": "chain.cluster_size", "epsilon": "chain.epsilon",
                "kernelDegree": "chain.kernel", "decoysPerCluster": "chain.decoys", "tasksPerK": "algorithm.tasks",
            ]
            throw SpecError(field: fields[field] ?? field, why)
        }
        return config
    }

    public static func figures(gridParameters: [String]) -> [FigureSpec] {
        let x = gridParameters.contains("clusters") ? "clusters" : "point"
        let others = gridParameters.first { $0 != "clusters" }
        let levels = LocalInformationExperiment.Level.allCases
        return [
            FigureSpec(
                file: "success-vs-k.png", title: "Limit of local information: success against K", table: "summary", x: x,
                xLabel: "K (clusters)", yLabel: "success rate (Wilson 95 %)",
                series: levels.map {
                    .init("success_\($0)", label: LocalLimitConfiguration.label($0), lower: "success_\($0)_lower",
                          upper: "success_\($0)_upper")
                } + [.init("theory_local", label: "½ + ½·(1+D)^-(K-1): paths without a decoy", theory: true)],
                groupBy: others),
            FigureSpec(
                file: "advantage-vs-k.png", title: "Posterior advantage over a coin against K", table: "summary", x: x,
                xLabel: "K (clusters)", yLabel: "expected success − 1/2",
                series: levels.filter { $0 != .nothing }.map { .init("advantage_\($0)", label: LocalLimitConfiguration.label($0)) }
                    + [.init("theory_advantage", label: "½·(1+D)^-(K-1): paths without a decoy only", theory: true)],
                logY: true, groupBy: others),
            FigureSpec(
                file: "hypotheses-vs-k.png", title: "Hypotheses consistent with each view", table: "summary", x: x,
                xLabel: "K (clusters)", yLabel: "mean log10 #consistent hypotheses",
                series: levels.filter { $0 != .nothing }.map { .init("log10_hypotheses_\($0)", label: LocalLimitConfiguration.label($0)) },
                groupBy: others),
        ]
    }

    static func label(_ level: LocalInformationExperiment.Level) -> String {
        switch level {
        case .nothing: "nothing"
        case .path: "path"
        case .neighbourhood: "neighbourhood"
        case .kernel: "global (whole kernel)"
        }
    }
}
