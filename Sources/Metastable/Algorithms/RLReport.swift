import Foundation

/// What a point of the `ppo` or `reinforce` experiment reports.
///
/// Table `iterations`, one row per iteration (row 0: the pretrained policy), with per
/// learner (prefix `ppo_` or `reinforce_`): `sparse_mean`, `sparse_min` (p̂ over Ê),
/// `drift`, `total_drift` (max_x TV off Ê against the previous and the pretrained policy),
/// `exact_hitting_time`, the Monte Carlo `mc_mean`, `mc_standard_error`, `mc_lo`, `mc_hi`
/// (95% interval), `mc_censored` (empty where not evaluated), `steps` sampled and `signal`
/// (transitions with a learning signal). Shared columns: `drift_bound` = 1/M, and for PPO
/// `predicted_sparse` = min(ε_max, ε₀·(1 + c)^i), ε₀ the smallest initial p̂ over Ê.
/// An infinite E[τ] (the target no longer reached with probability 1) is written empty.
struct RLReport {
    let point: RLPoint
    let ppo: LearnerRun?
    let reinforce: LearnerRun?

    static let learnerColumns = [
        "sparse_mean", "sparse_min", "drift", "total_drift", "exact_hitting_time", "mc_mean", "mc_standard_error",
        "mc_lo", "mc_hi", "mc_censored", "steps", "signal",
    ]

    func report() -> AlgorithmReport {
        var values = [String: Double?]()
        let start = (ppo ?? reinforce)!.iterations[0]
        values["sparse_mean_initial"] = start.sparseProbability
        values["sparse_min_initial"] = start.minSparseProbability
        values["exact_hitting_time_initial"] = finite(start.expectedHittingTime)
        values["drift_bound"] = driftBound
        if let ppo, let configuration = point.ppo {
            values.merge(Self.values(of: ppo, prefix: "ppo_")) { a, _ in a }
            let predicted = configuration.expectedIterations(from: start.minSparseProbability)
            values["predicted_iterations"] = predicted
            values["twice_predicted"] = 2 * predicted
            let target = 0.9 * configuration.epsilonMax
            values["iterations_to_target"] = (ppo.iterations.first { $0.minSparseProbability >= target }?.iteration).map(Double.init)
            values["speedup"] = finite(start.expectedHittingTime).flatMap { a in
                finite(ppo.iterations.last!.expectedHittingTime).map { a / $0 }
            }
        }
        if let reinforce { values.merge(Self.values(of: reinforce, prefix: "reinforce_")) { a, _ in a } }
        let notes = [
            "edges": "Ê = the chain's \(point.edges.count) true sparse edges (the ideal output of search)",
            "rollout_start": point.ppo.map { $0.rolloutStart == nil ? "uniform on all states" : "the spec's start" } ?? "",
        ].filter { !$0.value.isEmpty }
        return AlgorithmReport(values: values, tables: [table()], notes: notes)
    }

    /// 1/M, M the largest cluster: the drift the claim allows (nil without cluster labels).
    private var driftBound: Double? {
        guard let clusters = point.task.clusters else { return nil }
        return 1 / Double((0..<clusters.clusterCount).map { clusters.size(of: $0) }.max()!)
    }

    private func table() -> ResultTable {
        var columns = ["iteration", "drift_bound"]
        if point.ppo != nil { columns += ["predicted_sparse"] + Self.learnerColumns.map { "ppo_" + $0 } }
        if point.reinforce != nil { columns += Self.learnerColumns.map { "reinforce_" + $0 } }
        var table = ResultTable(name: "iterations", columns: columns)
        let rows = max(ppo?.iterations.count ?? 0, reinforce?.iterations.count ?? 0)
        let epsilon = (ppo ?? reinforce)!.iterations[0].minSparseProbability
        for i in 0..<rows {
            var row: [Double?] = [Double(i), driftBound]
            if let configuration = point.ppo {
                row.append(min(configuration.epsilonMax, epsilon * pow(1 + configuration.clip, Double(i))))
                row += Self.cells(ppo, iteration: i)
            }
            if point.reinforce != nil { row += Self.cells(reinforce, iteration: i) }
            table.append(row)
        }
        return table
    }

    /// The learner columns of row `i`, empty where the run did not get that far.
    private static func cells(_ run: LearnerRun?, iteration i: Int) -> [Double?] {
        guard let run, i < run.iterations.count else { return Array(repeating: nil, count: learnerColumns.count) }
        let step = run.iterations[i]
        let mc = run.evaluations[i]
        return [
            step.sparseProbability, step.minSparseProbability, step.driftOffSparse, step.totalDriftOffSparse,
            finite(step.expectedHittingTime), mc?.mean, mc?.standardError, mc?.ci95?.lowerBound, mc?.ci95?.upperBound,
            mc.map { Double($0.censored) }, Double(step.sampledSteps), Double(step.signalTransitions),
        ]
    }

    /// Headline values of a run: where it ended and what it spent.
    private static func values(of run: LearnerRun, prefix: String) -> [String: Double?] {
        let last = run.iterations.last!
        let mc = run.evaluations[run.iterationCount]
        let values: [String: Double?] = [
            "iterations": Double(run.iterationCount),
            "sparse_mean_final": last.sparseProbability,
            "sparse_min_final": last.minSparseProbability,
            "max_total_drift": run.iterations.map(\.totalDriftOffSparse).max(),
            "exact_hitting_time_final": finite(last.expectedHittingTime),
            "mc_hitting_time_final": mc?.mean,
            "mc_standard_error_final": mc?.standardError,
            "mc_lo_final": mc?.ci95?.lowerBound,
            "mc_hi_final": mc?.ci95?.upperBound,
            "steps": Double(run.iterations.reduce(0) { $0 + $1.sampledSteps }),
            "signal": Double(run.iterations.reduce(0) { $0 + $1.signalTransitions }),
        ]
        return Dictionary(uniqueKeysWithValues: values.map { (prefix + $0.key, $0.value) })
    }
}

private func finite(_ x: Double?) -> Double? { x.flatMap { $0.isFinite ? $0 : nil } }
