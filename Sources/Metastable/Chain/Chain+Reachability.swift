extension Chain {
    /// Checks that every target can be reached from `start` along transitions of positive
    /// probability (`start` reaches itself). Throws `.badState` for a state out of range
    /// and `.unreachable` naming the first target, in the given order, that cannot be
    /// reached.
    ///
    /// A breadth-first search over the chain's transitions, implicit uniform parts
    /// included: a state with uniform mass leads to every state of its cluster. Each
    /// cluster is expanded once, so a uniform kernel costs O(states), not O(states²).
    public func checkReachable(from start: Int, to targets: [Int]) throws(ChainError) {
        guard (0..<stateCount).contains(start) else {
            throw ChainError(.badState, "start state \(start) is out of range 0..<\(stateCount)")
        }
        if let bad = targets.first(where: { !(0..<stateCount).contains($0) }) {
            throw ChainError(.badState, "target state \(bad) is out of range 0..<\(stateCount)")
        }
        var seen = [Bool](repeating: false, count: stateCount)
        var wanted = Set(targets)
        var queue = [start]
        seen[start] = true
        wanted.remove(start)
        var clusterExpanded = [Bool](repeating: false, count: clusters?.clusterCount ?? 0)
        var head = 0
        func visit(_ y: Int) {
            guard !seen[y] else { return }
            seen[y] = true
            wanted.remove(y)
            queue.append(y)
        }
        while head < queue.count, !wanted.isEmpty {
            let x = queue[head]
            head += 1
            for e in entries(of: x) where probabilities[e] > 0 { visit(Int(columns[e])) }
            if uniformMass(of: x) > 0, let clusters, !clusterExpanded[clusters[x]] {
                clusterExpanded[clusters[x]] = true
                for y in clusters.members(of: clusters[x]) { visit(Int(y)) }
            }
        }
        if let unreachable = targets.first(where: { !seen[$0] }) {
            throw ChainError(.unreachable, "target \(unreachable) is not reachable from state \(start)")
        }
    }
}
