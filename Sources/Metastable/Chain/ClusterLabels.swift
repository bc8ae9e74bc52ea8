/// A partition of the states into clusters `0..<clusterCount`.
///
/// Keeps both directions: the label of each state, and the states of each cluster in
/// increasing order (CSR layout), so that "all states of cluster k" costs no search.
public struct ClusterLabels: Sendable, Equatable {
    /// The cluster of each state.
    public let labels: [UInt32]
    public let clusterCount: Int
    /// `clusterCount + 1` offsets into `members`.
    public let memberOffsets: [Int]
    /// All states, grouped by cluster, increasing inside each cluster.
    public let members: [UInt32]

    /// Builds the partition from one label per state. Labels must be `0..<clusterCount`
    /// and every cluster must be non-empty.
    public init(labels: [UInt32]) throws(ChainError) {
        guard let largest = labels.max() else { throw ChainError(.empty, "no cluster labels") }
        // Every cluster must be non-empty, so there are at most as many clusters as states.
        guard Int(largest) < labels.count else {
            throw ChainError(.badLabel, "label \(largest) leaves clusters empty: labels must be 0..<K with K <= \(labels.count) states")
        }
        let clusterCount = Int(largest) + 1
        var counts = [Int](repeating: 0, count: clusterCount + 1)
        for l in labels { counts[Int(l) + 1] += 1 }
        if let empty = (0..<clusterCount).first(where: { counts[$0 + 1] == 0 }) {
            throw ChainError(.badLabel, "cluster \(empty) has no states: labels must be 0..<\(clusterCount) with none missing")
        }
        for k in 0..<clusterCount { counts[k + 1] += counts[k] }
        var fill = counts
        var members = [UInt32](repeating: 0, count: labels.count)
        for (x, l) in labels.enumerated() {
            members[fill[Int(l)]] = UInt32(x)
            fill[Int(l)] += 1
        }
        self.labels = labels
        self.clusterCount = clusterCount
        self.memberOffsets = counts
        self.members = members
    }

    /// `clusterCount` clusters of `clusterSize` consecutive states: state k*M + i is in C_k.
    public init(clusterCount: Int, clusterSize: Int) {
        precondition(clusterCount > 0 && clusterSize > 0)
        var labels = [UInt32]()
        labels.reserveCapacity(clusterCount * clusterSize)
        for k in 0..<clusterCount {
            labels.append(contentsOf: repeatElement(UInt32(k), count: clusterSize))
        }
        self.labels = labels
        self.clusterCount = clusterCount
        self.memberOffsets = (0...clusterCount).map { $0 * clusterSize }
        self.members = (0..<UInt32(clusterCount * clusterSize)).map { $0 }
    }

    @inlinable
    public func size(of cluster: Int) -> Int { memberOffsets[cluster + 1] - memberOffsets[cluster] }

    @inlinable
    public func members(of cluster: Int) -> ArraySlice<UInt32> {
        members[memberOffsets[cluster]..<memberOffsets[cluster + 1]]
    }

    /// The cluster of state `x`.
    @inlinable
    public subscript(x: Int) -> Int { Int(labels[x]) }
}
