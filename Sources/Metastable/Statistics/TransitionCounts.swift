/// How often walks stepped from one cluster to another: the data for estimating the
/// meta-chain q(k, l), the probability that one step from cluster k lands in cluster l.
///
/// Every step from a state in cluster k counts in `steps(in: k)`; a step that lands in
/// another cluster l also counts in `count(from: k, to: l)`. Steps that stay are not
/// stored: they are the steps in k minus its exits. All counts are integers, so merging is
/// exact, associative and commutative.
public struct TransitionCounts: Sendable, Equatable {
    /// Steps taken from each cluster.
    private var stepsIn: [UInt64]
    /// Steps from k to l ≠ k, keyed by `k << 32 | l`; no zero entries, so that equal
    /// counts are `==`.
    private var transitions: [UInt64: UInt64] = [:]

    public init(clusterCount: Int) {
        precondition(clusterCount >= 0 && clusterCount <= 1 << 32, "cluster count \(clusterCount) out of range")
        stepsIn = [UInt64](repeating: 0, count: clusterCount)
    }

    /// Rebuilds counts from the steps taken in each cluster (one entry per cluster) and the
    /// steps between clusters as `interClusterCounts` lists them, or nil unless every pair
    /// has k ≠ l below the cluster count, count > 0 and comes in increasing (k, l) order, and
    /// no cluster has more exits than steps.
    package init?(stepsIn: [UInt64], interClusterCounts: some Sequence<(from: Int, to: Int, count: UInt64)>) {
        guard stepsIn.count <= 1 << 32 else { return nil }
        self.init(clusterCount: 0)
        self.stepsIn = stepsIn
        var exits = [UInt64](repeating: 0, count: clusterCount)
        var previous: UInt64?
        for (k, l, count) in interClusterCounts {
            guard k >= 0, k < clusterCount, l >= 0, l < clusterCount, k != l, count > 0,
                  previous.map({ $0 < Self.key(k, l) }) ?? true
            else { return nil }
            // Checked as they add up, so that no sum can overflow.
            let (sum, overflow) = exits[k].addingReportingOverflow(count)
            guard !overflow, sum <= stepsIn[k] else { return nil }
            exits[k] = sum
            transitions[Self.key(k, l)] = count
            previous = Self.key(k, l)
        }
    }

    public var clusterCount: Int { stepsIn.count }

    /// The steps between different clusters, (k, l, count) with count > 0, in increasing
    /// (k, l) order.
    package var interClusterCounts: [(from: Int, to: Int, count: UInt64)] {
        transitions.sorted { $0.key < $1.key }.map {
            let (k, l) = Self.clusters($0.key)
            return (k, l, $0.value)
        }
    }

    /// Records `count` steps from cluster `k` to cluster `l`; `k == l` for steps that stay.
    ///
    /// Walks spend long stretches inside one cluster: record those stays in bulk, with
    /// one call per stretch, rather than one per step.
    public mutating func record(from k: Int, to l: Int, count: UInt64 = 1) {
        precondition(k >= 0 && k < clusterCount && l >= 0 && l < clusterCount, "clusters \(k), \(l) not in 0..<\(clusterCount)")
        stepsIn[k] += count
        if k != l, count > 0 { transitions[Self.key(k, l), default: 0] += count }
    }

    /// Adds `other`'s counts to these. Both must have the same number of clusters.
    public mutating func merge(_ other: TransitionCounts) {
        precondition(clusterCount == other.clusterCount, "merging counts over \(clusterCount) and \(other.clusterCount) clusters")
        for k in stepsIn.indices { stepsIn[k] += other.stepsIn[k] }
        transitions.merge(other.transitions, uniquingKeysWith: +)
    }

    /// Steps taken from cluster `k`, whether they stayed or not.
    public func steps(in k: Int) -> UInt64 { stepsIn[k] }

    /// Steps from cluster `k` to cluster `l`; for `k == l`, the steps that stayed in `k`.
    public func count(from k: Int, to l: Int) -> UInt64 {
        precondition(k >= 0 && k < clusterCount && l >= 0 && l < clusterCount, "clusters \(k), \(l) not in 0..<\(clusterCount)")
        return k == l ? stepsIn[k] - exits(from: k) : transitions[Self.key(k, l)] ?? 0
    }

    /// Steps from cluster `k` into another cluster.
    public func exits(from k: Int) -> UInt64 {
        row(k).reduce(0) { $0 + $1.count }
    }

    /// Where walks go when they leave cluster `k`: each destination with the fraction of
    /// exits that went there, in increasing cluster order. Empty when none left `k`.
    public func escapeDistribution(from k: Int) -> [(Int, Double)] {
        let row = row(k)
        let exits = Double(row.reduce(0) { $0 + $1.count })
        return row.map { ($0.to, Double($0.count) / exits) }
    }

    /// The estimate of q(k, l): `count(from: k, to: l) / steps(in: k)`, so each row sums
    /// to 1. A row is nil when no step was taken from its cluster. Dense: allocates
    /// `clusterCount²` values.
    public func metaTransitionMatrixEstimate() -> [[Double]?] {
        var matrix: [[Double]?] = stepsIn.map { $0 > 0 ? [Double](repeating: 0, count: clusterCount) : nil }
        var exits = [UInt64](repeating: 0, count: clusterCount)
        for (key, count) in transitions {
            let (k, l) = Self.clusters(key)
            matrix[k]![l] = Double(count) / Double(stepsIn[k]) // a transition implies steps
            exits[k] += count
        }
        for k in stepsIn.indices where stepsIn[k] > 0 {
            matrix[k]![k] = Double(stepsIn[k] - exits[k]) / Double(stepsIn[k])
        }
        return matrix
    }

    /// The exits from `k`, in increasing order of destination.
    private func row(_ k: Int) -> [(to: Int, count: UInt64)] {
        precondition(k >= 0 && k < clusterCount, "cluster \(k) not in 0..<\(clusterCount)")
        let first = Self.key(k, 0), last = Self.key(k, clusterCount - 1)
        return transitions.filter { $0.key >= first && $0.key <= last }
            .sorted { $0.key < $1.key }
            .map { (Self.clusters($0.key).1, $0.value) }
    }

    private static func key(_ k: Int, _ l: Int) -> UInt64 { UInt64(k) << 32 | UInt64(l) }
    private static func clusters(_ key: UInt64) -> (Int, Int) { (Int(key >> 32), Int(key & 0xFFFF_FFFF)) }
}

extension TransitionCounts: Codable {
    private enum CodingKeys: String, CodingKey {
        case stepsIn, transitions
    }

    /// Transitions are `[k, l, count]` triples in increasing (k, l) order: a dictionary
    /// would encode in hash order, which changes from one process to the next.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let stepsIn = try container.decode([UInt64].self, forKey: .stepsIn)
        var triples = try container.nestedUnkeyedContainer(forKey: .transitions)
        var counts = [(from: Int, to: Int, count: UInt64)]()
        while !triples.isAtEnd {
            var triple = try triples.nestedUnkeyedContainer()
            counts.append((try triple.decode(Int.self), try triple.decode(Int.self), try triple.decode(UInt64.self)))
            guard triple.isAtEnd else {
                throw DecodingError.dataCorruptedError(in: triple, debugDescription: "expected [k, l, count]")
            }
        }
        guard let decoded = TransitionCounts(stepsIn: stepsIn, interClusterCounts: counts) else {
            throw DecodingError.dataCorruptedError(
                forKey: .transitions, in: container,
                debugDescription: "expected [k, l, count] with k ≠ l below \(stepsIn.count), count > 0, increasing (k, l), "
                    + "and no more exits from a cluster than steps in it")
        }
        self = decoded
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(stepsIn, forKey: .stepsIn)
        var triples = container.nestedUnkeyedContainer(forKey: .transitions)
        for (k, l, count) in interClusterCounts {
            try triples.encode([UInt64(k), UInt64(l), count])
        }
    }
}
