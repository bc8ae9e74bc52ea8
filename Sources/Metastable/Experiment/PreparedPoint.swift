/// A grid point made ready to run: its chain, start, target, walk seed and walk task.
///
/// `runBatch(_:)` is the unit of work: the same function runs in a local thread, in a
/// worker process on another machine, and in a unit test, and gives the same result for the
/// same range of walk indices.
public final class PreparedPoint: Sendable {
    public let index: Int
    public let spec: ExperimentSpec
    public let chain: Chain
    public let start: StartDistribution
    public let target: TargetSet
    /// The seed of this point's walk streams, derived from the spec's seed and the index.
    public let walkSeed: UInt64
    public let task: WalkTask

    public init(_ plan: ExperimentPlan, point index: Int) throws {
        guard plan.points.indices.contains(index) else {
            throw SpecError(field: "", "grid point \(index) does not exist (the plan has \(plan.points.count))")
        }
        let spec = plan.points[index].spec
        let chain = try ChainLoader.load(spec.chain)
        let start = try spec.start.resolve(in: chain)
        let target = try spec.target.resolve(in: chain)
        for s in start.states { try chain.checkReachable(from: s, to: target.states) }
        self.index = index
        self.spec = spec
        self.chain = chain
        self.start = start
        self.target = target
        walkSeed = Self.walkSeed(spec.seed, point: index)
        task = try WalkTask(graph: WalkGraph(chain), start: start, target: target, maxSteps: spec.maxSteps, seed: walkSeed)
    }

    /// Whether walks record the cluster-level observers (the chain has cluster labels).
    public var observesClusters: Bool { chain.clusters != nil }

    public var batchCount: Int { (spec.walks + spec.batchSize - 1) / spec.batchSize }

    /// The walk indices of batch `b`: batches are fixed by the spec, not by who runs them.
    public func batch(_ b: Int) -> Range<Int> {
        b * spec.batchSize..<Swift.min((b + 1) * spec.batchSize, spec.walks)
    }

    /// Runs walks `walks` on the calling thread.
    public func runBatch(_ walks: Range<Int>) throws(WalkError) -> MonteCarloOutcome {
        if observesClusters {
            return MonteCarloOutcome(try task.run(walks: walks, observer: ClusterObserver.self))
        }
        return MonteCarloOutcome(try task.run(walks: walks, observer: HittingTimeObserver.self))
    }

    /// Each grid point gets its own walk streams, derived from the spec's seed and its index.
    static func walkSeed(_ seed: UInt64, point: Int) -> UInt64 {
        let key = Philox4x32.Key(UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
        let block = Philox4x32.block(counter: .init(UInt32(truncatingIfNeeded: point), 0, 0x5EED, 0), key: key)
        return UInt64(block.x) | UInt64(block.y) << 32
    }
}

/// Runs all batches of a prepared point somewhere and merges their outcomes in batch order.
public protocol WalkExecutor: Sendable {
    /// How many batches run at once (threads, or worker threads across a cluster), for the log.
    var parallelism: Int { get }
    func run(_ point: PreparedPoint, progress: @escaping @Sendable (WalkProgress) -> Void) throws -> MonteCarloOutcome
}

/// Batches on threads of this process.
public struct LocalExecutor: WalkExecutor {
    public let threads: Int

    public init(threads: Int) { self.threads = Swift.max(1, threads) }

    public var parallelism: Int { threads }

    public func run(_ point: PreparedPoint, progress: @escaping @Sendable (WalkProgress) -> Void) throws -> MonteCarloOutcome {
        try point.task.outcome(
            walks: point.spec.walks, threads: threads, batchSize: point.spec.batchSize,
            observeClusters: point.observesClusters, progress: progress)
    }
}
