/// The chain as the spec gives it, measured the way a hitting-time experiment measures it:
/// the spec's walks in the spec's batches (Monte Carlo), and the exact solver.
final class BaseChainPoint: AlgorithmPoint {
    let spec: ExperimentSpec
    let chain: Chain
    let start: StartDistribution
    let target: TargetSet
    let seed: UInt64

    init(_ context: AlgorithmContext) throws {
        (chain, start, target) = try context.problem()
        spec = context.spec
        seed = context.seed
    }

    func runBatch(_ task: RoundTask, batch: Int, items: Range<Int>) throws -> RoundBatchOutput {
        guard task.stage == 0, items.lowerBound >= 0, items.upperBound <= spec.walks else {
            throw LearningError(.badValue, field: "items", "walks \(items) of stage \(task.stage): the base chain has stage 0 and \(spec.walks) walks")
        }
        return RoundBatchOutput(outcome: try AlgorithmWalks.run(
            chain, start: start, target: target, maxSteps: spec.maxSteps, seed: seed, items: items))
    }

    func problem(with output: RoundBatchOutput, of task: RoundTask, batch: Int) -> String? {
        let batches = AlgorithmWalks.batches(spec)
        return AlgorithmWalks.problem(with: output, items: batches.indices.contains(batch) ? batches[batch] : nil)
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
        return AlgorithmRound(stage: 0, batches: AlgorithmWalks.batches(point.spec), label: "base chain walks")
    }

    mutating func finish(_ outputs: [RoundBatchOutput]) throws {
        var merged = MonteCarloOutcome()
        for output in outputs { merged.merge(output.outcome) }
        outcome = merged
    }

    /// `hitting_time` (exact), `hitting_time_mc` with its interval and censored count.
    func report() throws -> AlgorithmReport {
        var values = AlgorithmWalks.values("hitting_time_mc", (outcome ?? MonteCarloOutcome()).hittingTimes.summary)
        if point.spec.exact {
            let solution = try ExactSolver.hittingTimes(point.chain, target: point.target)
            values["hitting_time"] = try solution.expected(from: point.start)
        }
        return AlgorithmReport(values: values)
    }
}
