/// The comparison's figures: each method's E[τ] against each swept chain parameter, the other
/// parameters held at their largest grid values, and the compute each method spent.
enum ComparisonFigures {
    static let axes: [(parameter: String, label: String)] = [
        ("epsilon", "ε (sparse-edge probability)"), ("cluster_size", "M (states per cluster)"), ("clusters", "K (clusters)"),
    ]

    static func figures(gridParameters: [String]) -> [FigureSpec] {
        let swept = axes.filter { gridParameters.contains($0.parameter) }
        let methods = ComparisonColumns.all.map { c in
            FigureSpec.Series(c.key(c.mean), label: "\(c.label): Monte Carlo ± 95%", lower: c.key(c.lower), upper: c.key(c.upper))
        }
        let base = ComparisonColumns.all[0]
        return swept.flatMap { axis -> [FigureSpec] in
            let held = gridParameters.filter { $0 != axis.parameter }
            return [
                FigureSpec(
                    file: "comparison-\(axis.parameter).png", title: "E[τ] of each method vs \(axis.parameter)", table: "summary",
                    x: axis.parameter, xLabel: axis.label, yLabel: "E[τ] (steps)",
                    series: methods + [.init(base.key(base.exact), label: "base chain: exact", theory: true)],
                    logX: true, logY: true, atLargest: held),
                FigureSpec(
                    file: "compute-\(axis.parameter).png", title: "compute each method spent vs \(axis.parameter)",
                    table: "summary", x: axis.parameter, xLabel: axis.label, yLabel: "chain steps sampled",
                    series: ComparisonColumns.all.dropFirst().map { .init($0.key($0.compute), label: "\($0.label): \($0.compute)") }
                        + [.init(base.key(base.exact), label: "one unaided run: E[τ] of the base chain", theory: true)],
                    logX: true, logY: true, atLargest: held),
            ]
        }
    }
}
