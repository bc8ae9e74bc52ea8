import Dispatch
import Synchronization

/// A piece of work on one shard: walks that arrive from other shards, and (for the first
/// segment of each batch) fresh walks by index.
public struct Segment: Sendable, Equatable {
    public var shard: Int
    public var walks: Range<Int>
    public var arrivals: Migrants

    public init(shard: Int, walks: Range<Int> = 0..<0, arrivals: Migrants = Migrants()) {
        self.shard = shard
        self.walks = walks
        self.arrivals = arrivals
    }

    /// Walks the segment starts with.
    public var walkCount: Int { walks.count + arrivals.count }
}

/// What a segment did: the statistics of the walks that ended on its shard, and the walks
/// that left, by destination shard (increasing, none empty).
public struct SegmentOutcome: Sendable, Equatable {
    public var outcome: MonteCarloOutcome
    public var departures: [(shard: Int, walks: Migrants)]

    public init(outcome: MonteCarloOutcome, departures: [(shard: Int, walks: Migrants)]) {
        self.outcome = outcome
        self.departures = departures
    }

    public static func == (a: SegmentOutcome, b: SegmentOutcome) -> Bool {
        a.outcome == b.outcome && a.departures.elementsEqual(b.departures) { $0.shard == $1.shard && $0.walks == $1.walks }
    }

    public var departureCount: Int { departures.reduce(0) { $0 + $1.walks.count } }
}

/// The walks of one grid point on a chain partitioned by cluster into shards
/// (`GraphPartition`): each shard's alias rows are built only where a segment needs them,
/// and a walk about to step from another shard's state leaves its segment as a migrant.
///
/// Every walk follows the path it follows on the whole graph (its generator travels with
/// it), and statistics are exact counts, so the merged outcome of all segments equals the
/// replicated run's, however the walks were cut into segments and whoever ran them.
///
/// The rows come from the chain in memory or, on a worker of a chain in a binary graph
/// file, from the file a shard at a time (`chain` then holds the labels and no rows).
public final class ShardedWalks: Sendable {
    /// The chain; without rows when they are read from `rowsFile`.
    public let chain: Chain
    /// A binary graph file each shard's rows are read from when it is first needed.
    public let rowsFile: String?
    public let start: StartDistribution
    public let target: TargetSet
    public let partition: GraphPartition
    public let maxSteps: UInt64
    public let seed: UInt64
    public let observesClusters: Bool
    private let tasks: Mutex<[WalkTask?]>

    public init(
        chain: Chain, start: StartDistribution, target: TargetSet, shards: Int, maxSteps: UInt64, seed: UInt64
    ) throws(WalkError) {
        self.chain = chain
        self.start = start
        self.target = target
        partition = try GraphPartition(chain, shards: shards)
        self.maxSteps = maxSteps
        self.seed = seed
        observesClusters = chain.clusters != nil
        tasks = Mutex(Array(repeating: nil, count: shards))
        rowsFile = nil
    }

    /// Walks whose shards' rows are read from the binary graph `path` when first needed.
    /// `skeleton` is the file's chain without rows (`ChainFile.loadRows` of no cluster), and
    /// `recordsPerCluster` its clusters' alias records, which the partition balances.
    public init(
        skeleton: Chain, recordsPerCluster: [Int], rowsFrom path: String, start: StartDistribution, target: TargetSet,
        shards: Int, maxSteps: UInt64, seed: UInt64
    ) throws(WalkError) {
        guard let clusters = skeleton.clusters else {
            throw WalkError(.noClusterLabels, "a partitioned graph is split by cluster, and \(path) has no cluster labels")
        }
        chain = skeleton
        self.start = start
        self.target = target
        partition = try GraphPartition(clusters, recordsPerCluster: recordsPerCluster, shards: shards)
        self.maxSteps = maxSteps
        self.seed = seed
        observesClusters = true
        tasks = Mutex(Array(repeating: nil, count: shards))
        rowsFile = path
    }

    /// The shard that starts batch `b`'s walks: walks starting elsewhere leave at once.
    public func startShard(ofBatch b: Int) -> Int { b % partition.shardCount }

    /// Shard `s`'s walk task, built on first use (one shard at a time).
    public func task(forShard s: Int) throws(WalkError) -> WalkTask {
        guard (0..<partition.shardCount).contains(s) else {
            throw WalkError(.badArgument, "shard \(s) does not exist (the graph has \(partition.shardCount))")
        }
        return try tasks.withLock { tasks throws(WalkError) in
            if let task = tasks[s] { return task }
            let held = partition.clustersHeld(by: s)
            let graph = try WalkGraph(shardRows(held), rowsOf: held)
            let task = try WalkTask(
                graph: graph, start: start, target: target, maxSteps: maxSteps, seed: seed,
                foreign: partition.foreignStates(of: s))
            tasks[s] = task
            return task
        }
    }

    /// Why `walks` cannot arrive on `shard`, or nil: the checks a worker makes before running
    /// a segment, without building the shard (a coordinator checks departures with them).
    public func problem(arriving walks: Migrants, on shard: Int) -> String? {
        guard (0..<partition.shardCount).contains(shard) else {
            return "shard \(shard) does not exist (the graph has \(partition.shardCount))"
        }
        let labels = chain.clusters?.labels, clusterCount = chain.clusters?.clusterCount ?? 0
        return walks.problem(
            stateCount: chain.stateCount, maxSteps: maxSteps, belongsHere: { self.partition.shard(ofState: $0) == shard },
            isTarget: { self.target.contains($0) },
            observer: { words, state, steps in
                guard let labels else {
                    return words.isEmpty ? nil : "a walk that only records its hitting time carries no observer words"
                }
                return ClusterObserver.problem(
                    resuming: words, label: UInt64(labels[Int(state)]), clusterCount: clusterCount, steps: steps)
            })
    }

    /// A chain holding at least the rows of the `held` clusters: this one, or those rows
    /// read from `rowsFile` (the file checked again, and against the partition).
    private func shardRows(_ held: [Bool]) throws(WalkError) -> Chain {
        guard let rowsFile else { return chain }
        let rows: Chain
        do {
            rows = try ChainFile.loadRows(ofClusters: { held[$0] }, path: rowsFile).chain
        } catch {
            throw WalkError(.mismatch, "\(error)")
        }
        guard rows.stateCount == chain.stateCount, rows.clusters == chain.clusters else {
            throw WalkError(.mismatch, "\(rowsFile) changed while the run was going: its states or clusters differ")
        }
        return rows
    }

    /// Runs one segment on the calling thread, `walkers` at a time (nil: by graph size).
    public func run(_ segment: Segment, walkers: Int? = nil) throws(WalkError) -> SegmentOutcome {
        let task = try task(forShard: segment.shard)
        let outcome: MonteCarloOutcome, departures: Migrants
        if observesClusters {
            let run = try task.runSegment(
                arrivals: segment.arrivals, walks: segment.walks, walkers: walkers, observer: ClusterObserver.self)
            (outcome, departures) = (MonteCarloOutcome(run.result), run.departures)
        } else {
            let run = try task.runSegment(
                arrivals: segment.arrivals, walks: segment.walks, walkers: walkers, observer: HittingTimeObserver.self)
            (outcome, departures) = (MonteCarloOutcome(run.result), run.departures)
        }
        var byShard = [Int: Migrants]()
        for walk in departures.walks {
            byShard[partition.shard(ofState: Int(walk.state)), default: Migrants()].append(departures.words(of: walk))
        }
        return SegmentOutcome(outcome: outcome, departures: byShard.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }

    /// Runs walks `0..<walks` in batches of `batchSize` on `threads` threads, segment by
    /// segment: the batches' first segments, then the walks that left them gathered by
    /// shard into segments of at most `batchSize`, and so on until every walk has ended.
    public func outcome(
        walks: Int, batchSize: Int, threads: Int, walkersPerThread: Int? = nil, progress: (@Sendable (WalkProgress) -> Void)? = nil
    ) throws(WalkError) -> (outcome: MonteCarloOutcome, migrations: Int) {
        guard walks >= 0, batchSize >= 1, threads >= 1 else {
            throw WalkError(.badArgument, "walks \(walks), batch size \(batchSize), threads \(threads): need ≥ 0, ≥ 1, ≥ 1")
        }
        var pending = stride(from: 0, to: walks, by: batchSize).enumerated().map { b, first in
            Segment(shard: startShard(ofBatch: b), walks: first..<Swift.min(first + batchSize, walks))
        }
        var total = MonteCarloOutcome(), migrations = 0, segmentsDone = 0
        while !pending.isEmpty {
            let segments = pending
            let results = Mutex<[Result<SegmentOutcome, WalkError>?]>(Array(repeating: nil, count: segments.count))
            let next = Atomic<Int>(0)
            DispatchQueue.concurrentPerform(iterations: Swift.min(threads, segments.count)) { _ in
                while true {
                    let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    guard i < segments.count else { return }
                    let result = Result { () throws(WalkError) in try self.run(segments[i], walkers: walkersPerThread) }
                    results.withLock { $0[i] = result }
                }
            }
            var arrivals = [Migrants](repeating: Migrants(), count: partition.shardCount)
            pending = []
            for result in results.withLock({ $0 }) {
                let done = try result!.get()
                total.merge(done.outcome)
                segmentsDone += 1
                for (shard, walks) in done.departures {
                    migrations += walks.count
                    for walk in walks.walks {
                        arrivals[shard].append(walks.words(of: walk))
                        if arrivals[shard].count == batchSize {
                            pending.append(Segment(shard: shard, arrivals: arrivals[shard]))
                            arrivals[shard] = Migrants()
                        }
                    }
                }
            }
            for (shard, walks) in arrivals.enumerated() where !walks.isEmpty {
                pending.append(Segment(shard: shard, arrivals: walks))
            }
            progress?(WalkProgress(
                batchesDone: segmentsDone, batchCount: segmentsDone + pending.count,
                walksDone: Int(total.hittingTimes.count), steps: total.steps, migrations: migrations))
        }
        return (total, migrations)
    }
}
