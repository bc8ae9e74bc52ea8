/// The chain as the spec gives it, measured the way a hitting-time experiment measures it:
/// the spec's walks in the spec's batches (Monte Carlo), and the exact solver.
final class BaseChainPoint: AlgorithmPoint {
    let spec: ExperimentSpec
    let chain: Chain
    let start: StartDistribution
    let target: TargetSet
    let task: WalkTask

    init(_ context: AlgorithmContext) throws {
        let (chain, start, target) = try context.problem()
        spec = context.spec
        self.chain = chain
        self.start = start
        self.target = target
        task = try WalkTask(graph: WalkGraph(chain), start: start, target: target, maxSteps: spec.maxSteps, seed: context.seed)
    }

    func runBatch(_ task: RoundTask, batch: Int, items: Range<Int>) throws -> RoundBatchOutput {
        guard task.stage == 0, items.lowerBound >= 0, items.upperBound <= spec.walks else {
            throw LearningError(.badValue, field: "items", "walks \(items) of stage \(task.stage): the base chain has stage 0 and \(spec.walks) walks")
        }
        return RoundBatchOutput(outcome: MonteCarloOutcome(try self.task.run(walks: items, observer: HittingTimeObserver.self)))
    }

    func problem(with output: RoundBatchOutput, of task: RoundTask, batch: Int) -> String? {
        guard output.payload.isEmpty else { return "the base chain's walks return no payload" }
        let walks = AlgorithmRound(stage: 0, items: spec.walks, batchSize: spec.batchSize, label: "").batches
        guard walks.indices.contains(batch), output.outcome.hittingTimes.count == UInt64(walks[batch].count) else {
            return "batch \(batch) of the base chain reports \(output.outcome.hittingTimes.count) walks"
        }
        return nil
    }

    func makeDriver() throws -> any AlgorithmDriver {
        BaseChainDriver(point: self)
    }
}

/// One round of walks, then the Monte Carlo and exact E[τ] side by side.
struct BaseChainDriver: AlgorithmDriver {
    let point: BaseChainPoint
    private var outcome: MonteCarloOutcome?

    init(point: BaseChainPoint) { self.point = point }

    mutating func nextRound() throws -> AlgorithmRound? {
        guard outcome == nil else { return nil }
        return AlgorithmRound(stage: 0, items: point.spec.walks, batchSize: point.spec.batchSize, label: "base chain walks")
    }

    mutating func finish(_ outputs: [RoundBatchOutput]) throws {
        var merged = MonteCarloOutcome()
        for output in outputs { merged.merge(output.outcome) }
        outcome = merged
    }

    func report() throws -> AlgorithmReport {
        let summary = outcome?.hittingTimes.summary
        var values: [String: Double?] = [
            "hitting_time_mc": summary?.mean, "hitting_time_mc_se": summary?.standardError,
            "hitting_time_mc_lower": summary?.ci95?.lowerBound, "hitting_time_mc_upper": summary?.ci95?.upperBound,
        ]
        if point.spec.exact {
            let solution = try ExactSolver.hittingTimes(point.chain, target: point.target)
            values["hitting_time"] = try solution.expected(from: point.start)
        }
        return AlgorithmReport(values: values)
    }
}
