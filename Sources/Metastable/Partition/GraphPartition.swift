/// Which shard holds each cluster's rows: whole clusters, so that every easy step stays on
/// its shard and only sparse edges cross, balanced by stored edges (records).
///
/// Greedy largest-first: clusters by decreasing edges (ties by index) each go to the shard
/// with the fewest edges so far (ties by shard index), so every machine computes the same
/// partition from the same chain.
public struct GraphPartition: Sendable, Equatable {
    public static let maxShards = 1 << 16

    public let shardCount: Int
    /// The shard of each cluster.
    public let shardOfCluster: [UInt32]
    /// Alias records (stored edges, plus one per uniform part) each shard holds.
    public let edges: [Int]
    private let labels: [UInt32]

    public init(_ chain: Chain, shards: Int) throws(WalkError) {
        guard let clusters = chain.clusters else {
            throw WalkError(.noClusterLabels, "a partitioned graph is split by cluster, and the chain has no cluster labels")
        }
        var perCluster = [Int](repeating: 0, count: clusters.clusterCount)
        for x in 0..<chain.stateCount {
            let records = chain.rowOffsets[x + 1] - chain.rowOffsets[x] + (chain.uniformMass(of: x) > 0 ? 1 : 0)
            perCluster[Int(clusters.labels[x])] += records
        }
        try self.init(clusters, recordsPerCluster: perCluster, shards: shards)
    }

    /// The partition of a chain whose clusters hold `recordsPerCluster` alias records each
    /// (`ChainFile.loadRows` counts them without holding the rows).
    public init(_ clusters: ClusterLabels, recordsPerCluster perCluster: [Int], shards: Int) throws(WalkError) {
        guard perCluster.count == clusters.clusterCount else {
            throw WalkError(.mismatch, "\(perCluster.count) record counts for \(clusters.clusterCount) clusters")
        }
        guard (1...Self.maxShards).contains(shards), shards <= clusters.clusterCount else {
            throw WalkError(
                .badArgument, "\(shards) shards for \(clusters.clusterCount) clusters: each shard needs at least one cluster")
        }
        let order = perCluster.indices.sorted { (perCluster[$0], $1) > (perCluster[$1], $0) }
        var shardOf = [UInt32](repeating: 0, count: clusters.clusterCount)
        var load = [Int](repeating: 0, count: shards)
        for k in order {
            let s = load.indices.min { (load[$0], $0) < (load[$1], $1) }!
            shardOf[k] = UInt32(s)
            load[s] += perCluster[k]
        }
        shardCount = shards
        shardOfCluster = shardOf
        edges = load
        labels = clusters.labels
    }

    public var stateCount: Int { labels.count }

    /// The shard holding state `x`'s row; `x` must be a state of the chain.
    public func shard(ofState x: Int) -> Int { Int(shardOfCluster[Int(labels[x])]) }

    /// One flag per cluster: held by `shard`.
    public func clustersHeld(by shard: Int) -> [Bool] { shardOfCluster.map { Int($0) == shard } }

    /// One bit per state, as a `TargetSet`'s: set for the states other shards hold.
    public func foreignStates(of shard: Int) -> [UInt64] {
        var bits = [UInt64](repeating: 0, count: (labels.count + 63) / 64)
        for x in labels.indices where Int(shardOfCluster[Int(labels[x])]) != shard { bits[x >> 6] |= 1 << UInt64(x & 63) }
        return bits
    }
}
