import Foundation

extension GeneratorSpec {
    /// Checks the spec, naming the first bad field.
    public func validate() throws(ChainError) {
        if procedural { return try validateProcedural() }
        func bad(_ field: String, _ why: String) -> ChainError { ChainError(.badSpec, "\(field): \(why)") }
        guard clusters >= 1 else { throw bad("clusters", "must be at least 1, got \(clusters)") }
        guard clusterSize >= 1 else { throw bad("cluster_size", "must be at least 1, got \(clusterSize)") }
        guard clusters.multipliedReportingOverflow(by: clusterSize).partialValue <= Int(UInt32.max >> 1),
            !clusters.multipliedReportingOverflow(by: clusterSize).overflow
        else { throw bad("clusters × cluster_size", "\(clusters) × \(clusterSize) states exceed \(UInt32.max >> 1)") }
        guard sources >= 0 else { throw bad("sources", "must be non-negative, got \(sources)") }
        guard decoys >= 0 else { throw bad("decoys", "must be non-negative, got \(decoys)") }
        guard sources + decoys <= clusterSize else {
            throw bad("sources + decoys", "\(sources) + \(decoys) exceed the cluster size \(clusterSize)")
        }
        if decoys > 0, clusterSize < 2 { throw bad("decoys", "need clusters of at least 2 states") }
        switch kernel {
        case .uniform: break
        case .permutations(let d): guard d >= 1 else { throw bad("kernel", "permutations(d) needs d >= 1") }
        case .ring(let w): guard w >= 1 else { throw bad("kernel", "ring(w) needs w >= 1") }
        }
        if case .random(let out) = topology, !(1..<clusters).contains(out) {
            throw bad("topology", "random(\(out)) needs 1 <= out <= clusters - 1 = \(clusters - 1)")
        }
        switch epsilon {
        case .fixed(let e):
            guard e > 0, e < 1 else { throw bad("epsilon", "must be in (0, 1), got \(e)") }
        case .logUniform(let lo, let hi):
            guard lo > 0, hi < 1, lo <= hi else { throw bad("epsilon", "range [\(lo), \(hi)] must satisfy 0 < lo <= hi < 1") }
        }
        let perRow = Double(maxSuccessors) * epsilon.maximum
        guard perRow < 1 else {
            throw bad("epsilon", "a source has \(maxSuccessors) sparse edges of up to ε = \(epsilon.maximum): their total \(perRow) must stay below 1")
        }
    }

    /// The largest number of successor clusters any cluster has.
    var maxSuccessors: Int {
        switch topology {
        case .chain: clusters > 1 ? 1 : 0
        case .chainBidirectional: clusters > 2 ? 2 : clusters - 1
        case .random(let out): out
        case .tree: clusters > 2 ? 3 : clusters - 1
        case .complete: clusters - 1
        }
    }

    /// The successor clusters of every cluster, in a fixed order.
    func successors() -> [[Int]] {
        let k = clusters
        switch topology {
        case .chain:
            return (0..<k).map { $0 + 1 < k ? [$0 + 1] : [] }
        case .chainBidirectional:
            return (0..<k).map { c in [c - 1, c + 1].filter { (0..<k).contains($0) } }
        case .random(let out):
            var rng = WalkRandom(seed: seed, domain: .chainGeneration, index: 0)
            return (0..<k).map { c in
                rng.sample(out, from: k - 1).map { $0 >= c ? $0 + 1 : $0 }.sorted()
            }
        case .tree:
            return (0..<k).map { c in
                (c > 0 ? [(c - 1) / 2] : []) + [2 * c + 1, 2 * c + 2].filter { $0 < k }
            }
        case .complete:
            return (0..<k).map { c in (0..<k).filter { $0 != c } }
        }
    }

    /// Builds the chain. Throws `.badSpec` naming the field when the spec is invalid.
    public func generate() throws(ChainError) -> Chain {
        guard !procedural else {
            throw ChainError(.badSpec, "procedural: a procedural chain has no stored edges to build; it runs as a ProceduralWalk")
        }
        try validate()
        let m = clusterSize
        let n = stateCount
        let successors = successors()

        // Extra (sparse and decoy) edges per state, and the mass they take from the row.
        var extras = [[(to: Int, p: Double, kind: EdgeKind)]](repeating: [], count: n)
        var permutations = [[Int]]()
        var offsets = [Int](repeating: 0, count: n + 1)
        var columns = [UInt32](), probabilities = [Double](), kinds = [EdgeKind]()
        var uniformMass = [Double]()
        let perRow: Int
        switch kernel {
        case .uniform: perRow = 0; uniformMass = [Double](repeating: 0, count: n)
        case .permutations(let d): perRow = d
        case .ring(let w): perRow = 1 + 2 * w
        }
        columns.reserveCapacity(n * perRow + clusters * (sources * maxSuccessors + decoys))
        probabilities.reserveCapacity(columns.capacity)
        kinds.reserveCapacity(columns.capacity)

        for c in 0..<clusters {
            // One stream per cluster: the chain's cluster c does not depend on K.
            var rng = WalkRandom(seed: seed, domain: .chainGeneration, index: UInt64(c) + 1)
            let base = c * m
            let picked = rng.sample(sources + decoys, from: m)
            for s in picked.prefix(sources) {
                for l in successors[c] {
                    extras[base + s].append((l * m + rng.next(below: m), drawEpsilon(&rng), .sparse))
                }
            }
            for d in picked.dropFirst(sources) {
                var other = rng.next(below: m - 1)
                if other >= d { other += 1 }
                extras[base + d].append((base + other, drawEpsilon(&rng), .decoy))
            }
            if case .permutations(let d) = kernel {
                permutations = (0..<d).map { _ in
                    var p = Array(0..<m)
                    rng.shuffle(&p)
                    return p
                }
            }
            for i in 0..<m {
                let x = base + i
                let extraMass = extras[x].reduce(0) { $0 + $1.p }
                let dense = 1 - extraMass
                switch kernel {
                case .uniform:
                    uniformMass[x] = dense
                case .permutations(let d):
                    for p in permutations {
                        columns.append(UInt32(base + p[i])); probabilities.append(dense / Double(d)); kinds.append(.dense)
                    }
                case .ring(let w):
                    columns.append(UInt32(x)); probabilities.append(dense / 2); kinds.append(.dense)
                    for j in 1...w {
                        for y in [(i + j) % m, (i - j % m + m) % m] {
                            columns.append(UInt32(base + y)); probabilities.append(dense / Double(4 * w)); kinds.append(.dense)
                        }
                    }
                }
                for e in extras[x] {
                    columns.append(UInt32(e.to)); probabilities.append(e.p); kinds.append(e.kind)
                }
                offsets[x + 1] = columns.count
            }
        }
        return try Chain(
            stateCount: n, rowOffsets: offsets, columns: columns, probabilities: probabilities, kinds: kinds,
            uniformMass: uniformMass, clusters: ClusterLabels(clusterCount: clusters, clusterSize: m))
    }

    private func drawEpsilon(_ rng: inout WalkRandom) -> Double {
        switch epsilon {
        case .fixed(let e): return e
        case .logUniform(let lo, let hi):
            return exp(log(lo) + (log(hi) - log(lo)) * rng.nextDouble())
        }
    }
}

