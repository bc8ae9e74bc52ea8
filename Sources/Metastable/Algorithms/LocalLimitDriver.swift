import Foundation

/// The coordinator's side of a local-limit point: one round of tasks, tallied per access
/// level in task order.
///
/// The theory line: a path-level view has one consistent hypothesis exactly when the walk
/// took no (visible) decoy. In each of the K − 1 clusters it crosses, the walk's hard steps
/// are equally likely to be any of the 1 + D hard edges (D decoys, one sparse edge, all of
/// probability ε from a state of a fast-mixing cluster), so it leaves before any decoy with
/// probability 1/(1 + D): P(unique) = (1 + D)^−(K−1) for K ≥ 3 (at K = 2 the one sparse step
/// is the last and the view is always exact). A Bayes learner is right on those tasks and at
/// least a coin on the others, so ½ + ½·P(unique) bounds the path level's success from below;
/// the measured decay shows how fast local views lose the logical value.
struct LocalLimitDriver: AlgorithmDriver {
    private let point: LocalLimitPoint
    private var finished = false
    private var tally = LocalInformationExperiment.Level.allCases.map { _ in LocalInformationExperiment.Tally() }
    private var decoys = 0, pathSteps = 0, redrawn = 0

    init(point: LocalLimitPoint) { self.point = point }

    mutating func nextRound() throws -> AlgorithmRound? {
        guard !finished else { return nil }
        return AlgorithmRound(
            stage: 0, batches: point.batches, label: "K = \(point.clusters): \(point.configuration.tasks) tasks")
    }

    mutating func finish(_ outputs: [RoundBatchOutput]) throws {
        finished = true
        for (b, output) in outputs.enumerated() {
            let trials = try LocalLimitRecords.trials(output.payload, count: point.batches[b].count, clusters: point.clusters)
            for trial in trials {
                for i in tally.indices { tally[i].add(trial.answers[i], truth: trial.truth) }
                decoys += trial.decoysVisited
                pathSteps += trial.pathLength
                redrawn += trial.rejectedChains
            }
        }
    }

    func report() throws -> AlgorithmReport {
        let k = point.clusters
        let tasks = Double(point.configuration.tasks)
        let unique = k == 2 ? 1 : pow(1 + Double(point.experiment.decoysPerCluster), -Double(k - 1))
        var values: [String: Double?] = [
            "theory_unique": unique,
            "theory_local": 0.5 + 0.5 * unique,
            "theory_advantage": 0.5 * unique,
            "mean_decoys_visited": Double(decoys) / tasks,
            "mean_path_length": Double(pathSteps) / tasks,
            "redrawn_chains": Double(redrawn),
        ]
        var table = ResultTable(name: "levels", columns: [
            "level", "trials", "success", "success_lower", "success_upper", "expected_success", "mean_hypotheses",
            "log10_hypotheses", "ambiguous_steps", "unique", "unique_lower", "unique_upper",
        ])
        var notes = [String: String]()
        for (i, level) in LocalInformationExperiment.Level.allCases.enumerated() {
            let row = tally[i].row(level, clusters: k)
            let uniqueInterval = WilsonInterval(successes: tally[i].unique, trials: tally[i].trials)
            let uniqueRate: Double? = row.meanConsistentHypotheses == nil ? nil : Double(tally[i].unique) / tasks
            values["success_\(level)"] = row.rate
            values["success_\(level)_lower"] = row.interval.lower
            values["success_\(level)_upper"] = row.interval.upper
            values["expected_\(level)"] = row.expectedRate
            values["advantage_\(level)"] = row.expectedRate - 0.5
            values["hypotheses_\(level)"] = row.meanConsistentHypotheses
            values["log10_hypotheses_\(level)"] = row.meanLog10ConsistentHypotheses
            values["ambiguous_\(level)"] = row.meanAmbiguousSteps
            values["unique_\(level)"] = uniqueRate
            table.append([
                Double(i), Double(row.trials), row.rate, row.interval.lower, row.interval.upper, row.expectedRate,
                row.meanConsistentHypotheses, row.meanLog10ConsistentHypotheses, row.meanAmbiguousSteps, uniqueRate,
                uniqueRate == nil ? nil : uniqueInterval.lower, uniqueRate == nil ? nil : uniqueInterval.upper,
            ])
            notes["level \(i)"] = LocalLimitConfiguration.label(level)
        }
        return AlgorithmReport(values: values, tables: [table], notes: notes)
    }
}
