import Dispatch
import Synchronization

/// A grid point made ready to run: its walks (on a stored chain or a procedural one) and
/// its walk seed.
///
/// `runBatch(_:)` is the unit of work: the same function runs in a local thread, in a
/// worker process on another machine, and in a unit test, and gives the same result for the
/// same range of walk indices.
public final class PreparedPoint: Sendable {
    /// A stored chain with its start, target and walk task.
    public struct Stored: Sendable {
        public let chain: Chain
        public let start: StartDistribution
        public let target: TargetSet
        public let task: WalkTask
    }

    /// What the walks run on. A procedural chain is never materialised: it has no `Chain`,
    /// `StartDistribution` or `TargetSet`, each of which would be O(K·M).
    public enum Walks: Sendable {
        case stored(Stored)
        /// A stored chain partitioned into shards (`spec.shards`): run by segments.
        case sharded(ShardedWalks)
        case procedural(ProceduralWalk)
    }

    public let index: Int
    public let spec: ExperimentSpec
    /// The seed of this point's walk streams, derived from the spec's seed and the index.
    public let walkSeed: UInt64
    public let walks: Walks
    /// For a partitioned point whose rows stay in their file: the chain's summary, counted
    /// in place (nil on a worker, which never reports one).
    private let rowsSummary: ChainSummary?
    private let rowsClosedForm: Double?

    /// A partitioned point whose chain is a binary graph file (`.msgraph`, its own labels)
    /// never holds the whole chain where it need not: a worker (`shardRowsOnly`) reads each
    /// shard's rows when a segment of that shard first runs, and so does the coordinator
    /// unless the spec asks for the exact value, checking that the target can be reached and
    /// counting the chain's summary in the mapped file instead. Start and target are resolved
    /// on the file's labels.
    public init(_ plan: ExperimentPlan, point index: Int, shardRowsOnly: Bool = false) throws {
        guard plan.points.indices.contains(index) else {
            throw SpecError(field: "", "grid point \(index) does not exist (the plan has \(plan.points.count))")
        }
        let spec = plan.points[index].spec
        let walkSeed = Self.walkSeed(spec.seed, point: index)
        self.index = index
        self.spec = spec
        self.walkSeed = walkSeed
        if case .generated(let generator) = spec.chain, generator.procedural {
            (rowsSummary, rowsClosedForm) = (nil, nil)
            walks = .procedural(try ProceduralWalk(
                chain: generator, start: spec.start, target: spec.target, maxSteps: spec.maxSteps, seed: walkSeed))
            return
        }
        if shardRowsOnly || !spec.exact, let shards = spec.shards, case .file(let path, labels: nil, _) = spec.chain,
            ChainFile.Format(pathExtensionOf: path) == .binary
        {
            let (skeleton, records) = try ChainFile.loadRows(ofClusters: { _ in false }, path: path)
            let start = try spec.start.resolve(in: skeleton), target = try spec.target.resolve(in: skeleton)
            (rowsSummary, rowsClosedForm) = shardRowsOnly ? (nil, nil) : try ChainFile.inspectRows(path: path) {
                (rows) throws(ChainError) in
                for s in start.states { try rows.checkReachable(from: s, to: target.states) }
                return (ChainSummary(rows, source: spec.chain), ClosedForm.hittingTime(chain: rows, start: start, target: target))
            }
            walks = .sharded(try ShardedWalks(
                skeleton: skeleton, recordsPerCluster: records, rowsFrom: path, start: start, target: target, shards: shards,
                maxSteps: spec.maxSteps, seed: walkSeed))
            return
        }
        (rowsSummary, rowsClosedForm) = (nil, nil)
        let chain = try ChainLoader.load(spec.chain)
        let start = try spec.start.resolve(in: chain)
        let target = try spec.target.resolve(in: chain)
        for s in start.states { try chain.checkReachable(from: s, to: target.states) }
        if let shards = spec.shards {
            walks = .sharded(try ShardedWalks(
                chain: chain, start: start, target: target, shards: shards, maxSteps: spec.maxSteps, seed: walkSeed))
            return
        }
        let task = try WalkTask(graph: WalkGraph(chain), start: start, target: target, maxSteps: spec.maxSteps, seed: walkSeed)
        walks = .stored(Stored(chain: chain, start: start, target: target, task: task))
    }

    /// Whether walks record the cluster-level observers (the chain has cluster labels).
    public var observesClusters: Bool {
        switch walks {
        case .stored(let stored): stored.chain.clusters != nil
        case .sharded(let sharded): sharded.observesClusters
        case .procedural: false
        }
    }

    public var batchCount: Int { (spec.walks + spec.batchSize - 1) / spec.batchSize }

    /// The walk indices of batch `b`: batches are fixed by the spec, not by who runs them.
    public func batch(_ b: Int) -> Range<Int> {
        b * spec.batchSize..<Swift.min((b + 1) * spec.batchSize, spec.walks)
    }

    /// Runs walks `range` on the calling thread (a sharded point runs `segment`s instead),
    /// `walkers` at a time (nil: `WalkTask.defaultWalkers`; the result does not depend on it).
    public func runBatch(_ range: Range<Int>, walkers: Int? = nil) throws(WalkError) -> MonteCarloOutcome {
        switch walks {
        case .sharded:
            throw WalkError(.badArgument, "grid point \(index) is partitioned into shards: its walks run as segments")
        case .stored(let stored) where observesClusters:
            return MonteCarloOutcome(try stored.task.run(walks: range, walkers: walkers, observer: ClusterObserver.self))
        case .stored(let stored):
            return MonteCarloOutcome(try stored.task.run(walks: range, walkers: walkers, observer: HittingTimeObserver.self))
        case .procedural(let walk):
            return MonteCarloOutcome(try walk.run(walks: range))
        }
    }

    /// What the Monte Carlo estimate is set against, and what the results say of the chain.
    public struct Reference: Sendable {
        public var exact: ExactValue?
        public var exactSeconds: Double?
        public var closedForm: Double?
        public var chain: ChainSummary
        public var start: [Int]
        public var targetStates: Int
    }

    /// The exact value (when `solve`), the closed form, and the chain's summary.
    public func reference(solve: Bool) throws -> Reference {
        switch walks {
        case .stored(let stored):
            return try reference(stored.chain, stored.start, stored.target, solve: solve)
        case .sharded(let sharded):
            guard sharded.rowsFile != nil else { return try reference(sharded.chain, sharded.start, sharded.target, solve: solve) }
            // The rows stay in their file: no solve; the summary and closed form come from there.
            guard let rowsSummary, !solve else {
                throw WalkError(.badArgument, "grid point \(index) holds its shards' rows only: no exact value or summary here")
            }
            return Reference(
                exact: nil, exactSeconds: nil, closedForm: rowsClosedForm, chain: rowsSummary, start: sharded.start.states,
                targetStates: sharded.target.states.count)
        case .procedural(let walk):
            // No solver runs on 10¹⁰ states: the exact value is the closed form, a few
            // floating-point operations (error a few rounding units).
            return Reference(
                exact: solve
                    ? ExactValue(expectedHittingTime: walk.expectedHittingTime, errorEstimate: 8 * .ulpOfOne, method: "closed form")
                    : nil,
                exactSeconds: solve ? 0 : nil, closedForm: walk.expectedHittingTime, chain: ChainSummary(procedural: walk.chain),
                start: [Int(walk.start)], targetStates: Int(walk.clusterSize))
        }
    }

    private func reference(_ chain: Chain, _ start: StartDistribution, _ target: TargetSet, solve: Bool) throws -> Reference {
        var exact: ExactValue?, exactSeconds: Double?
        if solve {
            let clock = ProgressReporter.now()
            let solution = try ExactSolver.hittingTimes(chain, target: target)
            exact = ExactValue(
                expectedHittingTime: try solution.expected(from: start), errorEstimate: solution.errorEstimate,
                method: "\(solution.method)")
            exactSeconds = ProgressReporter.now() - clock
        }
        return Reference(
            exact: exact, exactSeconds: exactSeconds, closedForm: ClosedForm.hittingTime(chain: chain, start: start, target: target),
            chain: ChainSummary(chain, source: spec.chain), start: start.states, targetStates: target.states.count)
    }

    /// Each grid point gets its own walk streams, derived from the spec's seed and its index.
    static func walkSeed(_ seed: UInt64, point: Int) -> UInt64 {
        let key = Philox4x32.Key(UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
        let block = Philox4x32.block(counter: .init(UInt32(truncatingIfNeeded: point), 0, 0x5EED, 0), key: key)
        return UInt64(block.x) | UInt64(block.y) << 32
    }
}

/// Runs batches somewhere (threads here, or workers of a cluster): all batches of a
/// hitting-time point, merged in batch order, or one round of an algorithm point.
public protocol WalkExecutor: Sendable {
    /// How many batches run at once (threads, or worker threads across a cluster), for the log.
    var parallelism: Int { get }
    func run(_ point: PreparedPoint, progress: @escaping @Sendable (WalkProgress) -> Void) throws -> MonteCarloOutcome
    /// Runs `round` of the algorithm point with index `pointIndex` (the `round`-th of the
    /// point) and returns the batch outputs in batch order.
    func runRound(
        _ round: AlgorithmRound, number: Int, of point: any AlgorithmPoint, pointIndex: Int,
        progress: @escaping @Sendable (WalkProgress) -> Void
    ) throws -> [RoundBatchOutput]
}

/// Batches on threads of this process.
public struct LocalExecutor: WalkExecutor {
    public let threads: Int
    /// Walks each thread interleaves; nil: by graph size (`WalkTask.defaultWalkers`).
    public let walkersPerThread: Int?

    public init(threads: Int, walkersPerThread: Int? = nil) {
        self.threads = Swift.max(1, threads)
        self.walkersPerThread = walkersPerThread
    }

    public var parallelism: Int { threads }

    public func run(_ point: PreparedPoint, progress: @escaping @Sendable (WalkProgress) -> Void) throws -> MonteCarloOutcome {
        switch point.walks {
        case .stored(let stored):
            try stored.task.outcome(
                walks: point.spec.walks, threads: threads, batchSize: point.spec.batchSize,
                walkersPerThread: walkersPerThread, observeClusters: point.observesClusters, progress: progress)
        case .sharded(let sharded):
            try sharded.outcome(
                walks: point.spec.walks, batchSize: point.spec.batchSize, threads: threads, walkersPerThread: walkersPerThread,
                progress: progress
            ).outcome
        case .procedural(let walk):
            try walk.outcome(walks: point.spec.walks, threads: threads, batchSize: point.spec.batchSize, progress: progress)
        }
    }

    public func runRound(
        _ round: AlgorithmRound, number: Int, of point: any AlgorithmPoint, pointIndex: Int,
        progress: @escaping @Sendable (WalkProgress) -> Void
    ) throws -> [RoundBatchOutput] {
        let task = RoundTask(round: number, stage: round.stage, input: round.input)
        let batches = round.batches
        let board = Mutex(RoundBoard(outputs: Array(repeating: nil, count: batches.count)))
        DispatchQueue.concurrentPerform(iterations: Swift.min(threads, batches.count)) { _ in
            while true {
                let next: Int? = board.withLock { board in
                    guard board.error == nil, board.next < batches.count else { return nil }
                    defer { board.next += 1 }
                    return board.next
                }
                guard let b = next else { return }
                let result = Result { try point.runBatch(task, batch: b, items: batches[b]) }
                let report: WalkProgress? = board.withLock { board in
                    switch result {
                    case .success(let output):
                        board.outputs[b] = output
                        board.done += 1
                        board.items += batches[b].count
                        board.steps += output.outcome.steps
                        return WalkProgress(batchesDone: board.done, batchCount: batches.count, walksDone: board.items, steps: board.steps)
                    case .failure(let error):
                        if board.error == nil { board.error = error }
                        return nil
                    }
                }
                if let report { progress(report) }
            }
        }
        return try board.withLock { board in
            if let error = board.error { throw error }
            return board.outputs.map { $0! }
        }
    }
}

/// The shared state of a local round: the next batch to take and what has come back.
private struct RoundBoard: Sendable {
    var outputs: [RoundBatchOutput?]
    var next = 0
    var done = 0
    var items = 0
    var steps: UInt64 = 0
    var error: (any Error)?
}
