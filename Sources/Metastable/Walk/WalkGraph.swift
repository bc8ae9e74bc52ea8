/// The sampling form of a `Chain`, built once and shared read-only by every walker.
///
/// Row x is `degree(x)` alias records starting at `offsets[x]`; a step costs one 64-bit
/// draw, one offset pair and one 16-byte record. An implicit uniform part of a row is one
/// record outcome, "uniform over my cluster", resolved with a second draw, so the
/// `uniform` kernel costs one record per state instead of M.
///
/// All arrays come from `ms_aligned_alloc` (huge pages for big graphs) and live as long
/// as the graph. Kernels work on `view`, a struct of raw pointers.
public final class WalkGraph: @unchecked Sendable {
    // @unchecked: the buffers are written in init only, then shared read-only.

    /// How implicit uniform parts are resolved: there are none, the clusters are ranges
    /// of consecutive ids (pick = first + u), or the cluster's member list is needed.
    @usableFromInline
    enum UniformLayout: Sendable {
        case none, contiguous, members
    }

    public let stateCount: Int
    /// The number of alias records: explicit entries plus one per implicit uniform part.
    public let recordCount: Int
    public let clusters: ClusterLabels?
    /// Cluster pairs (k, l), k ≠ l, joined by at least one stored edge, sorted: the only
    /// cluster changes a walk can make.
    public let clusterPairs: [(from: UInt32, to: UInt32)]

    @usableFromInline let view: WalkGraphView
    @usableFromInline let uniformLayout: UniformLayout

    private let offsets: AlignedBuffer<UInt64>
    private let records: AlignedBuffer<AliasRecord>
    private let labels: AlignedBuffer<UInt32>?
    private let memberOffsets: AlignedBuffer<UInt32>?
    private let members: AlignedBuffer<UInt32>?
    private let pairOffsets: AlignedBuffer<UInt32>?
    private let pairTargets: AlignedBuffer<UInt32>?

    /// - Parameter hugePages: ask for transparent huge pages for arrays of 2 MiB or more
    ///   (×1.2 to ×1.8 out of cache on a VM, where TLB misses are expensive).
    ///   - rowsOf: on a shard of a partitioned graph, which clusters' rows to hold (one flag
    ///     per cluster); the other rows are left empty, and walks never draw from them.
    public init(_ chain: Chain, hugePages: Bool = true, rowsOf clustersHeld: [Bool]? = nil) throws(WalkError) {
        let n = chain.stateCount
        let hasUniform = !chain.uniformMass.isEmpty
        stateCount = n
        clusters = chain.clusters
        let held: (Int) -> Bool
        if let clustersHeld {
            guard let labels = chain.clusters?.labels, clustersHeld.count == chain.clusters?.clusterCount else {
                throw WalkError(.mismatch, "a shard's clusters were given for a chain with other clusters, or none")
            }
            held = { clustersHeld[Int(labels[$0])] }
            recordCount = (0..<n).reduce(0) { sum, x in
                held(x) ? sum + chain.rowOffsets[x + 1] - chain.rowOffsets[x] + (chain.uniformMass(of: x) > 0 ? 1 : 0) : sum
            }
        } else {
            held = { _ in true }
            recordCount = chain.entryCount + (hasUniform ? chain.uniformMass.lazy.filter { $0 > 0 }.count : 0)
        }

        offsets = try AlignedBuffer(uninitializedCount: n + 1, hugePages: hugePages)
        records = try AlignedBuffer(uninitializedCount: recordCount, hugePages: hugePages)
        var builder = AliasTableBuilder()
        var outcomes = [UInt32](), probabilities = [Double]()
        let labelOf = chain.clusters?.labels ?? [] // a uniform part implies labels (Chain checks it)
        var next: UInt64 = 0
        for x in 0..<n {
            offsets.base[x] = next
            guard held(x) else { continue }
            outcomes.removeAll(keepingCapacity: true)
            probabilities.removeAll(keepingCapacity: true)
            for e in chain.entries(of: x) {
                outcomes.append(chain.columns[e])
                probabilities.append(chain.probabilities[e])
            }
            let u = chain.uniformMass(of: x)
            if u > 0 {
                outcomes.append(AliasRecord.uniformBit | labelOf[x])
                probabilities.append(u)
            }
            builder.build(outcomes: outcomes, probabilities: probabilities, into: records.base + Int(next))
            next += UInt64(outcomes.count)
        }
        offsets.base[n] = next

        let sortedPairs = chain.clusters.map { Self.crossingPairs(chain, $0) } ?? []
        clusterPairs = sortedPairs
        if let clusters = chain.clusters {
            labels = try AlignedBuffer(clusters.labels, hugePages: hugePages)
            var starts = [UInt32](repeating: 0, count: clusters.clusterCount + 1)
            for p in sortedPairs { starts[Int(p.from) + 1] += 1 }
            for k in 0..<clusters.clusterCount { starts[k + 1] += starts[k] }
            pairOffsets = try AlignedBuffer(starts, hugePages: hugePages)
            pairTargets = try AlignedBuffer(sortedPairs.map(\.to), hugePages: hugePages)
        } else {
            labels = nil
            pairOffsets = nil
            pairTargets = nil
        }
        if hasUniform, let clusters = chain.clusters {
            memberOffsets = try AlignedBuffer(clusters.memberOffsets.map { UInt32($0) }, hugePages: hugePages)
            let contiguous = clusters.members.enumerated().allSatisfy { $0.offset == Int($0.element) }
            uniformLayout = contiguous ? .contiguous : .members
            members = contiguous ? nil : try AlignedBuffer(clusters.members, hugePages: hugePages)
        } else {
            memberOffsets = nil
            members = nil
            uniformLayout = .none
        }
        view = WalkGraphView(
            offsets: offsets.base, records: records.base, labels: labels?.base,
            memberOffsets: memberOffsets?.base, members: members?.base,
            pairOffsets: pairOffsets?.base, pairTargets: pairTargets?.base)
    }

    /// The sorted distinct (k, l), k ≠ l, of stored edges from cluster k into cluster l.
    /// A pass of its own: with nothing else in the loop, the CPU overlaps the label
    /// lookups, which miss the cache on big graphs (×10 faster than inside the build loop).
    private static func crossingPairs(_ chain: Chain, _ clusters: ClusterLabels) -> [(from: UInt32, to: UInt32)] {
        var pairs = Set<UInt64>()
        clusters.labels.withUnsafeBufferPointer { labels in
            chain.columns.withUnsafeBufferPointer { columns in
                for x in 0..<chain.stateCount {
                    let k = labels[x]
                    for e in chain.rowOffsets[x]..<chain.rowOffsets[x + 1] where labels[Int(columns[e])] != k {
                        pairs.insert(UInt64(k) << 32 | UInt64(labels[Int(columns[e])]))
                    }
                }
            }
        }
        return pairs.sorted().map { (from: UInt32($0 >> 32), to: UInt32(truncatingIfNeeded: $0)) }
    }

    /// Bytes of sampling data: offsets, records, labels and member lists.
    public var bytes: Int {
        [offsets.bytes, records.bytes, labels?.bytes ?? 0, memberOffsets?.bytes ?? 0, members?.bytes ?? 0,
         pairOffsets?.bytes ?? 0, pairTargets?.bytes ?? 0].reduce(0, +)
    }

    /// The alias records of row `x`.
    func records(of x: Int) -> UnsafeBufferPointer<AliasRecord> {
        let lo = Int(offsets.base[x]), hi = Int(offsets.base[x + 1])
        return UnsafeBufferPointer(start: records.base + lo, count: hi - lo)
    }

    /// p(x, y) for every y the records of row `x` can reach, read back from the records
    /// with uniform outcomes spread over their cluster: what the sampler really does.
    func transitionProbabilities(from x: Int) -> [Int: Double] {
        var result = [Int: Double]()
        for (outcome, p) in aliasProbabilities(records(of: x)) {
            if outcome & AliasRecord.uniformBit == 0 {
                result[Int(outcome), default: 0] += p
            } else if let clusters {
                let members = clusters.members(of: Int(outcome & ~AliasRecord.uniformBit))
                for y in members { result[Int(y), default: 0] += p / Double(members.count) }
            }
        }
        return result
    }
}

/// The raw pointers of a `WalkGraph`, for kernels: trivially copyable, no reference
/// counting, no bounds or exclusivity checks. Valid while the graph is alive.
@frozen @usableFromInline
struct WalkGraphView {
    /// `stateCount + 1` offsets into `records`.
    @usableFromInline let offsets: UnsafePointer<UInt64>
    @usableFromInline let records: UnsafePointer<AliasRecord>
    /// The cluster of each state, when the chain has labels.
    @usableFromInline let labels: UnsafePointer<UInt32>?
    /// `clusterCount + 1` offsets into `members`, when some row has a uniform part.
    @usableFromInline let memberOffsets: UnsafePointer<UInt32>?
    /// The states of each cluster, when clusters are not ranges of consecutive ids.
    @usableFromInline let members: UnsafePointer<UInt32>?
    /// CSR over k of the clusters l ≠ k that k has an edge into (`clusterPairs`).
    @usableFromInline let pairOffsets: UnsafePointer<UInt32>?
    @usableFromInline let pairTargets: UnsafePointer<UInt32>?

    @usableFromInline
    init(
        offsets: UnsafePointer<UInt64>, records: UnsafePointer<AliasRecord>, labels: UnsafePointer<UInt32>?,
        memberOffsets: UnsafePointer<UInt32>?, members: UnsafePointer<UInt32>?,
        pairOffsets: UnsafePointer<UInt32>?, pairTargets: UnsafePointer<UInt32>?
    ) {
        self.offsets = offsets
        self.records = records
        self.labels = labels
        self.memberOffsets = memberOffsets
        self.members = members
        self.pairOffsets = pairOffsets
        self.pairTargets = pairTargets
    }

    /// The first half of a step from `x` with the 64-bit draw `r`: which record, and the
    /// coin for its `select(coin:)`.
    @inlinable @inline(__always)
    func draw(from x: UInt32, _ r: UInt64) -> (record: Int, coin: UInt64) {
        let first = offsets[Int(x)]
        let (slot, coin) = aliasSlot(r, degree: offsets[Int(x) &+ 1] &- first)
        return (Int(truncatingIfNeeded: first &+ slot), coin)
    }
}
