/// A set of states to hit, with an O(1) membership test that the walk kernel inlines.
public struct TargetSet: Sendable, Equatable {
    /// The states, sorted and distinct.
    public let states: [Int]
    /// One bit per state of the chain.
    public let bits: [UInt64]

    /// - Throws: `.badState` naming the first id outside `0..<stateCount`, `.empty` for no states.
    public init(states: [Int], stateCount: Int) throws(ChainError) {
        guard !states.isEmpty else { throw ChainError(.empty, "the target set is empty") }
        if let bad = states.first(where: { !(0..<stateCount).contains($0) }) {
            throw ChainError(.badState, "target state \(bad) is out of range 0..<\(stateCount)")
        }
        self.states = Array(Set(states)).sorted()
        var bits = [UInt64](repeating: 0, count: (stateCount + 63) / 64)
        for s in self.states { bits[s >> 6] |= 1 << UInt64(s & 63) }
        self.bits = bits
    }

    /// All states of `cluster`.
    public init(cluster: Int, of chain: Chain) throws(ChainError) {
        guard let clusters = chain.clusters else {
            throw ChainError(.badLabel, "target cluster \(cluster) given, but the chain has no cluster labels")
        }
        guard (0..<clusters.clusterCount).contains(cluster) else {
            throw ChainError(.badLabel, "target cluster \(cluster) is out of range 0..<\(clusters.clusterCount)")
        }
        try self.init(states: clusters.members(of: cluster).map(Int.init), stateCount: chain.stateCount)
    }

    @inlinable
    public func contains(_ x: Int) -> Bool { bits[x >> 6] & (1 << UInt64(x & 63)) != 0 }
}

/// Where walks start: one state, or a distribution over states.
public struct StartDistribution: Sendable, Equatable {
    /// States with positive weight, sorted, and their probabilities (summing to 1).
    public let states: [Int]
    public let probabilities: [Double]

    public init(state: Int, stateCount: Int) throws(ChainError) {
        guard (0..<stateCount).contains(state) else {
            throw ChainError(.badState, "start state \(state) is out of range 0..<\(stateCount)")
        }
        states = [state]
        probabilities = [1]
    }

    /// A distribution from (state, weight) pairs; weights are normalised.
    public init(weights: [(state: Int, weight: Double)], stateCount: Int) throws(ChainError) {
        var merged = [Int: Double]()
        for (s, w) in weights {
            guard (0..<stateCount).contains(s) else {
                throw ChainError(.badState, "start state \(s) is out of range 0..<\(stateCount)")
            }
            guard w.isFinite, w >= 0 else { throw ChainError(.badProbability, "start state \(s) has weight \(w)") }
            if w > 0 { merged[s, default: 0] += w }
        }
        let total = merged.values.reduce(0, +)
        guard total > 0 else { throw ChainError(.empty, "the start distribution has no positive weight") }
        states = merged.keys.sorted()
        probabilities = states.map { merged[$0]! / total }
    }

    /// Uniform on the states of `cluster`.
    public init(uniformOn cluster: Int, of chain: Chain) throws(ChainError) {
        guard let clusters = chain.clusters else {
            throw ChainError(.badLabel, "start cluster \(cluster) given, but the chain has no cluster labels")
        }
        guard (0..<clusters.clusterCount).contains(cluster) else {
            throw ChainError(.badLabel, "start cluster \(cluster) is out of range 0..<\(clusters.clusterCount)")
        }
        try self.init(weights: clusters.members(of: cluster).map { (Int($0), 1.0) }, stateCount: chain.stateCount)
    }

    /// The single start state, if the distribution is a point mass.
    public var pointMass: Int? { states.count == 1 ? states[0] : nil }
}
