import Foundation

/// `algorithm: {name: distill}`: meta-chain distillation, Algorithm 4 (paper-notes §5).
///
/// CoT walks of the spec's chain, from its start until its target, give cluster-level
/// transition counts; a K×K softmax q̂ is fitted to them and every off-diagonal logit is
/// boosted by β. The point reports, after each round of data, how far q̂ is from the exact
/// meta-chain q, and at the end E[τ⁺] of the distilled chain exactly and by Monte Carlo, next
/// to the base chain's E[τ] and the infinite-data limit (q itself, boosted by the same β).
///
/// The spec's chain needs cluster labels (generated chains have them) and its target must be
/// one whole cluster: E[τ⁺] is measured from the clusters of the start states to that cluster.
/// The spec's `max_steps` caps every walk, CoT and evaluation alike.
///
/// Parameters (all optional):
/// - `data_walks`: increasing totals of CoT walks, one round each; default [16, 64, 256, 1024].
///   Round r adds walks `data_walks[r−1] ..< data_walks[r]`, so the data of a round contains
///   the data of the rounds before it.
/// - `walks_per_batch`: CoT walks per batch, the unit of work sent to a worker; default 8.
/// - `beta`: the boost β; default log(M/ε) (`MetaChainDistiller.defaultBeta`), read from the
///   generated chain (ε the lower end of a log-uniform range). A chain read from a file must
///   give it.
/// - `pseudo_count`: additive smoothing of the fit; default 0 (see `MetaChainDistiller.fit`).
/// - `evaluation_walks`: Monte Carlo walks on the distilled chain; default 10000.
public struct DistillConfiguration: AlgorithmConfiguration {
    public static let name = "distill"
    public static let summary =
        "Meta-chain distillation: fit a K×K softmax to cluster transitions of CoT walks, boost exits by β, measure E[τ⁺]."

    public var dataWalks: [Int]
    public var walksPerBatch: Int
    public var beta: Double?
    public var pseudoCount: Double
    public var evaluationWalks: Int

    /// Evaluation walks per batch: the distilled chain has K states and E[τ⁺] = O(K) steps, so
    /// a batch is cheap; the size only bounds a message.
    static let evaluationBatchSize = 1000

    public init(_ parameters: AlgorithmParameters) throws(SpecError) {
        let totals = try parameters.ints("data_walks", default: [16, 64, 256, 1024], min: 1)
        if let i = totals.indices.dropFirst().first(where: { totals[$0] <= totals[$0 - 1] }) {
            throw parameters.error(
                "data_walks", "totals must increase (each round adds walks), got \(totals[i - 1]) then \(totals[i])")
        }
        dataWalks = totals
        walksPerBatch = try parameters.int("walks_per_batch", default: 8, min: 1)
        beta = try parameters.optionalDouble("beta", .init { $0.isFinite && $0 >= 0 ? nil : "must be finite and non-negative, got \($0)" })
        pseudoCount = try parameters.double(
            "pseudo_count", default: 0, .init { $0.isFinite && $0 >= 0 ? nil : "must be finite and non-negative, got \($0)" })
        evaluationWalks = try parameters.int("evaluation_walks", default: 10_000, min: 1)
    }

    public func prepare(_ context: AlgorithmContext) throws -> any AlgorithmPoint {
        try DistillPoint(configuration: self, context: context)
    }

    /// The boost for a chain built from `source`: the spec's `beta`, else log(M/ε).
    func boost(for source: ChainSource) throws(SpecError) -> Double {
        if let beta { return beta }
        guard case .generated(let generator) = source else {
            throw SpecError(field: "algorithm.beta", "a chain read from a file needs an explicit beta (M and ε are not known)")
        }
        let epsilon: Double
        switch generator.epsilon {
        case .fixed(let e): epsilon = e
        case .logUniform(let lo, _): epsilon = lo
        }
        return MetaChainDistiller.defaultBeta(clusterSize: generator.clusterSize, epsilon: epsilon)
    }

    public static func figures(gridParameters: [String]) -> [FigureSpec] {
        // One line per grid point, named by the grid's value when there is one axis.
        let lines = gridParameters.count == 1 ? gridParameters[0] : "point"
        var figures = [
            FigureSpec(
                file: "tv-vs-data.png", title: "Distillation: TV(q̂, q) against data", table: "data", x: "steps",
                xLabel: "CoT steps collected", yLabel: "total variation",
                series: [
                    .init("mean_row_tv", label: "mean row TV"),
                    .init("iid_row_tv", label: "mean row TV of an iid sample (∝ steps^-1/2)", theory: true),
                ],
                logX: true, logY: true, groupBy: lines),
            FigureSpec(
                file: "escape-vs-data.png", title: "Distillation: escape laws and exit rates against exits seen", table: "data",
                x: "min_exits", xLabel: "exits from the least-left cluster", yLabel: "error",
                series: [
                    .init("max_escape_tv", label: "max escape-law TV"),
                    .init("max_exit_error", label: "max relative exit-rate error"),
                    .init("exits_reference", label: "1/√exits", theory: true),
                ],
                logX: true, logY: true, groupBy: lines),
        ]
        let hitting: [FigureSpec.Series] = [
            .init("distilled_hitting_time", label: "E[τ⁺] distilled (exact)"),
            .init("distilled_hitting_time_mc", label: "E[τ⁺] distilled (Monte Carlo)",
                  lower: "distilled_hitting_time_mc_lower", upper: "distilled_hitting_time_mc_upper"),
            .init("ideal_hitting_time", label: "E[τ⁺] with exact q (theory)", theory: true),
            .init("base_hitting_time", label: "E[τ] base chain (exact)"),
        ]
        let others = { (x: String) in gridParameters.first { $0 != x } }
        // A β sweep is about β: one figure against it, one line per value of the other axis.
        if gridParameters.contains("beta") {
            figures.append(FigureSpec(
                file: "hitting-time-vs-beta.png", title: "Distilled E[τ⁺] against the boost β", table: "summary", x: "beta",
                xLabel: "β", yLabel: "expected hitting time (steps)", series: Array(hitting.prefix(3)), logY: true,
                groupBy: others("beta")))
            return figures
        }
        for (x, label) in [("clusters", "K (clusters)"), ("epsilon", "ε"), ("cluster_size", "M (states per cluster)")]
        where gridParameters.contains(x) {
            figures.append(FigureSpec(
                file: "hitting-time-vs-\(x).png", title: "Distilled E[τ⁺] against \(label)", table: "summary", x: x,
                xLabel: label, yLabel: "expected hitting time (steps)", series: hitting, logX: true, logY: true,
                groupBy: others(x)))
        }
        return figures
    }
}
