import Metastable

/// One round's batches: each is queued, leased to one worker, or done with its result.
///
/// On a partitioned chain (`shardCount` set) every batch is a segment on one shard: batch b
/// of the round's start walks runs on shard b mod shardCount, and walks leaving a done
/// segment join a queued segment of their destination shard that no worker has leased yet
/// (up to `segmentCapacity` walks), or start one. Segments leased are never changed, so a
/// requeued one runs the same walks again.
struct CoordinatorRound: Sendable {
    enum Batch: Sendable, Equatable {
        case queued
        case leased(PeerID)
        case done
    }

    let number: Int
    let policyVersion: UInt64
    /// What each batch of an algorithm round is asked to do; nil for hitting-time rounds.
    let input: WireMessage.RoundInput?
    /// The walk indices of each batch (empty for segments of arriving walks only).
    private(set) var walks: [Range<UInt64>]
    /// Set on a partitioned chain.
    let shardCount: Int?
    /// On a partitioned chain: each batch's shard, and the walks arriving with it.
    private(set) var shards: [Int] = []
    private(set) var arrivals: [Migrants] = []
    private(set) var batches: [Batch]
    private(set) var results: [WireMessage.BatchResult?]
    private(set) var doneCount = 0
    private(set) var leasedCount = 0
    /// Walks that have left a segment for another shard.
    private(set) var migrations = 0
    /// One queue per shard (one in all when not partitioned).
    private var queues: [BatchQueue]
    /// Per shard, the queued segment still taking arriving walks.
    private var openSegment: [Int?]
    private let segmentCapacity: Int
    /// The walks of the round: start walks' indices lie below it.
    private let walkCount: UInt64
    /// Σ (steps + walks) over done batches. Validation keeps it below 2^64, which bounds
    /// every sum the round's results add up to when merged (see `problem(with:at:)`).
    private var mergeBudget: UInt64 = 0
    /// Which observers the round's results carry, set by the first one: results of one
    /// experiment all have the same, and merging counts over different clusters traps.
    private var shape: Shape?

    /// - Parameter segments: on a partitioned chain, segments beyond `walks` restored
    ///   from a snapshot, as (shard, arrivals).
    init(
        number: Int, policyVersion: UInt64, input: WireMessage.RoundInput? = nil, walks: [Range<UInt64>],
        shards shardCount: Int? = nil, segments: [(shard: Int, arrivals: Migrants)] = []
    ) {
        self.number = number
        self.policyVersion = policyVersion
        self.input = input
        self.walks = walks
        self.shardCount = shardCount
        let count = walks.count
        startBatchCount = count
        batches = Array(repeating: .queued, count: count)
        results = Array(repeating: nil, count: count)
        segmentCapacity = max(1, walks.map(\.count).max() ?? 1)
        walkCount = walks.map(\.upperBound).max() ?? 0
        if let shardCount {
            shards = (0..<count).map { $0 % shardCount }
            arrivals = Array(repeating: Migrants(), count: count)
            queues = (0..<shardCount).map { s in BatchQueue(sorted: Array(stride(from: s, to: count, by: shardCount))) }
            openSegment = Array(repeating: nil, count: shardCount)
            for segment in segments { appendSegment(shard: segment.shard, arrivals: segment.arrivals) }
            // A restored segment may have been leased with these walks before the crash:
            // adding walks now would make a late result of it lose them.
            openSegment = Array(repeating: nil, count: shardCount)
        } else {
            queues = [BatchQueue(sorted: Array(0..<count))]
            openSegment = []
        }
    }

    var queuedCount: Int { walks.count - doneCount - leasedCount }
    var isComplete: Bool { doneCount == walks.count }
    /// The segments beyond the start batches, as a snapshot stores them.
    var segments: [(shard: Int, arrivals: Migrants)] {
        guard shardCount != nil else { return [] }
        return (startBatchCount..<walks.count).map { (shards[$0], arrivals[$0]) }
    }
    /// The round's start batches; segments follow them.
    let startBatchCount: Int

    /// The id on the wire: the round in the high 32 bits, the batch index in the low.
    func batchID(_ index: Int) -> UInt64 { UInt64(number) << 32 | UInt64(index) }

    func lease(_ index: Int, jobID: UInt64) -> WireMessage.TaskLease {
        .init(
            jobID: jobID, batchID: batchID(index), walks: walks[index], round: UInt64(number), policyVersion: policyVersion,
            input: input, segment: shardCount == nil ? nil : WireMessage.SegmentLease(shard: shards[index], arrivals: arrivals[index]))
    }

    /// The lowest queued batch `peer` may run (on a partitioned chain, of the `shards` it
    /// holds), now leased to it.
    mutating func leaseNext(to peer: PeerID, shards held: [Int]? = nil) -> Int? {
        let candidates = shardCount == nil ? [0] : (held ?? [])
        var best: (queue: Int, index: Int)?
        for q in candidates where queues.indices.contains(q) {
            // Entries for batches done while queued are stale: drop them.
            while let index = queues[q].min, batches[index] != .queued { _ = queues[q].popMin() }
            if let index = queues[q].min, best.map({ index < $0.index }) ?? true { best = (q, index) }
        }
        guard let best else { return nil }
        _ = queues[best.queue].popMin()
        batches[best.index] = .leased(peer)
        leasedCount += 1
        if shardCount != nil, openSegment[best.queue] == best.index { openSegment[best.queue] = nil }
        return best.index
    }

    /// Whether a queued batch of `shard` waits (any, when not partitioned).
    func hasQueued(onShard shard: Int) -> Bool {
        let q = shardCount == nil ? 0 : shard
        return queues.indices.contains(q) && queues[q].entries.contains { batches[$0] == .queued }
    }

    /// Back into the queue, in index order with the rest.
    mutating func requeue(_ index: Int) {
        guard case .leased = batches[index] else { return }
        batches[index] = .queued
        leasedCount -= 1
        queues[shardCount == nil ? 0 : shards[index]].push(index)
    }

    /// A walk arriving on `shard`: into its open segment, or a new one.
    private mutating func arrive(_ walk: ArraySlice<UInt64>, on shard: Int) {
        if let open = openSegment[shard], arrivals[open].count < segmentCapacity {
            arrivals[open].append(walk)
        } else {
            var segment = Migrants()
            segment.append(walk)
            appendSegment(shard: shard, arrivals: segment)
        }
    }

    private mutating func appendSegment(shard: Int, arrivals segment: Migrants) {
        let index = walks.count
        walks.append(0..<0)
        shards.append(shard)
        arrivals.append(segment)
        batches.append(.queued)
        results.append(nil)
        queues[shard].push(index)
        openSegment[shard] = index
    }

    /// Stores a result that passed `problem(with:at:)` and returns who held the lease, if anyone.
    mutating func complete(_ index: Int, with result: WireMessage.BatchResult) -> PeerID? {
        var holder: PeerID?
        switch batches[index] {
        case .done: return nil
        case .leased(let peer): holder = peer; leasedCount -= 1
        case .queued: break
        }
        batches[index] = .done
        results[index] = result
        doneCount += 1
        mergeBudget += Self.walked(result) + walkCount(index) // cannot overflow: checked by `problem`
        shape = shape ?? Shape(result)
        if !restoring {
            for departure in result.departures {
                migrations += departure.walks.count
                for walk in departure.walks.walks { arrive(departure.walks.words(of: walk), on: departure.shard) }
            }
        }
        return holder
    }

    /// Set while a snapshot replays: its segments are restored as they were, not re-made.
    var restoring = false

    /// The walks batch `index` starts with: its fresh walks and its arrivals.
    private func walkCount(_ index: Int) -> UInt64 {
        walks[index].upperBound - walks[index].lowerBound + UInt64(shardCount == nil ? 0 : arrivals[index].count)
    }

    /// Why `result` cannot be batch `index`'s, or nil when it can.
    ///
    /// Beyond the counts, the checks bound every sum: each walk's hard steps are at most its
    /// steps and its clusters visited at most its steps + 1, and Σt² ≤ max·Σt for any sample.
    /// With Σ (walked + walks) of the round below 2^64, where walked is the larger of a
    /// batch's steps and its hitting times' sum, every count and Σt of the merged round is
    /// below 2^64 and every Σt² below 2^128, so merging the round cannot trap.
    ///
    /// A batch of an algorithm round (`input` set) need not walk its items: its walks are
    /// whatever its hitting times count, and its steps may include other sampling (the
    /// round's validator checks the rest). A segment's steps are those taken on its shard,
    /// while the hitting times of the walks ending there count their steps everywhere.
    func problem(with result: WireMessage.BatchResult, at index: Int) -> String? {
        let id = "batch \(batchID(index))"
        if let problem = departureProblem(result, at: index) { return "\(id): \(problem)" }
        let departed = UInt64(result.departures.reduce(0) { $0 + $1.walks.count })
        let n = input == nil ? walkCount(index) - departed : result.hittingTime.count
        let steps = UInt128(result.steps), tau = result.hittingTime.sum
        let segment = shardCount != nil
        if let problem = Self.problem(
            result.hittingTime, "hitting_time", walks: n, sumAtMost: segment ? UInt128(UInt64.max) : steps)
        {
            return "\(id): \(problem)"
        }
        guard tau == steps || input != nil || segment else {
            return "\(id): steps \(result.steps), but the hitting times add up to \(tau)"
        }
        // Per walk, what its hard steps and clusters visited are bounded by.
        let walked = segment ? tau : steps
        if let hard = result.hardSteps,
           let problem = Self.problem(hard, "hard_steps", walks: n, sumAtMost: walked) {
            return "\(id): \(problem)"
        }
        if let visited = result.clustersVisited,
           let problem = Self.problem(visited, "clusters_visited", walks: n, sumAtMost: walked + UInt128(n)) {
            return "\(id): \(problem)"
        }
        if let transitions = result.transitions {
            var stepsIn: UInt128 = 0
            for k in 0..<transitions.clusterCount { stepsIn += UInt128(transitions.steps(in: k)) }
            guard stepsIn <= steps else {
                return "\(id): transitions count \(stepsIn) steps, more than the batch's \(result.steps)"
            }
        }
        if let shape, shape != Shape(result) {
            return "\(id): observers \(Shape(result)) differ from the round's other results (\(shape))"
        }
        let (withSteps, overflow1) = mergeBudget.addingReportingOverflow(Self.walked(result))
        let (_, overflow2) = withSteps.addingReportingOverflow(n)
        guard !overflow1, !overflow2 else {
            return "\(id): the round's results would add up to 2^64 steps or more"
        }
        return nil
    }

    /// The larger of a result's steps and its hitting times' sum (below 2^64 once checked).
    private static func walked(_ result: WireMessage.BatchResult) -> UInt64 {
        max(result.steps, UInt64(clamping: result.hittingTime.sum))
    }

    /// Departures only from segments, to other shards, of no more walks than the segment
    /// had, each a walk of the round with steps left.
    private func departureProblem(_ result: WireMessage.BatchResult, at index: Int) -> String? {
        guard let shardCount else { return result.departures.isEmpty ? nil : "departures, but the chain is not partitioned" }
        let digest = arrivals[index].digest(fresh: walks[index])
        guard result.segmentDigest == digest else {
            return "segment digest \(result.segmentDigest), the segment leased as this batch has \(digest): another version of it"
        }
        var departed = 0
        for departure in result.departures {
            guard departure.shard < shardCount, departure.shard != shards[index] else {
                return "departures to shard \(departure.shard), not another of the \(shardCount) shards than \(shards[index])"
            }
            departed += departure.walks.count
            for walk in departure.walks.walks where walk.index >= walkCount || walk.left == 0 {
                return "a departing walk (index \(walk.index), \(walk.left) steps left) is not a running walk of the round"
            }
        }
        guard UInt64(departed) <= walkCount(index) else {
            return "\(departed) walks departed, the segment had \(walkCount(index))"
        }
        guard walks.count + result.departures.count < 1 << 32 else { return "more segments than a batch id can number" }
        return nil
    }

    private static func problem(
        _ sample: IntegerSampleAccumulator, _ field: String, walks: UInt64, sumAtMost bound: UInt128
    ) -> String? {
        guard sample.count == walks else { return "\(field) has \(sample.count) walks, the batch \(walks)" }
        guard sample.sum <= bound else { return "\(field) sums to \(sample.sum), more than \(bound)" }
        // A product past 2^128 bounds any UInt128.
        let (limit, overflow) = UInt128(sample.max ?? 0).multipliedReportingOverflow(by: sample.sum)
        guard overflow || sample.sumOfSquares <= limit else {
            return "\(field): sum of squares \(sample.sumOfSquares) exceeds max · sum"
        }
        return nil
    }

    /// Which observers a result carries, and over how many clusters.
    struct Shape: Sendable, Equatable, CustomStringConvertible {
        var hardSteps: Bool
        var clustersVisited: Bool
        var transitionClusters: Int?

        init(_ result: WireMessage.BatchResult) {
            hardSteps = result.hardSteps != nil
            clustersVisited = result.clustersVisited != nil
            transitionClusters = result.transitions?.clusterCount
        }

        var description: String {
            "hard_steps \(hardSteps ? "yes" : "no"), clusters_visited \(clustersVisited ? "yes" : "no"), "
                + "transitions \(transitionClusters.map { "over \($0) clusters" } ?? "no")"
        }
    }

    /// Checks the round's bookkeeping against the workers' lease lists; for tests.
    func invariantViolations(leases: [(peer: PeerID, batches: [Int])]) -> [String] {
        var problems = [String]()
        var holders = [Int: PeerID]()
        for (peer, held) in leases {
            for index in held {
                if holders.updateValue(peer, forKey: index) != nil { problems.append("batch \(index) leased twice") }
                if batches[index] != .leased(peer) { problems.append("\(peer) holds batch \(index), which is \(batches[index])") }
            }
        }
        let queued = Set(queues.flatMap(\.entries))
        var done = 0, leased = 0
        for (index, batch) in batches.enumerated() {
            switch batch {
            case .queued:
                if !queued.contains(index) { problems.append("batch \(index) is queued but not in the queue") }
            case .leased(let peer):
                leased += 1
                if holders[index] != peer { problems.append("batch \(index) leased to \(peer), who does not list it") }
            case .done:
                done += 1
            }
            if (batch == .done) != (results[index] != nil) { problems.append("batch \(index) is \(batch) with result \(results[index] != nil)") }
        }
        if done != doneCount || leased != leasedCount {
            problems.append("counts: done \(doneCount) (really \(done)), leased \(leasedCount) (really \(leased))")
        }
        return problems
    }
}

extension CoordinatorRound {
    /// Queued batch indices, lowest first: a binary min-heap. A batch done while queued keeps
    /// its entry until popped.
    struct BatchQueue: Sendable {
        private(set) var entries: [Int]

        /// Sorted entries are already a heap.
        init(sorted: [Int]) {
            entries = sorted
        }

        var min: Int? { entries.first }

        mutating func push(_ index: Int) {
            entries.append(index)
            var child = entries.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard entries[child] < entries[parent] else { break }
                entries.swapAt(child, parent)
                child = parent
            }
        }

        mutating func popMin() -> Int? {
            guard let last = entries.popLast() else { return nil }
            guard !entries.isEmpty else { return last }
            let top = entries[0]
            entries[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < entries.count, entries[left] < entries[smallest] { smallest = left }
                if right < entries.count, entries[right] < entries[smallest] { smallest = right }
                guard smallest != parent else { return top }
                entries.swapAt(parent, smallest)
                parent = smallest
            }
        }
    }
}
