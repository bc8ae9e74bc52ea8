import Foundation

/// The coordinator's side of a distillation point: merges the cluster transition counts of
/// each collect round in batch order, refits q̂ and measures it against the exact meta-chain
/// (one row of the `data` table per round), then sends the final q̂⁺ to an evaluation round.
struct DistillDriver: AlgorithmDriver {
    private let point: DistillPoint
    private let exact: MetaChain
    /// E[τ] of the base chain from its start to its target, exactly.
    private let baseHittingTime: Double
    /// E[τ⁺] of the exact meta-chain boosted by β: what infinite data would give.
    private let idealHittingTime: Double?

    private var round = 0
    private var counts: TransitionCounts
    /// Hitting times of the CoT walks: a Monte Carlo estimate of the base chain's E[τ].
    private var cotTimes = IntegerSampleAccumulator()
    private var model: DistilledMetaChain?
    private var evaluation: IntegerSampleAccumulator?
    /// One row per collect round. `min_exits`: exits from the cluster left least often (the
    /// rate estimates' sample size); `exits_reference`: 1/√min_exits, the relative standard
    /// error of a rate estimated from that many exits, against which the errors are read.
    private var table = ResultTable(name: "data", columns: [
        "walks", "steps", "min_exits", "exits_reference", "max_row_tv", "mean_row_tv", "iid_row_tv", "max_exit_error", "max_escape_tv",
        "boost_escape_shift", "fitted_hitting_time", "distilled_hitting_time",
    ])

    init(point: DistillPoint) throws {
        self.point = point
        exact = try MetaChain(point.chain)
        baseHittingTime = try ExactSolver.hittingTimes(point.chain, target: point.target).expected(from: point.start)
        idealHittingTime = try Self.hittingTime(
            MetaChainDistiller.exactModel(exact, beta: point.beta), point: point, boosted: true)
        counts = TransitionCounts(clusterCount: point.clusterCount)
    }

    mutating func nextRound() throws -> AlgorithmRound? {
        let batches = point.batches(round: round)
        switch point.stage(of: round) {
        case .collect:
            return AlgorithmRound(
                stage: DistillPoint.Stage.collect.rawValue, batches: batches,
                label: "data \(round + 1) of \(point.collectRounds): walks \(batches.first!.lowerBound)..<\(batches.last!.upperBound)")
        case .evaluate:
            // A model that cannot reach the target (too little data) has no E[τ⁺] to estimate.
            guard round == point.collectRounds, let model, try Self.hittingTime(model, point: point, boosted: true) != nil else {
                return nil
            }
            return AlgorithmRound(
                stage: DistillPoint.Stage.evaluate.rawValue, input: DistilledChainPayload.payload(model), batches: batches,
                label: "evaluation: \(point.configuration.evaluationWalks) walks on the distilled chain")
        }
    }

    mutating func finish(_ outputs: [RoundBatchOutput]) throws {
        defer { round += 1 }
        switch point.stage(of: round) {
        case .collect:
            for output in outputs {
                counts.merge(output.outcome.transitions!) // present: checked by DistillPoint.problem
                cotTimes.merge(output.outcome.hittingTimes)
            }
            let model = try MetaChainDistiller.fit(counts, pseudoCount: point.configuration.pseudoCount, beta: point.beta)
            let errors = try MetaChainDistiller.errors(of: model, against: exact)
            let exits = (0..<point.clusterCount).filter { counts.steps(in: $0) > 0 }.map { counts.exits(from: $0) }
            let minExits = exits.min().map { Double($0) }
            table.append([
                Double(point.configuration.dataWalks[round]), Double(model.totalSteps), minExits,
                minExits.flatMap { $0 > 0 ? 1 / $0.squareRoot() : nil },
                errors.maxRowTV, errors.meanRowTV, errors.meanIIDRowTV, errors.maxRelativeExitError, errors.maxEscapeTV,
                errors.maxBoostEscapeShift, try Self.hittingTime(model, point: point, boosted: false),
                try Self.hittingTime(model, point: point, boosted: true),
            ])
            self.model = model
        case .evaluate:
            var times = IntegerSampleAccumulator()
            for output in outputs { times.merge(output.outcome.hittingTimes) }
            evaluation = times
        }
    }

    func report() throws -> AlgorithmReport {
        var values: [String: Double?] = [
            "beta": point.beta,
            "base_hitting_time": baseHittingTime,
            "ideal_hitting_time": idealHittingTime,
            "bound_3k": 3 * Double(point.clusterCount),
        ]
        let last = table.rows.last
        for (name, column) in [
            ("data_walks", "walks"), ("data_steps", "steps"), ("min_exits", "min_exits"), ("max_row_tv", "max_row_tv"),
            ("mean_row_tv", "mean_row_tv"), ("max_exit_error", "max_exit_error"), ("max_escape_tv", "max_escape_tv"),
            ("boost_escape_shift", "boost_escape_shift"), ("fitted_hitting_time", "fitted_hitting_time"),
            ("distilled_hitting_time", "distilled_hitting_time"),
        ] {
            values[name] = last?[table.columns.firstIndex(of: column)!]
        }
        Self.addSummary(cotTimes.summary, as: "base_hitting_time_mc", to: &values)
        Self.addSummary(evaluation?.summary, as: "distilled_hitting_time_mc", to: &values)
        var notes = ["target_cluster": "\(point.targetCluster)"]
        if cotTimes.censoredCount > 0 {
            notes["censored"] = "\(cotTimes.censoredCount) CoT walks reached max_steps: their data stop there"
        }
        return AlgorithmReport(values: values, tables: [table], notes: notes)
    }

    /// `name`, `name_lower`, `name_upper`: the Monte Carlo mean and its 95 % interval.
    private static func addSummary(_ summary: IntegerSampleSummary?, as name: String, to values: inout [String: Double?]) {
        values[name] = summary?.mean
        values[name + "_lower"] = summary?.ci95?.lowerBound
        values[name + "_upper"] = summary?.ci95?.upperBound
    }

    /// E[τ⁺] of `model` from the start's clusters to the target cluster; nil when the model
    /// cannot reach the target (a row never seen leaving).
    private static func hittingTime(_ model: DistilledMetaChain, point: DistillPoint, boosted: Bool) throws -> Double? {
        do {
            return try model.expectedHittingTime(from: point.startClusters, to: point.targetCluster, boosted: boosted)
        } catch {
            guard error.reason == .unreachable else { throw error }
            return nil
        }
    }
}
