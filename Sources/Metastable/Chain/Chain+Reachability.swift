extension Chain {
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
            for e in entries(of: x) where probabilities[e] > 0 { visit(Int(columns[e])) }
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
}
