import Metastable

/// One round's batches: each is queued, leased to one worker, or done with its result.
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
    /// The walk indices of each batch.
    let walks: [Range<UInt64>]
    private(set) var batches: [Batch]
    private(set) var results: [WireMessage.BatchResult?]
    private(set) var doneCount = 0
    private(set) var leasedCount = 0
    private var queue: BatchQueue
    /// Σ (steps + walks) over done batches. Validation keeps it below 2^64, which bounds
    /// every sum the round's results add up to when merged (see `problem(with:at:)`).
    private var mergeBudget: UInt64 = 0
    /// Which observers the round's results carry, set by the first one: results of one
    /// experiment all have the same, and merging counts over different clusters traps.
    private var shape: Shape?

    init(number: Int, policyVersion: UInt64, input: WireMessage.RoundInput? = nil, walks: [Range<UInt64>]) {
        self.number = number
        self.policyVersion = policyVersion
        self.input = input
        self.walks = walks
        batches = Array(repeating: .queued, count: walks.count)
        results = Array(repeating: nil, count: walks.count)
        queue = BatchQueue(count: walks.count)
    }

    var queuedCount: Int { walks.count - doneCount - leasedCount }
    var isComplete: Bool { doneCount == walks.count }

    /// The id on the wire: the round in the high 32 bits, the batch index in the low.
    func batchID(_ index: Int) -> UInt64 { UInt64(number) << 32 | UInt64(index) }

    func lease(_ index: Int, jobID: UInt64) -> WireMessage.TaskLease {
        .init(
            jobID: jobID, batchID: batchID(index), walks: walks[index], round: UInt64(number), policyVersion: policyVersion,
            input: input)
    }

    /// The lowest queued batch, now leased to `peer`.
    mutating func leaseNext(to peer: PeerID) -> Int? {
        // Entries for batches done while queued are stale: skip them.
        while let index = queue.popMin() {
            if batches[index] == .queued {
                batches[index] = .leased(peer)
                leasedCount += 1
                return index
            }
        }
        return nil
    }

    /// Back into the queue, in index order with the rest.
    mutating func requeue(_ index: Int) {
        guard case .leased = batches[index] else { return }
        batches[index] = .queued
        leasedCount -= 1
        queue.push(index)
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
        mergeBudget += result.steps + walkCount(index) // cannot overflow: checked by `problem`
        shape = shape ?? Shape(result)
        return holder
    }

    private func walkCount(_ index: Int) -> UInt64 { walks[index].upperBound - walks[index].lowerBound }

    /// Why `result` cannot be batch `index`'s, or nil when it can.
    ///
    /// Beyond the counts, the checks bound every sum: each walk's hard steps are at most its
    /// steps and its clusters visited at most its steps + 1, and Σt² ≤ max·Σt for any sample.
    /// With Σ (steps + walks) of the round below 2^64, every count and Σt of the merged
    /// round is below 2^64 and every Σt² below 2^128, so merging the round cannot trap.
    ///
    /// A batch of an algorithm round (`input` set) need not walk its items: its walks are
    /// whatever its hitting times count, and its steps may include other sampling (the
    /// round's validator checks the rest).
    func problem(with result: WireMessage.BatchResult, at index: Int) -> String? {
        let id = "batch \(batchID(index))"
        let n = input == nil ? walkCount(index) : result.hittingTime.count
        let steps = UInt128(result.steps)
        if let problem = Self.problem(result.hittingTime, "hitting_time", walks: n, sumAtMost: steps) {
            return "\(id): \(problem)"
        }
        guard result.hittingTime.sum == steps || input != nil else {
            return "\(id): steps \(result.steps), but the hitting times add up to \(result.hittingTime.sum)"
        }
        if let hard = result.hardSteps,
           let problem = Self.problem(hard, "hard_steps", walks: n, sumAtMost: steps) {
            return "\(id): \(problem)"
        }
        if let visited = result.clustersVisited,
           let problem = Self.problem(visited, "clusters_visited", walks: n, sumAtMost: steps + UInt128(n)) {
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
        let (withSteps, overflow1) = mergeBudget.addingReportingOverflow(result.steps)
        let (_, overflow2) = withSteps.addingReportingOverflow(n)
        guard !overflow1, !overflow2 else {
            return "\(id): the round's results would add up to 2^64 steps or more"
        }
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
        let queued = Set(queue.entries)
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

        /// All of `0..<count`: sorted, so already a heap.
        init(count: Int) {
            entries = Array(0..<count)
        }

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
