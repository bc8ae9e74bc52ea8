/// Which states have a finite expected hitting time of a target set.
///
/// E_x[τ_T] is finite exactly when no state reachable from x (before T) is a dead end, a
/// state with no path to T: from a dead end the walk never hits T, and the walk reaches it
/// with positive probability. Two breadth-first searches on the reversed graph find them: one
/// from T (the states that can reach T), one from the dead ends, not passing through T.
enum Reachability {
    /// For each state, −1 when its hitting time is finite, else a dead end it can reach
    /// (itself when it is one). Empty when every hitting time is finite.
    static func deadEnds(of chain: Chain, target: TargetSet) -> [Int32] {
        let n = chain.stateCount
        let reverse = ReverseGraph(chain)
        var reaches = [Bool](repeating: false, count: n)
        var queue = [Int32]()
        queue.reserveCapacity(n)
        for t in target.states {
            reaches[t] = true
            queue.append(Int32(t))
        }
        reverse.search(from: &queue, visit: { x in
            guard !reaches[x] else { return false }
            reaches[x] = true
            return true
        }, inherit: { _, _ in })

        guard reaches.contains(false) else { return [] }
        var witness = [Int32](repeating: -1, count: n)
        queue.removeAll(keepingCapacity: true)
        for x in 0..<n where !reaches[x] {
            witness[x] = Int32(x)
            queue.append(Int32(x))
        }
        reverse.search(from: &queue, visit: { x in
            guard witness[x] < 0, !target.contains(x) else { return false }
            return true
        }, inherit: { x, from in witness[x] = witness[from] })
        return witness
    }
}

/// The explicit edges of a chain, reversed (CSR), plus what the search needs to reverse the
/// implicit uniform part: x reaches every state of its cluster when uniformMass[x] > 0.
private struct ReverseGraph {
    let chain: Chain
    let offsets: [Int]
    let sources: [Int32]

    init(_ chain: Chain) {
        self.chain = chain
        let n = chain.stateCount
        var offsets = [Int](repeating: 0, count: n + 1)
        for c in chain.columns { offsets[Int(c) + 1] += 1 }
        for y in 0..<n { offsets[y + 1] += offsets[y] }
        var fill = offsets
        var sources = [Int32](repeating: 0, count: chain.entryCount)
        for x in 0..<n {
            for e in chain.entries(of: x) {
                let y = Int(chain.columns[e])
                sources[fill[y]] = Int32(x)
                fill[y] += 1
            }
        }
        self.offsets = offsets
        self.sources = sources
    }

    /// Breadth-first from `queue` along reversed edges. `visit(x)` says whether to enqueue x
    /// (and marks it); `inherit(x, from)` runs for each enqueued x, found from `from`.
    func search(from queue: inout [Int32], visit: (Int) -> Bool, inherit: (Int, Int) -> Void) {
        let labels = chain.clusters
        var expanded = [Bool](repeating: false, count: labels?.clusterCount ?? 0)
        var head = 0
        while head < queue.count {
            let y = Int(queue[head])
            head += 1
            for e in offsets[y]..<offsets[y + 1] {
                let x = Int(sources[e])
                if visit(x) { inherit(x, y); queue.append(Int32(x)) }
            }
            // Every state of y's cluster with a uniform part steps to y; expand each cluster once.
            guard !chain.uniformMass.isEmpty, let labels, !expanded[labels[y]] else { continue }
            expanded[labels[y]] = true
            for m in labels.members(of: labels[y]) where chain.uniformMass[Int(m)] > 0 {
                let x = Int(m)
                if visit(x) { inherit(x, y); queue.append(Int32(x)) }
            }
        }
    }
}
