/// The equations of the expected hitting times h of a target set T, in GTH form:
///
///     out(x)·h_x = 1 + Σ_{y≠x, y∉T} p(x, y)·h_y,   out(x) = Σ_{y≠x} p(x, y),
///
/// one per unknown state x (not in T, finite hitting time); h = 0 on T.
///
/// The implicit uniform part of a cluster C is not expanded into |C|² entries. Each cluster
/// that needs it gets one extra node, a hub: x steps to the hub with its uniform mass u_x and
/// the hub moves in no time to a uniform state of C, so h_hub = (1/|C|)·Σ_{y∈C} h_y and
///
///     hub: 1·h_hub = 0 + Σ_{y∈C∖T} (1/|C|)·h_y   (absorbed: |C∩T|/|C|).
///
/// This is the same system with one more unknown per cluster, still of GTH form, and keeps a
/// uniform cluster sparse: eliminating its states one by one only touches the hub.
struct HittingSystem {
    let chain: Chain
    let target: TargetSet
    /// See `Reachability.deadEnds`: empty when every hitting time is finite.
    let deadEnds: [Int32]
    /// The hub node of each cluster, −1 when the cluster needs none.
    let hubs: [Int32]
    /// The cluster of each hub (hub nodes are `chain.stateCount...`).
    private let hubClusters: [Int]
    let nodeCount: Int

    init(chain: Chain, target: TargetSet) {
        self.chain = chain
        self.target = target
        let deadEnds = Reachability.deadEnds(of: chain, target: target)
        self.deadEnds = deadEnds
        var hubs = [Int32]()
        var hubClusters = [Int]()
        var nodeCount = chain.stateCount
        if let labels = chain.clusters, !chain.uniformMass.isEmpty {
            hubs = [Int32](repeating: -1, count: labels.clusterCount)
            for k in 0..<labels.clusterCount {
                let needsHub = labels.members(of: k).contains { m in
                    let x = Int(m)
                    return chain.uniformMass[x] > 0 && !target.contains(x) && (deadEnds.isEmpty || deadEnds[x] < 0)
                }
                if needsHub {
                    hubs[k] = Int32(nodeCount)
                    hubClusters.append(k)
                    nodeCount += 1
                }
            }
        }
        self.hubs = hubs
        self.hubClusters = hubClusters
        self.nodeCount = nodeCount
    }

    /// A state with an equation: not a target, finite hitting time.
    func isUnknown(_ x: Int) -> Bool {
        !target.contains(x) && (deadEnds.isEmpty || deadEnds[x] < 0)
    }

    /// Every unknown state and hub.
    var unknowns: [Int32] {
        (0..<chain.stateCount).filter(isUnknown).map(Int32.init) + hubs.filter { $0 >= 0 }
    }

    /// The row of a state or hub. Finite states only point to finite states and targets.
    func row(_ node: Int32) -> GTHRow {
        let n = chain.stateCount
        if Int(node) >= n { return hubRow(node) }
        let x = Int(node)
        var row = GTHRow(columns: [], weights: [], absorbed: 0)
        for e in chain.entries(of: x) {
            let y = Int(chain.columns[e])
            guard y != x else { continue }
            if target.contains(y) {
                row.absorbed += chain.probabilities[e]
            } else {
                row.columns.append(Int32(y))
                row.weights.append(chain.probabilities[e])
            }
        }
        let u = chain.uniformMass(of: x)
        if u > 0, let labels = chain.clusters {
            row.columns.append(hubs[labels[x]])
            row.weights.append(u)
        }
        return row
    }

    private func hubRow(_ node: Int32) -> GTHRow {
        let n = chain.stateCount
        let labels = chain.clusters!
        let members = labels.members(of: hubClusters[Int(node) - n])
        let share = 1 / Double(members.count)
        var row = GTHRow(columns: [], weights: [], absorbed: 0)
        for m in members {
            if target.contains(Int(m)) {
                row.absorbed += share
            } else {
                row.columns.append(Int32(m))
                row.weights.append(share)
            }
        }
        return row
    }

    /// The right-hand side 1 on unknown states (0 on hubs and everything else).
    func ones() -> [Double] {
        var b = [Double](repeating: 0, count: nodeCount)
        for x in 0..<chain.stateCount where isUnknown(x) { b[x] = 1 }
        return b
    }

    /// The residual 1 − (A h) on unknown states, in difference form:
    ///
    ///     (A h)_x = p(x, T)·h_x + Σ_{y≠x, y∉T} p(x, y)·(h_x − h_y).
    ///
    /// The plain form out(x)·h_x − Σ p(x, y)·h_y cancels two numbers of size h ≈ 10¹² to
    /// leave one of size 1: its rounding error (≈ 10⁻⁴) is larger than the residual of the
    /// exact solution rounded to doubles. The differences h_x − h_y inside a cluster are
    /// small and computed exactly (Sterbenz), so this form sees errors down to ~u·max|h_x − h_y|.
    /// For the uniform part, Σ_{y∈C∖T}(h_x − h_y) = |C∖T|·(h_x − h_ref) − Σ_y (h_y − h_ref)
    /// with h_ref one state of C, which keeps it in differences at O(|C|) cost per cluster.
    func residual(_ h: [Double]) -> [Double] {
        var r = [Double](repeating: 0, count: nodeCount)
        let uniform = UniformDifferences(chain: chain, target: target, h: h, hubs: hubs)
        for x in 0..<chain.stateCount where isUnknown(x) {
            let hx = h[x]
            var toTarget = 0.0
            var sum = 0.0
            for e in chain.entries(of: x) {
                let y = Int(chain.columns[e])
                guard y != x else { continue }
                if target.contains(y) {
                    toTarget += chain.probabilities[e]
                } else {
                    sum += chain.probabilities[e] * (hx - h[y])
                }
            }
            let u = chain.uniformMass(of: x)
            if u > 0, let labels = chain.clusters {
                let k = labels[x]
                toTarget += u * uniform.targetShare[k]
                sum += u * uniform.share[k] * (uniform.free[k] * (hx - uniform.reference[k]) - uniform.offsetSum[k])
            }
            r[x] = 1 - (sum + toTarget * hx)
        }
        return r
    }
}

/// Per cluster with a hub: what the difference form of the uniform part needs.
private struct UniformDifferences {
    var share: [Double] = []
    var targetShare: [Double] = []
    var free: [Double] = []
    var reference: [Double] = []
    var offsetSum: [Double] = []

    init(chain: Chain, target: TargetSet, h: [Double], hubs: [Int32]) {
        guard let labels = chain.clusters, !hubs.isEmpty else { return }
        let k = labels.clusterCount
        share = [Double](repeating: 0, count: k)
        targetShare = share
        free = share
        reference = share
        offsetSum = share
        for c in 0..<k where hubs[c] >= 0 {
            let members = labels.members(of: c)
            share[c] = 1 / Double(members.count)
            let nonTarget = members.filter { !target.contains(Int($0)) }
            targetShare[c] = Double(members.count - nonTarget.count) / Double(members.count)
            free[c] = Double(nonTarget.count)
            let ref = h[Int(nonTarget[0])]
            reference[c] = ref
            offsetSum[c] = nonTarget.reduce(0) { $0 + (h[Int($1)] - ref) }
        }
    }
}
