/// Read access to a chain's rows, wherever they are: a `Chain` in memory, or the validated
/// mapping of a binary graph file (`ChainFile.inspectRows`), which is how a coordinator
/// checks a chain too large to hold.
public protocol RowAccess {
    var stateCount: Int { get }
    var clusters: ClusterLabels? { get }
    /// The explicit entries of row `x`, as indices for `column(_:)`, `probability(_:)` and `kind(_:)`.
    func entries(of x: Int) -> Range<Int>
    func column(_ e: Int) -> Int
    func probability(_ e: Int) -> Double
    func kind(_ e: Int) -> EdgeKind
    /// The uniform-within-cluster mass of row `x` (0 when the row has none).
    func uniformMass(of x: Int) -> Double
}

extension RowAccess {
    /// Checks that the target set can be reached from `start` along transitions of positive
    /// probability (`start` reaches itself): at least one of `targets` must be reachable.
    /// Throws `.badState` for a state out of range and `.unreachable` when none is.
    ///
    /// A breadth-first search over the chain's transitions, implicit uniform parts
    /// included: a state with uniform mass leads to every state of its cluster. Each
    /// cluster is expanded once, so a uniform kernel costs O(states), not O(states²).
    public func checkReachable(from start: Int, to targets: [Int]) throws(ChainError) {
        guard (0..<stateCount).contains(start) else {
            throw ChainError(.badState, "start state \(start) is out of range 0..<\(stateCount)")
        }
        guard !targets.isEmpty else { throw ChainError(.empty, "the target set is empty") }
        if let bad = targets.first(where: { !(0..<stateCount).contains($0) }) {
            throw ChainError(.badState, "target state \(bad) is out of range 0..<\(stateCount)")
        }
        var seen = [Bool](repeating: false, count: stateCount)
        let wanted = Set(targets)
        var found = wanted.contains(start)
        var queue = [start]
        seen[start] = true
        let clusters = clusters
        var clusterExpanded = [Bool](repeating: false, count: clusters?.clusterCount ?? 0)
        var head = 0
        func visit(_ y: Int) {
            guard !seen[y] else { return }
            seen[y] = true
            if wanted.contains(y) { found = true }
            queue.append(y)
        }
        while head < queue.count, !found {
            let x = queue[head]
            head += 1
            for e in entries(of: x) where probability(e) > 0 { visit(column(e)) }
            if uniformMass(of: x) > 0, let clusters, !clusterExpanded[clusters[x]] {
                clusterExpanded[clusters[x]] = true
                for y in clusters.members(of: clusters[x]) { visit(Int(y)) }
            }
        }
        guard found else {
            let what = targets.count == 1 ? "target \(targets[0]) is not" : "none of the \(targets.count) target states is"
            throw ChainError(.unreachable, "\(what) reachable from state \(start)")
        }
    }

    /// Number of transitions with positive probability, counting each implicit uniform
    /// row as one entry per state of the cluster.
    public var transitionCount: Int {
        var count = 0
        let clusters = clusters
        for x in 0..<stateCount {
            let row = entries(of: x)
            guard uniformMass(of: x) > 0, let clusters else { count += row.count; continue }
            let c = clusters[x]
            // explicit entries inside the cluster merge with the uniform part
            var inside = 0
            for e in row where clusters[column(e)] == c { inside += 1 }
            count += row.count - inside + clusters.size(of: c)
        }
        return count
    }

    /// Number of stored edges of kind sparse.
    public var sparseEdgeCount: Int {
        (0..<stateCount).reduce(0) { sum, x in sum + entries(of: x).count { kind($0) == .sparse } }
    }
}
