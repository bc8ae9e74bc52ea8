/// The comparison's figures: each method's E[τ] against every swept chain parameter.
enum ComparisonFigures {
    static func figures(gridParameters: [String]) -> [FigureSpec] {
        let axes: [(parameter: String, label: String)] = [
            ("epsilon", "ε (sparse-edge probability)"), ("cluster_size", "M (states per cluster)"), ("clusters", "K (clusters)"),
        ]
        return axes.filter { gridParameters.contains($0.parameter) }.map { axis in
            let others = gridParameters.filter { $0 != axis.parameter }
            return FigureSpec(
                file: "comparison-\(axis.parameter).png", title: "E[τ] of each method vs \(axis.parameter)", table: "summary",
                x: axis.parameter, xLabel: axis.label, yLabel: "E[τ] (steps)",
                series: [
                    .init("base.hitting_time_mc", label: "base chain (MC ± 95%)", lower: "base.hitting_time_mc_ci_low",
                          upper: "base.hitting_time_mc_ci_high"),
                ],
                logX: true, logY: true, groupBy: others.first)
        }
    }
}
