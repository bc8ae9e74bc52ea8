/// Monte Carlo hitting-time walks inside an algorithm's rounds: the evaluation of a chain
/// (the true one, a learned one, one with a process reward model) by the spec's `walks`,
/// `max_steps` and `batch_size`, as a hitting-time experiment would run it.
enum AlgorithmWalks {
    /// The batches of an evaluation round: the spec's walks in batches of its `batch_size`.
    static func batches(_ spec: ExperimentSpec) -> [Range<Int>] {
        AlgorithmRound(stage: 0, items: spec.walks, batchSize: spec.batchSize, label: "").batches
    }

    /// Walks `items` on `chain`, with the walk streams of `seed`.
    static func run(
        _ chain: Chain, start: StartDistribution, target: TargetSet, maxSteps: UInt64, seed: UInt64, items: Range<Int>
    ) throws -> MonteCarloOutcome {
        let task = try WalkTask(graph: WalkGraph(chain, hugePages: false), start: start, target: target, maxSteps: maxSteps, seed: seed)
        return MonteCarloOutcome(try task.run(walks: items, observer: HittingTimeObserver.self))
    }

    /// What is wrong with an evaluation batch that should hold `items` walks and no payload.
    static func problem(with output: RoundBatchOutput, items: Range<Int>?) -> String? {
        guard let items else { return "there is no such batch in this round" }
        guard output.payload.isEmpty else { return "an evaluation batch carries no payload" }
        guard output.outcome.hittingTimes.count == UInt64(items.count) else {
            return "holds \(output.outcome.hittingTimes.count) walks, expected \(items.count)"
        }
        return nil
    }

    /// `name` (the mean), its 95% interval and `name_censored`, for an `AlgorithmReport`.
    static func values(_ name: String, _ sample: IntegerSampleSummary) -> [String: Double?] {
        var values = AlgorithmEstimate.mean(sample).values(name)
        values["\(name)_censored"] = Double(sample.censored)
        return values
    }

    /// The walk seed of evaluation `index` of a point (0: the true chain, 1: the learned or
    /// boosted one): distinct streams per chain, derived like grid points' walk seeds.
    static func seed(_ pointSeed: UInt64, evaluation index: Int) -> UInt64 {
        PreparedPoint.walkSeed(pointSeed, point: index)
    }
}
