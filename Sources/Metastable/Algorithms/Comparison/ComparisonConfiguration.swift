/// The table of paper-notes §7: E[τ] of the base chain and of the chains each method makes
/// of it (PRM, PPO-Clip, the distilled meta-chain), over a grid of (K, M, ε), with the compute
/// each method spent.
///
/// Each method runs as its own experiment would, with the parameters given under its name:
///
///     algorithm:
///       name: comparison
///       methods: [prm, ppo, distill]
///       ppo: {clip: 0.2}
///
/// and the spec's `walks`, `batch_size` and `max_steps` measure the base chain.
public struct ComparisonConfiguration: AlgorithmConfiguration {
    public static let name = "comparison"
    public static let summary = "E[τ] of the base, PRM, PPO-Clip and distilled chains over a grid, with the compute each spent"

    public struct Method: Sendable {
        public var name: String
        public var configuration: any AlgorithmConfiguration
    }

    /// The methods in the order they run.
    public var methods: [Method]

    public init(_ parameters: AlgorithmParameters) throws(SpecError) {
        let available = AlgorithmRegistry.all.map { $0.name }.filter { $0 != Self.name }
        let names = try parameters.strings(
            "methods", default: Self.defaultMethods.filter(available.contains), allowed: available)
        methods = []
        for name in names {
            let nested = try parameters.nested(name)
            let configuration = try AlgorithmRegistry.configuration(named: name)!.init(nested)
            try nested.checkAllRead()
            methods.append(Method(name: name, configuration: configuration))
        }
    }

    /// The methods of the §7 table.
    static let defaultMethods = ["pretraining", "prm", "ppo", "distill"]

    public func prepare(_ context: AlgorithmContext) throws -> any AlgorithmPoint {
        try ComparisonPoint(context, methods: methods)
    }

    public static func figures(gridParameters: [String]) -> [FigureSpec] {
        ComparisonFigures.figures(gridParameters: gridParameters)
    }

    /// The §7 table: each method's exact E[τ] and the compute it spent.
    /// Pretraining's spurious edges say whether its budget sufficed.
    public static let tableValues: [String]? =
        ComparisonColumns.all.flatMap { [$0.key($0.exact), $0.key($0.compute)] } + ["pretraining.spurious_edges"]
}
