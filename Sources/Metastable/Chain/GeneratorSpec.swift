import Foundation

/// The reference family of metastable chains (paper-notes §1): K clusters of M states, a
/// dense fast-mixing kernel inside each cluster, and sparse inter-cluster edges of small
/// probability ε from `sources` states per cluster.
///
/// State `k * M + i` is state i of cluster k. Every random choice comes from a stream derived
/// from `seed`, so the same spec always gives the same chain.
public struct GeneratorSpec: Sendable, Equatable, Hashable {
    /// K, the number of clusters.
    public var clusters: Int
    /// M, the number of states per cluster.
    public var clusterSize: Int
    public var kernel: DenseKernel
    public var topology: Topology
    /// n_out, the number of source states per cluster; each has one sparse edge into
    /// every successor cluster.
    public var sources: Int
    public var epsilon: EpsilonSpec
    /// Decoy states per cluster: each has one intra-cluster edge of probability ε.
    public var decoys: Int
    public var seed: UInt64
    /// Rows computed on the fly instead of stored, for chains too large to hold
    /// (see `ProceduralWalk`): only the uniform kernel, chain topology, one source, fixed ε.
    public var procedural: Bool

    public init(
        clusters: Int, clusterSize: Int, kernel: DenseKernel = .uniform, topology: Topology = .chain,
        sources: Int = 1, epsilon: EpsilonSpec = .fixed(1e-3), decoys: Int = 0, seed: UInt64 = 1,
        procedural: Bool = false
    ) {
        self.clusters = clusters
        self.clusterSize = clusterSize
        self.kernel = kernel
        self.topology = topology
        self.sources = sources
        self.epsilon = epsilon
        self.decoys = decoys
        self.seed = seed
        self.procedural = procedural
    }

    public var stateCount: Int { clusters * clusterSize }
}

/// The kernel inside a cluster. Each has the uniform law on the cluster as stationary law.
public enum DenseKernel: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// Next state uniform on the cluster (stored implicitly: no edges).
    case uniform
    /// The average of d random permutation matrices: doubly stochastic, an expander with
    /// high probability for d >= 3.
    case permutations(Int)
    /// A lazy walk on a cycle: stay with probability 1/2, else move to one of the w nearest
    /// states on either side. Mixes slowly, violating the fast-mixing assumption on purpose.
    case ring(Int)

    public var description: String {
        switch self {
        case .uniform: "uniform"
        case .permutations(let d): "permutations(\(d))"
        case .ring(let w): "ring(\(w))"
        }
    }

    /// Parses `uniform`, `permutations(d)` or `ring(w)`.
    public init?(parsing text: String) {
        switch SpecSyntax.call(text) {
        case ("uniform", nil)?: self = .uniform
        case ("permutations", let d?)? where d >= 1: self = .permutations(d)
        case ("ring", let w?)? where w >= 1: self = .ring(w)
        default: return nil
        }
    }
}

/// Which clusters a cluster's sparse edges lead to.
public enum Topology: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// k -> k+1.
    case chain
    /// k -> k+1 and k -> k-1.
    case chainBidirectional
    /// `out` distinct uniformly random other clusters per cluster (strongly connected with
    /// high probability for out >= 2; an unreachable target is reported, not guessed).
    case random(Int)
    /// A binary tree in heap order (children of k are 2k+1 and 2k+2), edges both ways.
    case tree
    /// Every cluster to every other.
    case complete

    public var description: String {
        switch self {
        case .chain: "chain"
        case .chainBidirectional: "chain-bidirectional"
        case .random(let out): "random(\(out))"
        case .tree: "tree"
        case .complete: "complete"
        }
    }

    /// Parses `chain`, `chain-bidirectional`, `random(out)`, `tree` or `complete`.
    public init?(parsing text: String) {
        switch SpecSyntax.call(text) {
        case ("chain", nil)?: self = .chain
        case ("chain-bidirectional", nil)?: self = .chainBidirectional
        case ("random", let out?)? where out >= 1: self = .random(out)
        case ("tree", nil)?: self = .tree
        case ("complete", nil)?: self = .complete
        default: return nil
        }
    }
}

/// The probability of each sparse (and decoy) edge.
public enum EpsilonSpec: Sendable, Equatable, Hashable, CustomStringConvertible {
    case fixed(Double)
    /// Drawn per edge, log-uniformly in [lo, hi].
    case logUniform(Double, Double)

    public var description: String {
        switch self {
        case .fixed(let e): "\(e)"
        case .logUniform(let lo, let hi): "loguniform(\(lo), \(hi))"
        }
    }

    /// The largest ε this spec can produce.
    public var maximum: Double {
        switch self {
        case .fixed(let e): e
        case .logUniform(_, let hi): hi
        }
    }
}

/// Parses the `name` / `name(n)` syntax used by kernels and topologies.
enum SpecSyntax {
    static func call(_ text: String) -> (String, Int?)? {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard let open = t.firstIndex(of: "(") else { return (t, nil) }
        guard t.hasSuffix(")") else { return nil }
        let name = String(t[..<open]).trimmingCharacters(in: .whitespaces)
        let argument = t[t.index(after: open)..<t.index(before: t.endIndex)].trimmingCharacters(in: .whitespaces)
        guard let n = Int(argument) else { return nil }
        return (name, n)
    }
}
