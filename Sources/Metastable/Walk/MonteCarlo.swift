/// Monte Carlo hitting times of one task, with the cluster-level observers whenever the
/// chain has cluster labels: what `metastable run` and `metastable simulate` measure.
public struct MonteCarloOutcome: Sendable, Equatable {
    public var hittingTimes: IntegerSampleAccumulator
    public var steps: UInt64
    /// Nil when the chain has no cluster labels (or they were not asked for).
    public var hardSteps: IntegerSampleAccumulator?
    public var clustersVisited: IntegerSampleAccumulator?
    public var transitions: TransitionCounts?
}

public enum MonteCarlo {
    /// Runs `walks` walks in fixed batches of `batchSize` on `threads` threads. The result
    /// depends only on the arguments other than `threads` and `progress`.
    public static func run(
        chain: Chain, start: StartDistribution, target: TargetSet, walks: Int, maxSteps: UInt64, seed: UInt64,
        batchSize: Int, threads: Int, observeClusters: Bool,
        progress: (@Sendable (WalkProgress) -> Void)? = nil
    ) throws(WalkError) -> MonteCarloOutcome {
        let graph = try WalkGraph(chain)
        let task = try WalkTask(graph: graph, start: start, target: target, maxSteps: maxSteps, seed: seed)
        if observeClusters, chain.clusters != nil {
            let r = try task.run(walks: walks, threads: threads, batchSize: batchSize, observer: ClusterObserver.self, progress: progress)
            return MonteCarloOutcome(
                hittingTimes: r.hittingTimes, steps: r.steps, hardSteps: r.statistics.hardSteps,
                clustersVisited: r.statistics.clustersVisited, transitions: r.statistics.transitions)
        }
        let r = try task.run(walks: walks, threads: threads, batchSize: batchSize, observer: HittingTimeObserver.self, progress: progress)
        return MonteCarloOutcome(hittingTimes: r.hittingTimes, steps: r.steps)
    }
}
