/// Monte Carlo hitting times of a set of walks, with the cluster-level observers whenever
/// the chain has cluster labels. Every field is an exact count: outcomes of batches merge
/// to the same value in any grouping.
public struct MonteCarloOutcome: Sendable, Equatable, Codable {
    public var hittingTimes: IntegerSampleAccumulator
    public var steps: UInt64
    /// Nil when the chain has no cluster labels.
    public var hardSteps: IntegerSampleAccumulator?
    public var clustersVisited: IntegerSampleAccumulator?
    public var transitions: TransitionCounts?

    public init(
        hittingTimes: IntegerSampleAccumulator = IntegerSampleAccumulator(), steps: UInt64 = 0,
        hardSteps: IntegerSampleAccumulator? = nil, clustersVisited: IntegerSampleAccumulator? = nil,
        transitions: TransitionCounts? = nil
    ) {
        self.hittingTimes = hittingTimes
        self.steps = steps
        self.hardSteps = hardSteps
        self.clustersVisited = clustersVisited
        self.transitions = transitions
    }

    public init(_ result: WalkResult<NoStatistics>) {
        self.init(hittingTimes: result.hittingTimes, steps: result.steps)
    }

    public init(_ result: WalkResult<ClusterStatistics>) {
        self.init(
            hittingTimes: result.hittingTimes, steps: result.steps, hardSteps: result.statistics.hardSteps,
            clustersVisited: result.statistics.clustersVisited, transitions: result.statistics.transitions)
    }

    /// Adds `other`'s walks. Both must come from the same point (both with or both without
    /// the cluster observers).
    public mutating func merge(_ other: MonteCarloOutcome) {
        hittingTimes.merge(other.hittingTimes)
        steps += other.steps
        Self.merge(&hardSteps, other.hardSteps)
        Self.merge(&clustersVisited, other.clustersVisited)
        if let theirs = other.transitions {
            if transitions == nil { transitions = theirs } else { transitions!.merge(theirs) }
        }
    }

    private static func merge(_ mine: inout IntegerSampleAccumulator?, _ theirs: IntegerSampleAccumulator?) {
        guard let theirs else { return }
        if mine == nil { mine = theirs } else { mine!.merge(theirs) }
    }
}

public enum MonteCarlo {
    /// Runs `walks` walks in fixed batches of `batchSize` on `threads` threads. The result
    /// depends only on the arguments other than `threads` and `progress`.
    public static func run(
        chain: Chain, start: StartDistribution, target: TargetSet, walks: Int, maxSteps: UInt64, seed: UInt64,
        batchSize: Int, threads: Int, observeClusters: Bool,
        progress: (@Sendable (WalkProgress) -> Void)? = nil
    ) throws(WalkError) -> MonteCarloOutcome {
        let task = try WalkTask(graph: WalkGraph(chain), start: start, target: target, maxSteps: maxSteps, seed: seed)
        return try task.outcome(
            walks: walks, threads: threads, batchSize: batchSize, observeClusters: observeClusters && chain.clusters != nil,
            progress: progress)
    }
}

extension WalkTask {
    /// Walks `0..<walks` on `threads` threads, with the cluster observers when asked for.
    public func outcome(
        walks: Int, threads: Int, batchSize: Int, walkersPerThread: Int? = nil, observeClusters: Bool,
        progress: (@Sendable (WalkProgress) -> Void)? = nil
    ) throws(WalkError) -> MonteCarloOutcome {
        if observeClusters {
            return MonteCarloOutcome(try run(
                walks: walks, threads: threads, batchSize: batchSize, walkersPerThread: walkersPerThread,
                observer: ClusterObserver.self, progress: progress))
        }
        return MonteCarloOutcome(try run(
            walks: walks, threads: threads, batchSize: batchSize, walkersPerThread: walkersPerThread,
            observer: HittingTimeObserver.self, progress: progress))
    }
}
