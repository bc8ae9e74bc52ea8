/// The process reward model of paper-notes §3: during generation every edge the search found
/// is taken with probability ε_max instead of its own.
///
/// Row x with found edges E_x = Ê ∩ row(x) becomes
///
///     p'(x, y) = ε_max                                   for y ∈ E_x,
///     p'(x, y) = p(x, y) · (1 − ε_max·|E_x|) / (1 − Σ_{y' ∈ E_x} p(x, y'))   otherwise,
///
/// so the rest of the row keeps its shape. Rows without found edges are unchanged.
public struct ProcessRewardModel: Sendable, Equatable, Codable {
    /// Ê, sorted and distinct.
    public let edges: [Transition]
    /// ε_max, the probability each found edge gets.
    public let epsilonMax: Double

    /// - Throws: `.badValue` naming `epsilonMax` outside (0, 1), `.badState` naming
    ///   `edges[i]` for a negative state (states are checked against a chain in `apply`).
    public init(edges: [Transition], epsilonMax: Double) throws(LearningError) {
        guard epsilonMax > 0, epsilonMax < 1 else {
            throw LearningError(.badValue, field: "epsilonMax", "must be in (0, 1), got \(epsilonMax)")
        }
        if let i = edges.firstIndex(where: { $0.from < 0 || $0.to < 0 }) {
            throw LearningError(.badState, field: "edges[\(i)]", "transition \(edges[i].from) → \(edges[i].to) has a negative state")
        }
        self.edges = Array(Set(edges)).sorted { ($0.from, $0.to) < ($1.from, $1.to) }
        self.epsilonMax = epsilonMax
    }

    /// `chain` with the found edges boosted to ε_max. Rows with a found edge are written
    /// out explicitly (their uniform part expanded); the others keep their representation.
    ///
    /// - Throws: `.badState` naming an edge outside the chain; `.badValue` naming the row
    ///   whose found edges would take all its mass (|E_x|·ε_max ≥ 1, or nothing else left
    ///   to rescale).
    public func apply(to chain: Chain) throws -> Chain {
        let n = chain.stateCount
        var boosted = [Int: Set<Int>]()
        for (i, t) in edges.enumerated() {
            guard t.from < n, t.to < n else {
                throw LearningError(.badState, field: "edges[\(i)]", "transition \(t.from) → \(t.to) leaves 0..<\(n)")
            }
            boosted[t.from, default: []].insert(t.to)
        }
        var offsets = [0], columns = [UInt32](), probabilities = [Double](), kinds = [EdgeKind]()
        var uniform = chain.uniformMass
        for x in 0..<n {
            guard let found = boosted[x] else {
                for e in chain.entries(of: x) {
                    columns.append(chain.columns[e]); probabilities.append(chain.probabilities[e]); kinds.append(chain.kinds[e])
                }
                offsets.append(columns.count)
                continue
            }
            var old = 0.0
            var row = [(y: Int, p: Double, kind: EdgeKind)]()
            chain.forEachTransition(from: x) { y, p, kind in
                row.append((y, p, kind))
                if found.contains(y) { old += p }
            }
            let kept = 1 - Double(found.count) * epsilonMax
            let rest = 1 - old
            guard kept > 0 else {
                throw LearningError(.badValue, field: "epsilonMax", "row \(x) has \(found.count) found edges: \(found.count) × \(epsilonMax) ≥ 1")
            }
            guard rest > 0 else {
                throw LearningError(.badValue, field: "edges", "row \(x): the found edges hold all its mass, nothing is left to rescale")
            }
            let scale = kept / rest
            // Found edges the chain did not have are added with kind `.sparse`: the searcher
            // took them for hard steps.
            let missing = found.subtracting(row.map(\.y))
            row += missing.map { (y: $0, p: 0.0, kind: EdgeKind.sparse) }
            row.sort { $0.y < $1.y }
            for (y, p, kind) in row {
                columns.append(UInt32(y))
                probabilities.append(found.contains(y) ? epsilonMax : p * scale)
                kinds.append(kind)
            }
            offsets.append(columns.count)
            if !uniform.isEmpty { uniform[x] = 0 }
        }
        return try Chain(
            stateCount: n, rowOffsets: offsets, columns: columns, probabilities: probabilities, kinds: kinds,
            uniformMass: uniform, clusters: chain.clusters)
    }
}
