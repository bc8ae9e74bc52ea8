import Dispatch
import Synchronization

/// Hitting times and observer statistics of a set of walks. Everything is an exact
/// integer count, so results of batches merge to the same value in any grouping.
public struct WalkResult<Statistics: WalkStatistics>: Sendable, Equatable {
    /// τ of each walk that hit; the cap, counted in `censoredCount`, for each that did not.
    public var hittingTimes: IntegerSampleAccumulator
    /// Steps taken by all walks, censored ones included (on a shard: the steps taken there,
    /// by the walks that ended there and the ones that left).
    public var steps: UInt64
    public var statistics: Statistics

    public init(hittingTimes: IntegerSampleAccumulator, steps: UInt64, statistics: Statistics) {
        self.hittingTimes = hittingTimes
        self.steps = steps
        self.statistics = statistics
    }

    public mutating func merge(_ other: WalkResult) {
        hittingTimes.merge(other.hittingTimes)
        steps += other.steps
        statistics.merge(other.statistics)
    }
}

/// Where a run stands, reported after each batch.
public struct WalkProgress: Sendable, Equatable {
    public var batchesDone: Int
    public var batchCount: Int
    public var walksDone: Int
    public var steps: UInt64
    /// Walks that moved between shards so far (a partitioned chain).
    public var migrations: Int

    public init(batchesDone: Int, batchCount: Int, walksDone: Int, steps: UInt64, migrations: Int = 0) {
        self.batchesDone = batchesDone
        self.batchCount = batchCount
        self.walksDone = walksDone
        self.steps = steps
        self.migrations = migrations
    }
}

/// Walks on one graph from one start distribution to one target: τ = inf{t ≥ 0 : X_t ∈
/// target}, capped at `maxSteps` (a walk that starts in the target has τ = 0; one that
/// reaches the cap is censored, never dropped).
///
/// Walk i depends on (seed, i) only, so a range of indices is a unit of work that gives
/// the same result on any thread, worker or machine. Built once per experiment: the
/// start table and the target bitset live here.
public final class WalkTask: @unchecked Sendable {
    // @unchecked: the buffers are written in init only, then shared read-only.
    public let graph: WalkGraph
    public let maxSteps: UInt64
    public let seed: UInt64
    @usableFromInline let start: StartSampler
    @usableFromInline let singleTarget: UInt32?
    @usableFromInline let targetBits: AlignedBuffer<UInt64>
    /// On a shard of a partitioned graph: the states whose rows other shards hold.
    @usableFromInline let foreignBits: AlignedBuffer<UInt64>?
    /// The lane form of the graph, when the lane kernel applies to it on this machine.
    @usableFromInline let lanes: LaneKernel?
    private let startRecords: AlignedBuffer<AliasRecord>?

    /// - Parameter foreign: on a shard of a partitioned graph, one bit per state (as a
    ///   `TargetSet`'s) for the states whose rows `graph` lacks; walks then run with
    ///   `runSegment`.
    ///   - kernel: `.scalar` keeps to the scalar kernel (for comparisons); the paths are the
    ///     same either way.
    public init(
        graph: WalkGraph, start: StartDistribution, target: TargetSet, maxSteps: UInt64, seed: UInt64,
        foreign: [UInt64]? = nil, kernel: WalkKernelChoice = .automatic
    ) throws(WalkError) {
        let n = graph.stateCount
        guard start.states.allSatisfy({ (0..<n).contains($0) }) else {
            throw WalkError(.mismatch, "a start state is outside the graph's \(n) states")
        }
        guard target.bits.count == (n + 63) / 64, target.states.allSatisfy({ (0..<n).contains($0) }) else {
            throw WalkError(.mismatch, "the target set was made for another number of states than the graph's \(n)")
        }
        guard foreign.map({ $0.count == target.bits.count }) ?? true else {
            throw WalkError(.mismatch, "the foreign states were given for another number of states than the graph's \(n)")
        }
        self.graph = graph
        self.maxSteps = maxSteps
        self.seed = seed
        foreignBits = try foreign.map { bits throws(WalkError) in try AlignedBuffer(bits) }
        singleTarget = target.states.count == 1 ? UInt32(target.states[0]) : nil
        targetBits = try AlignedBuffer(target.bits)
        lanes = kernel == .automatic ? LaneKernel(graph: graph, targets: targetBits.base, sharded: foreign != nil) : nil
        if let x = start.pointMass {
            startRecords = nil
            self.start = StartSampler(state: UInt32(x), records: nil, count: 1)
        } else {
            let records = try AlignedBuffer<AliasRecord>(uninitializedCount: start.states.count)
            var builder = AliasTableBuilder()
            builder.build(outcomes: start.states.map { UInt32($0) }, probabilities: start.probabilities, into: records.base)
            startRecords = records
            self.start = StartSampler(state: 0, records: records.base, count: UInt64(start.states.count))
        }
    }

    /// Graphs of at least this many bytes of walk data are out of cache: each step waits on
    /// memory, and more interleaved walkers hide more of it.
    public static let outOfCacheBytes = 32 << 20

    /// Walkers interleaved per thread when the caller does not say: measured on 2-core EPYC
    /// (2 MiB L2, 32 MiB L3), in cache 32 walkers are 4 vectors of the lane kernel, enough
    /// to overlap its loads (990 M steps/s/core on permutations(8); the scalar kernel steps
    /// at the same speed from 8 to 64). Out of cache more walkers keep more misses in
    /// flight: the pipelined lane kernel reaches 144 M steps/s with 128 against 97 M with 64
    /// (1120 MiB graph); the scalar kernel 57 M from 64 on. Results do not depend on it.
    public var defaultWalkers: Int { Self.defaultWalkers(graphBytes: graph.bytes) }

    /// `defaultWalkers` for a graph of `graphBytes` bytes of walk data.
    public static func defaultWalkers(graphBytes: Int) -> Int { graphBytes >= outOfCacheBytes ? 128 : 32 }

    /// Whether `walkers` walks per thread run in the lane kernel (`LaneKernel`) when they
    /// only record hitting times; else the scalar kernel runs them.
    public func runsInLanes(walkers: Int) -> Bool { lanes != nil && walkers >= LaneKernel.minimumWalkers }

    /// The most walkers a thread interleaves: beyond it the slots outgrow the L1 cache.
    public static let maxWalkers = 1024

    /// Checks a walkers-per-thread setting from the command line (nil: the default).
    public static func validate(walkersPerThread: Int?) throws(WalkError) {
        guard let n = walkersPerThread else { return }
        guard (1...maxWalkers).contains(n) else {
            throw WalkError(.badArgument, "walkers per thread must be in 1...\(maxWalkers), got \(n)")
        }
    }

    /// Runs walks `walks` on the calling thread, `walkers` at a time (nil: `defaultWalkers`).
    @inlinable
    public func run<Observer: WalkObserver>(
        walks: Range<Int>, walkers: Int? = nil, observer: Observer.Type = HittingTimeObserver.self
    ) throws(WalkError) -> WalkResult<Observer.Statistics> {
        let walkers = walkers ?? defaultWalkers
        guard walks.lowerBound >= 0 else { throw WalkError(.badArgument, "walk indices start at 0, got \(walks)") }
        guard walkers >= 1 else { throw WalkError(.badArgument, "walkers per thread must be at least 1, got \(walkers)") }
        guard foreignBits == nil else {
            throw WalkError(.badArgument, "this task holds one shard of a partitioned graph: run its walks with runSegment")
        }
        var o = try Observer(graph: graph, walkers: Swift.max(1, Swift.min(walkers, walks.count)))
        let (times, steps, _) = withExtendedLifetime(self) {
            walk(Migrants(), walks, walkers: walkers, observer: &o)
        }
        return WalkResult(hittingTimes: times, steps: steps, statistics: o.statistics())
    }

    /// On a shard: runs the walks `arrivals` and then `walks` until each hits, reaches the
    /// cap, or is about to step from another shard's state. Returns the statistics of the
    /// walks that ended here and the walks that left. Arrivals are checked first: each
    /// must be at a state of this shard, outside the target, with steps left, and carry
    /// its observer's state.
    public func runSegment<Observer: WalkObserver>(
        arrivals: Migrants, walks: Range<Int>, walkers: Int? = nil, observer: Observer.Type = HittingTimeObserver.self
    ) throws(WalkError) -> (result: WalkResult<Observer.Statistics>, departures: Migrants) {
        let walkers = walkers ?? defaultWalkers
        guard let foreignBits else {
            throw WalkError(.badArgument, "runSegment needs a shard of a partitioned graph; this task holds the whole graph")
        }
        guard walks.lowerBound >= 0 else { throw WalkError(.badArgument, "walk indices start at 0, got \(walks)") }
        guard walkers >= 1 else { throw WalkError(.badArgument, "walkers per thread must be at least 1, got \(walkers)") }
        var o = try Observer(graph: graph, walkers: Swift.max(1, Swift.min(walkers, walks.count + arrivals.count)))
        let border = ForeignStates(bits: foreignBits.base), hit = BitsetHit(bits: targetBits.base)
        let observer = o
        if let problem = arrivals.problem(
            stateCount: graph.stateCount, maxSteps: maxSteps, belongsHere: { !border.isForeign(UInt32($0)) },
            isTarget: { hit.contains(UInt32($0)) }, observer: { observer.problem(resuming: $0, at: $1, steps: $2) })
        {
            throw WalkError(.mismatch, "arriving \(problem)")
        }
        let (times, steps, departures) = withExtendedLifetime(self) {
            walk(arrivals, walks, walkers: walkers, observer: &o)
        }
        return (WalkResult(hittingTimes: times, steps: steps, statistics: o.statistics()), departures)
    }

    /// Runs walks `0..<walks` on `threads` threads in batches of `batchSize` consecutive
    /// indices, `walkersPerThread` at a time per thread (nil: `defaultWalkers`). Batch boundaries do not depend on
    /// the thread count, and batch results merge in batch order, so the result is the same
    /// for any `threads` (and, counts being exact, any `batchSize` or `walkersPerThread`).
    ///
    /// `progress` is called after every batch, one call at a time, from a worker thread:
    /// keep it short.
    @inlinable
    public func run<Observer: WalkObserver>(
        walks: Int, threads: Int, batchSize: Int = 4096, walkersPerThread: Int? = nil,
        observer: Observer.Type = HittingTimeObserver.self,
        progress: (@Sendable (WalkProgress) -> Void)? = nil
    ) throws(WalkError) -> WalkResult<Observer.Statistics> {
        guard walks >= 0 else { throw WalkError(.badArgument, "the number of walks must be non-negative, got \(walks)") }
        guard threads >= 1 else { throw WalkError(.badArgument, "threads must be at least 1, got \(threads)") }
        guard batchSize >= 1 else { throw WalkError(.badArgument, "the batch size must be at least 1, got \(batchSize)") }
        // Checks the observer can run (cluster labels) before any thread starts.
        var result = try run(walks: 0..<0, walkers: walkersPerThread, observer: Observer.self)
        let batches = try WalkScheduler.run(
            walks: walks, batchSize: batchSize, threads: threads, progress: progress
        ) { (range) throws(WalkError) in
            try self.run(walks: range, walkers: walkersPerThread, observer: Observer.self)
        }
        for batch in batches { result.merge(batch) }
        return result
    }

    /// Picks the kernel specialisation for this graph, target and border.
    @inlinable
    func walk<Observer: WalkObserver>(
        _ arrivals: Migrants, _ walks: Range<Int>, walkers: Int, observer: inout Observer
    ) -> (IntegerSampleAccumulator, UInt64, Migrants) {
        if walkers >= LaneKernel.minimumWalkers, let lanes {
            let walkers = Swift.min(walkers, Swift.max(1, walks.count))
            var clusters: ClusterObserver?
            if Observer.self == ClusterObserver.self {
                // The lane kernel's slots are whole vectors: an observer with room for them.
                clusters = try? ClusterObserver(graph: graph, walkers: LaneKernel.laneCount(walkers: walkers))
            }
            if Observer.self == HittingTimeObserver.self || clusters != nil,
               let (times, steps) = lanes.run(
                   start: start, seed: seed, maxSteps: maxSteps, walks: walks, walkers: walkers, clusters: &clusters)
            {
                if let clusters { observer = clusters as! Observer }
                return (times, steps, Migrants())
            }
        }
        let view = graph.view
        switch graph.uniformLayout {
        case .none:
            return walk(arrivals, walks, walkers: walkers, uniform: NoUniformSlots(), observer: &observer)
        case .contiguous:
            return walk(
                arrivals, walks, walkers: walkers, uniform: ContiguousUniformSlots(memberOffsets: view.memberOffsets!),
                observer: &observer)
        case .members:
            return walk(
                arrivals, walks, walkers: walkers,
                uniform: MemberUniformSlots(memberOffsets: view.memberOffsets!, members: view.members!),
                observer: &observer)
        }
    }

    @inlinable
    func walk<Uniform: UniformSlots, Observer: WalkObserver>(
        _ arrivals: Migrants, _ walks: Range<Int>, walkers: Int, uniform: Uniform, observer: inout Observer
    ) -> (IntegerSampleAccumulator, UInt64, Migrants) {
        if let foreignBits {
            // Shards are the rare, large-graph case: one specialisation (bitset target) is enough.
            return arrivals.words.withUnsafeBufferPointer { words in
                WalkKernel.run(
                    graph: graph.view, uniform: uniform, hit: BitsetHit(bits: targetBits.base),
                    border: ForeignStates(bits: foreignBits.base), start: start, seed: seed, maxSteps: maxSteps,
                    arrivals: (words, arrivals.count), walks: walks, walkers: walkers, observer: &observer)
            }
        }
        if let state = singleTarget {
            return WalkKernel.run(
                graph: graph.view, uniform: uniform, hit: SingleStateHit(state: state), border: NoBorder(), start: start,
                seed: seed, maxSteps: maxSteps, walks: walks, walkers: walkers, observer: &observer)
        }
        return WalkKernel.run(
            graph: graph.view, uniform: uniform, hit: BitsetHit(bits: targetBits.base), border: NoBorder(), start: start,
            seed: seed, maxSteps: maxSteps, walks: walks, walkers: walkers, observer: &observer)
    }
}

/// Runs `walks` walks from `start` until they hit `target` or take `maxSteps` steps, on
/// `threads` threads; see `WalkTask.run(walks:threads:batchSize:walkersPerThread:observer:progress:)`.
@inlinable
public func runWalks<Observer: WalkObserver>(
    _ graph: WalkGraph, from start: StartDistribution, to target: TargetSet, walks: Int, maxSteps: UInt64,
    seed: UInt64, threads: Int, batchSize: Int = 4096, walkersPerThread: Int? = nil,
    observer: Observer.Type = HittingTimeObserver.self, progress: (@Sendable (WalkProgress) -> Void)? = nil
) throws(WalkError) -> WalkResult<Observer.Statistics> {
    try WalkTask(graph: graph, start: start, target: target, maxSteps: maxSteps, seed: seed).run(
        walks: walks, threads: threads, batchSize: batchSize, walkersPerThread: walkersPerThread,
        observer: Observer.self, progress: progress)
}

/// Hands out batches to threads and collects their results by batch index. The only
/// shared state is the batch counter and the result slots behind one lock, taken once
/// per batch.
@usableFromInline
enum WalkScheduler {
    private struct Board<Statistics: WalkStatistics>: Sendable {
        var results: [WalkResult<Statistics>?]
        var progress: WalkProgress
        var error: WalkError?
    }

    private final class Shared<Statistics: WalkStatistics>: Sendable {
        let next = Atomic<Int>(0)
        let board: Mutex<Board<Statistics>>

        init(batchCount: Int) {
            board = Mutex(Board(
                results: Array(repeating: nil, count: batchCount),
                progress: WalkProgress(batchesDone: 0, batchCount: batchCount, walksDone: 0, steps: 0)))
        }
    }

    /// The results of batches [b·batchSize, min((b+1)·batchSize, walks)), in order of b.
    /// Stops handing out batches at the first error, and throws it.
    @usableFromInline
    static func run<Statistics: WalkStatistics>(
        walks: Int, batchSize: Int, threads: Int, progress: (@Sendable (WalkProgress) -> Void)?,
        batch: @Sendable (Range<Int>) throws(WalkError) -> WalkResult<Statistics>
    ) throws(WalkError) -> [WalkResult<Statistics>] {
        let batchCount = walks / batchSize + (walks % batchSize == 0 ? 0 : 1)
        let shared = Shared<Statistics>(batchCount: batchCount)
        DispatchQueue.concurrentPerform(iterations: Swift.min(threads, batchCount)) { _ in
            while true {
                let b = shared.next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard b < batchCount, shared.board.withLock({ $0.error == nil }) else { return }
                let range = b * batchSize..<Swift.min((b + 1) * batchSize, walks)
                let outcome = Result { () throws(WalkError) in try batch(range) }
                shared.board.withLock { board in
                    switch outcome {
                    case .success(let result):
                        board.results[b] = result
                        board.progress.batchesDone += 1
                        board.progress.walksDone += range.count
                        board.progress.steps += result.steps
                        progress?(board.progress)
                    case .failure(let error):
                        if board.error == nil { board.error = error }
                    }
                }
            }
        }
        return try shared.board.withLock { board throws(WalkError) in
            if let error = board.error { throw error }
            return board.results.map { $0! }
        }
    }
}
