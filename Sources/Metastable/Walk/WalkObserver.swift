import CMetastableSupport

/// Statistics a batch of walks produces beyond hitting times. Integer counts only, so
/// merging is exact and batch order cannot change a result.
public protocol WalkStatistics: Sendable, Equatable {
    mutating func merge(_ other: Self)
}

/// Per-step work the kernel does for an observer, as a generic parameter: the kernel is
/// specialised for each observer, and an observer that does nothing per step costs
/// nothing.
///
/// The kernel runs `walkers` walks at a time in slots `0..<walkers`. An observer keeps
/// per-slot state in raw memory it owns, and its batch totals.
public protocol WalkObserver: SendableMetatype {
    associatedtype Statistics: WalkStatistics

    /// An observer for one batch on one thread, with room for `walkers` concurrent walks.
    init(graph: WalkGraph, walkers: Int) throws(WalkError)
    /// A walk starts in slot `walker` at `state`.
    mutating func begin(walker: Int, at state: UInt32)
    /// A hint, called when some walk is about to move to `state`: prefetch what `step`
    /// will read about it.
    func prefetch(_ state: UInt32)
    /// The walk in slot `walker` moved to `state` (called a pass after `prefetch`).
    mutating func step(walker: Int, to state: UInt32)
    /// The walk in slot `walker` ends after `steps` steps, at the cap if `censored`.
    mutating func end(walker: Int, steps: UInt64, censored: Bool)
    /// The walk in slot `from` continues in slot `to`, whose walk has ended.
    mutating func move(walker from: Int, to: Int)
    /// The totals of every walk that ended.
    func statistics() -> Statistics

    /// The walk in slot `walker` leaves for another shard: append what `resume` needs to
    /// go on with it there. Its totals so far stay in this observer's statistics.
    mutating func export(walker: Int, into words: inout [UInt64])
    /// A walk that left another shard at `state` continues in slot `walker`, with the
    /// words `export` wrote, which `problem(resuming:at:)` has accepted.
    mutating func resume(walker: Int, at state: UInt32, words: UnsafeBufferPointer<UInt64>)
    /// Why `words` cannot be the exported state of a walk at `state` that has taken
    /// `steps` steps, or nil when they can.
    func problem(resuming words: ArraySlice<UInt64>, at state: UInt32, steps: UInt64) -> String?
}

/// Nothing beyond the hitting times the kernel always records.
@frozen
public struct NoStatistics: WalkStatistics {
    @inlinable public init() {}
    @inlinable public mutating func merge(_ other: NoStatistics) {}
}

/// Hitting times only: no per-step work.
@frozen
public struct HittingTimeObserver: WalkObserver {
    @inlinable public init(graph: WalkGraph, walkers: Int) {}
    @inlinable @inline(__always) public mutating func begin(walker: Int, at state: UInt32) {}
    @inlinable @inline(__always) public func prefetch(_ state: UInt32) {}
    @inlinable @inline(__always) public mutating func step(walker: Int, to state: UInt32) {}
    @inlinable @inline(__always) public mutating func end(walker: Int, steps: UInt64, censored: Bool) {}
    @inlinable @inline(__always) public mutating func move(walker from: Int, to: Int) {}
    @inlinable public func statistics() -> NoStatistics { NoStatistics() }
    @inlinable public mutating func export(walker: Int, into words: inout [UInt64]) {}
    @inlinable public mutating func resume(walker: Int, at state: UInt32, words: UnsafeBufferPointer<UInt64>) {}
    public func problem(resuming words: ArraySlice<UInt64>, at state: UInt32, steps: UInt64) -> String? {
        words.isEmpty ? nil : "a walk that only records its hitting time carries no observer words, got \(words.count)"
    }
}

/// What the cluster observer saw in a batch.
public struct ClusterStatistics: WalkStatistics {
    /// Per walk, the hard steps: steps whose target lies in another cluster.
    public var hardSteps: IntegerSampleAccumulator
    /// Per walk, the distinct clusters visited, the start's and the last state's included.
    public var clustersVisited: IntegerSampleAccumulator
    /// Steps taken from each cluster, and steps from each cluster into each other one.
    public var transitions: TransitionCounts

    public init(hardSteps: IntegerSampleAccumulator, clustersVisited: IntegerSampleAccumulator, transitions: TransitionCounts) {
        self.hardSteps = hardSteps
        self.clustersVisited = clustersVisited
        self.transitions = transitions
    }

    public mutating func merge(_ other: ClusterStatistics) {
        hardSteps.merge(other.hardSteps)
        clustersVisited.merge(other.clustersVisited)
        transitions.merge(other.transitions)
    }
}

/// Compares cluster labels at every step: hard steps and distinct clusters per walk,
/// steps per cluster and cluster-to-cluster transition counts per batch. Censored walks
/// count with what they did before the cap (recorded as censored samples).
///
/// Per step it loads the new state's label (prefetched a pass earlier) and bumps a
/// per-slot counter; everything else happens on a cluster change, rare by construction. Distinct clusters are
/// counted with epoch stamps, one row of `clusterCount` stamps per walker slot (slots walk
/// concurrently, so they cannot share a row): stamp == epoch means "seen by this walk",
/// and a new walk bumps the row's epoch instead of clearing it.
@frozen
public struct ClusterObserver: WalkObserver {
    @usableFromInline let labels: UnsafePointer<UInt32>
    @usableFromInline let pairOffsets: UnsafePointer<UInt32>
    @usableFromInline let pairTargets: UnsafePointer<UInt32>
    @usableFromInline let clusterCount: Int
    /// Per slot: the walk's current cluster, steps not yet added to `stepsIn`, hard steps,
    /// distinct clusters, and which stamp row it uses.
    @usableFromInline let current: UnsafeMutablePointer<UInt32>
    @usableFromInline let pending: UnsafeMutablePointer<UInt64>
    @usableFromInline let hard: UnsafeMutablePointer<UInt64>
    @usableFromInline let visited: UnsafeMutablePointer<UInt64>
    @usableFromInline let row: UnsafeMutablePointer<Int>
    /// Per stamp row: its current epoch; then `walkers × clusterCount` stamps.
    @usableFromInline let epoch: UnsafeMutablePointer<UInt32>
    @usableFromInline let stamps: UnsafeMutablePointer<UInt32>
    /// Batch totals: steps from each cluster, and per entry of `graph.clusterPairs`.
    @usableFromInline let stepsIn: UnsafeMutablePointer<UInt64>
    @usableFromInline let pairCounts: UnsafeMutablePointer<UInt64>
    @usableFromInline var hardSteps = IntegerSampleAccumulator()
    @usableFromInline var clustersVisited = IntegerSampleAccumulator()
    @usableFromInline let pairs: [(from: UInt32, to: UInt32)]
    /// Owns the memory behind the pointers.
    @usableFromInline let storage: [AnyObject]

    public init(graph: WalkGraph, walkers: Int) throws(WalkError) {
        let view = graph.view
        guard let clusters = graph.clusters, let labels = view.labels, let pairOffsets = view.pairOffsets,
            let pairTargets = view.pairTargets
        else {
            throw WalkError(.noClusterLabels, "the cluster observer needs cluster labels, and the chain has none")
        }
        let k = clusters.clusterCount
        let perSlot32 = try AlignedBuffer<UInt32>(repeating: 0, count: 2 * walkers + walkers * k, hugePages: false)
        let perSlot64 = try AlignedBuffer<UInt64>(repeating: 0, count: 3 * walkers, hugePages: false)
        let rows = try AlignedBuffer<Int>((0..<walkers).map { $0 }, hugePages: false)
        let totals = try AlignedBuffer<UInt64>(repeating: 0, count: k + graph.clusterPairs.count, hugePages: false)
        self.labels = labels
        self.pairOffsets = pairOffsets
        self.pairTargets = pairTargets
        clusterCount = k
        current = perSlot32.base
        epoch = perSlot32.base + walkers
        stamps = perSlot32.base + 2 * walkers
        pending = perSlot64.base
        hard = perSlot64.base + walkers
        visited = perSlot64.base + 2 * walkers
        row = rows.base
        stepsIn = totals.base
        pairCounts = totals.base + k
        pairs = graph.clusterPairs
        storage = [perSlot32, perSlot64, rows, totals]
    }

    @inlinable
    public mutating func begin(walker w: Int, at state: UInt32) {
        let c = labels[Int(state)]
        current[w] = c
        pending[w] = 0
        hard[w] = 0
        visited[w] = 1
        let r = row[w]
        epoch[r] &+= 1
        if epoch[r] == 0 { // wrapped after 2^32 walks: clear the row once
            (stamps + r * clusterCount).update(repeating: 0, count: clusterCount)
            epoch[r] = 1
        }
        stamps[r * clusterCount + Int(c)] = epoch[r]
    }

    @inlinable @inline(__always)
    public func prefetch(_ state: UInt32) { ms_prefetch(labels + Int(state)) }

    @inlinable @inline(__always)
    public mutating func step(walker w: Int, to state: UInt32) {
        pending[w] &+= 1
        let l = labels[Int(state)]
        if l != current[w] { crossed(walker: w, into: l) }
    }

    /// A hard step of the walk in slot `w` into cluster `l`.
    @inlinable @inline(never)
    mutating func crossed(walker w: Int, into l: UInt32) {
        let k = current[w]
        stepsIn[Int(k)] &+= pending[w]
        pending[w] = 0
        current[w] = l
        hard[w] &+= 1
        // The pair exists: the step used a stored edge from k into l.
        var lo = Int(pairOffsets[Int(k)]), hi = Int(pairOffsets[Int(k) &+ 1])
        while lo < hi {
            let mid = (lo &+ hi) &>> 1
            if pairTargets[mid] < l { lo = mid &+ 1 } else { hi = mid }
        }
        pairCounts[lo] &+= 1
        let r = row[w]
        let stamp = stamps + (r &* clusterCount &+ Int(l))
        if stamp.pointee != epoch[r] {
            stamp.pointee = epoch[r]
            visited[w] &+= 1
        }
    }

    @inlinable
    public mutating func end(walker w: Int, steps: UInt64, censored: Bool) {
        stepsIn[Int(current[w])] &+= pending[w]
        if censored {
            hardSteps.recordCensored(hard[w])
            clustersVisited.recordCensored(visited[w])
        } else {
            hardSteps.record(hard[w])
            clustersVisited.record(visited[w])
        }
    }

    @inlinable
    public mutating func move(walker from: Int, to: Int) {
        current[to] = current[from]
        pending[to] = pending[from]
        hard[to] = hard[from]
        visited[to] = visited[from]
        (row[to], row[from]) = (row[from], row[to])
    }

    /// `[cluster, hard steps, clusters visited, the visited clusters]`: a scan of the
    /// slot's stamp row, once per migration. Steps not yet added to `stepsIn` are added
    /// here, so that each shard's counts are of the steps taken on it.
    public mutating func export(walker w: Int, into words: inout [UInt64]) {
        stepsIn[Int(current[w])] &+= pending[w]
        pending[w] = 0
        words.append(contentsOf: [UInt64(current[w]), hard[w], visited[w]])
        let r = row[w]
        for k in 0..<clusterCount where stamps[r * clusterCount + k] == epoch[r] { words.append(UInt64(k)) }
    }

    public mutating func resume(walker w: Int, at state: UInt32, words: UnsafeBufferPointer<UInt64>) {
        begin(walker: w, at: state)
        hard[w] = words[1]
        visited[w] = words[2]
        let r = row[w]
        for k in words[3...] { stamps[r * clusterCount + Int(k)] = epoch[r] }
    }

    public func problem(resuming words: ArraySlice<UInt64>, at state: UInt32, steps: UInt64) -> String? {
        Self.problem(resuming: words, label: UInt64(labels[Int(state)]), clusterCount: clusterCount, steps: steps)
    }

    /// `problem(resuming:at:steps:)` for a state in cluster `label` of `clusterCount`, with
    /// no observer at hand (a coordinator checking departures).
    public static func problem(resuming words: ArraySlice<UInt64>, label: UInt64, clusterCount: Int, steps: UInt64) -> String? {
        guard words.count >= 3 else { return "cluster observer words: \(words.count), at least 3 needed" }
        let w = Array(words)
        guard w[0] == label else { return "the walk's cluster \(w[0]) is not its state's cluster \(label)" }
        guard w[2] >= 1, w[2] == UInt64(w.count - 3) else {
            return "the walk visited \(w[2]) clusters but lists \(w.count - 3)"
        }
        let listed = w[3...]
        guard listed.allSatisfy({ $0 < UInt64(clusterCount) }) else {
            return "a visited cluster is not below the chain's \(clusterCount)"
        }
        guard zip(listed, listed.dropFirst()).allSatisfy({ $0 < $1 }), listed.contains(label) else {
            return "the visited clusters are not increasing or leave out the current one"
        }
        guard w[1] >= w[2] - 1 else { return "\(w[2]) clusters visited with only \(w[1]) hard steps" }
        guard w[1] <= steps else { return "hard steps \(w[1]) exceed the walk's \(steps) steps" }
        return nil
    }

    public func statistics() -> ClusterStatistics {
        var transitions = TransitionCounts(clusterCount: clusterCount)
        var exits = [UInt64](repeating: 0, count: clusterCount)
        for (i, p) in pairs.enumerated() where pairCounts[i] > 0 {
            transitions.record(from: Int(p.from), to: Int(p.to), count: pairCounts[i])
            exits[Int(p.from)] += pairCounts[i]
        }
        for k in 0..<clusterCount {
            transitions.record(from: k, to: k, count: stepsIn[k] - exits[k])
        }
        return ClusterStatistics(hardSteps: hardSteps, clustersVisited: clustersVisited, transitions: transitions)
    }
}
