import Testing
@testable import Metastable

@Suite("Exact")
struct ExactTests {
    /// max_x |a_x − b_x| / b_x over finite b; +∞ when the infinite entries differ.
    static func relativeError(_ a: [Double], _ b: [Double]) -> Double {
        var worst = 0.0
        for (x, y) in zip(a, b) {
            if !y.isFinite || !x.isFinite {
                if x != y { return .infinity }
            } else if y != 0 {
                worst = max(worst, abs(x - y) / y)
            } else if x != 0 {
                return .infinity
            }
        }
        return worst
    }

    /// A chain from explicit rows `(from, to, p)`.
    static func chain(states: Int, _ edges: [(Int, Int, Double)], labels: [UInt32]? = nil) throws -> Chain {
        let sorted = edges.sorted { $0.0 < $1.0 }
        var offsets = [Int](repeating: 0, count: states + 1)
        for e in sorted { offsets[e.0 + 1] += 1 }
        for x in 0..<states { offsets[x + 1] += offsets[x] }
        return try Chain(
            stateCount: states, rowOffsets: offsets, columns: sorted.map { UInt32($0.1) },
            probabilities: sorted.map(\.2), clusters: labels.map { try ClusterLabels(labels: $0) })
    }

    // MARK: Against the closed form

    @Test(arguments: [
        (1, EpsilonSpec.fixed(1e-9), true), (2, .fixed(1e-9), true), (1, .fixed(1e-9), false),
        (2, .logUniform(1e-9, 1e-7), true), (2, .logUniform(1e-9, 1e-7), false),
    ])
    func solverMatchesClosedForm(sources: Int, epsilon: EpsilonSpec, singleTarget: Bool) throws {
        let chain = try GeneratorSpec(
            clusters: 5, clusterSize: 1000, kernel: .uniform, topology: .chain, sources: sources, epsilon: epsilon, seed: 3
        ).generate()
        let target = singleTarget
            ? try TargetSet(states: [4 * 1000 + 17], stateCount: chain.stateCount) : try TargetSet(cluster: 4, of: chain)
        let exact = try #require(ClosedForm.hittingTimes(chain: chain, target: target))
        let start = try StartDistribution(uniformOn: 0, of: chain)
        let expected = try #require(ClosedForm.hittingTime(chain: chain, start: start, target: target))
        if case .fixed = epsilon { #expect(expected >= 1e12) }

        for method in [ExactSolver.Method.clusters, .general] {
            let solution = try ExactSolver(method: method).hittingTimes(chain, target: target)
            #expect(solution.method == method)
            // The requirement is 1e-9; GTH elimination plus refinement gets to rounding level.
            #expect(Self.relativeError(solution.hittingTimes, exact) < 1e-13)
            #expect(abs(try solution.expected(from: start) - expected) / expected < 1e-13)
            #expect(solution.errorEstimate < 1e-13)
            #expect((1...4).contains(solution.refinementSteps))
        }
        let leading = try #require(ClosedForm.leadingOrder(chain: chain, start: start, target: target))
        #expect(abs(leading - expected) / expected < 1e-6)
        if case .fixed(let e) = epsilon {
            let textbook = ClosedForm.leadingOrder(clusters: 5, clusterSize: 1000, sources: sources, epsilon: e)
            #expect(abs(textbook - leading) / leading < 1e-12)
        }
    }

    @Test func closedFormCoversSourcesLandingOnSources() throws {
        // 5 sources out of 6 states: most landing states are sources themselves.
        let chain = try GeneratorSpec(
            clusters: 4, clusterSize: 6, kernel: .uniform, topology: .chain, sources: 5,
            epsilon: .logUniform(1e-6, 1e-2), seed: 8
        ).generate()
        let labels = try #require(chain.clusters)
        let sparse = (0..<chain.stateCount).flatMap { x in chain.entries(of: x).map { (x, Int(chain.columns[$0])) } }
        let (source, _) = try #require(sparse.first { s, t in labels[s] == 0 && sparse.contains { $0.0 == t } })

        for target in [
            try TargetSet(states: [3 * 6 + 2], stateCount: chain.stateCount),
            try TargetSet(cluster: 3, of: chain),
            try TargetSet(cluster: 2, of: chain), // the clusters after it never reach it
            try TargetSet(states: [2 * 6, 2 * 6 + 1], stateCount: chain.stateCount), // C_2 has exits: h = ∞ before
        ] {
            let exact = try #require(ClosedForm.hittingTimes(chain: chain, target: target))
            let solution = try ExactSolver.hittingTimes(chain, target: target)
            #expect(Self.relativeError(solution.hittingTimes, exact) < 1e-13)
            let start = try StartDistribution(state: source, stateCount: chain.stateCount)
            let closed = try #require(ClosedForm.hittingTime(chain: chain, start: start, target: target))
            if closed.isFinite {
                #expect(abs(try solution.expected(from: start) - closed) / closed < 1e-13)
            } else {
                #expect(throws: ChainError.self) { try solution.expected(from: start) }
            }
        }
    }

    @Test func closedFormDeclinesOtherStructures() throws {
        let decoys = try GeneratorSpec(clusters: 3, clusterSize: 5, kernel: .uniform, decoys: 1).generate()
        let ring = try GeneratorSpec(clusters: 3, clusterSize: 5, kernel: .ring(1)).generate()
        let backwards = try GeneratorSpec(clusters: 3, clusterSize: 5, kernel: .uniform, topology: .chainBidirectional).generate()
        for chain in [decoys, ring, backwards] {
            #expect(ClosedForm.hittingTimes(chain: chain, target: try TargetSet(cluster: 2, of: chain)) == nil)
        }
        let chain = try GeneratorSpec(clusters: 3, clusterSize: 5, kernel: .uniform).generate()
        #expect(ClosedForm.hittingTimes(chain: chain, target: try TargetSet(states: [4, 14], stateCount: 15)) == nil)
    }

    // MARK: Against hand-solvable chains

    @Test func twoStates() throws {
        // 0 -> 1 with probability a: h_0 = 1/a.
        let a = 1e-13
        let chain = try Self.chain(states: 2, [(0, 0, 1 - a), (0, 1, a), (1, 1, 1)])
        let solution = try ExactSolver.hittingTimes(chain, target: try TargetSet(states: [1], stateCount: 2))
        #expect(solution.method == .general)
        #expect(abs(solution.hittingTimes[0] * a - 1) < 1e-15)
        #expect(solution.hittingTimes[1] == 0)
    }

    @Test(arguments: [false, true])
    func birthDeathChain(labelled: Bool) throws {
        // Up p, down q, stay 1 − p − q; reflecting at 0; target N − 1. The time to go from j
        // to j + 1 is t_0 = 1/p, t_j = (1 + q·t_{j−1})/p, and h_i = Σ_{j=i}^{N−2} t_j.
        // q/p = 6 makes h_0 ≈ 10¹⁵.
        let n = 20, p = 0.1, q = 0.6
        var edges = [(0, 1, p), (0, 0, 1 - p)]
        for i in 1..<n {
            edges += [(i, min(i + 1, n - 1), p), (i, i - 1, q), (i, i, 1 - p - q)]
        }
        let labels = labelled ? (0..<n).map { UInt32($0 / 5) } : nil
        let chain = try Self.chain(states: n, edges, labels: labels)
        var steps = [1 / p]
        for j in 1..<(n - 1) { steps.append((1 + q * steps[j - 1]) / p) }
        let exact = (0..<n).map { i in steps[i...].reduce(0, +) }

        let solution = try ExactSolver.hittingTimes(chain, target: try TargetSet(states: [n - 1], stateCount: n))
        #expect(solution.method == (labelled ? .clusters : .general))
        #expect(exact[0] > 1e15)
        #expect(Self.relativeError(solution.hittingTimes, exact) < 1e-13)
    }

    // MARK: Cluster elimination against the general elimination

    static let kernels: [DenseKernel] = [.permutations(3), .ring(2), .uniform]
    static let topologies: [Topology] = [.random(2), .tree, .complete, .chainBidirectional, .chain]

    @Test(arguments: kernels, topologies)
    func clusterAndGeneralEliminationsAgree(kernel: DenseKernel, topology: Topology) throws {
        let chain = try GeneratorSpec(
            clusters: 8, clusterSize: 12, kernel: kernel, topology: topology, sources: 2,
            epsilon: .logUniform(1e-9, 1e-5), decoys: 1, seed: 21
        ).generate()
        // Without labels and with every uniform row written out: a different system altogether.
        let plain = try chain.expanded().withClusters(nil)
        for target in [try TargetSet(states: [7 * 12 + 3], stateCount: chain.stateCount), try TargetSet(cluster: 5, of: chain)] {
            let byClusters = try ExactSolver(method: .clusters).hittingTimes(chain, target: target)
            let general = try ExactSolver().hittingTimes(plain, target: target)
            #expect(general.method == .general)
            #expect(Self.relativeError(byClusters.hittingTimes, general.hittingTimes) < 1e-12)
            #expect(byClusters.errorEstimate < 1e-12 && general.errorEstimate < 1e-12)
        }
    }

    @Test func sparseClusterEliminationOfALongRing() throws {
        // Clusters of 200 on a ring: banded, so the cluster phases stay sparse (small clusters
        // above all go dense), with the entry states as kept rows.
        let chain = try GeneratorSpec(
            clusters: 4, clusterSize: 200, kernel: .ring(1), topology: .tree, sources: 2, epsilon: .fixed(1e-7), seed: 4
        ).generate()
        let target = try TargetSet(states: [3 * 200 + 50], stateCount: chain.stateCount)
        let byClusters = try ExactSolver(method: .clusters).hittingTimes(chain, target: target)
        let general = try ExactSolver().hittingTimes(try chain.withClusters(nil), target: target)
        #expect(byClusters.hittingTimes[0] > 1e9)
        #expect(Self.relativeError(byClusters.hittingTimes, general.hittingTimes) < 1e-12)
    }

    // MARK: Unreachable targets and bad input

    @Test func unreachableTargetIsAnErrorNamingTheStates() throws {
        // 0 -> 1 or 2; 1 -> target 3; 2 is absorbing: from 0 the target is missed with probability 1/2.
        let chain = try Self.chain(states: 4, [(0, 1, 0.5), (0, 2, 0.5), (1, 3, 1), (2, 2, 1), (3, 3, 1)])
        let solution = try ExactSolver.hittingTimes(chain, target: try TargetSet(states: [3], stateCount: 4))
        #expect(solution.hittingTimes == [.infinity, 1, .infinity, 0])
        #expect(try solution.expected(from: try StartDistribution(state: 1, stateCount: 4)) == 1)
        #expect {
            try solution.expected(from: try StartDistribution(weights: [(0, 0.1), (1, 0.9)], stateCount: 4))
        } throws: { error in
            let e = error as? ChainError
            return e?.reason == .unreachable && e?.row == 0
                && e?.message.contains("from state 0 the walk can reach state 2, from which no path leads to the target") == true
        }
        #expect {
            try solution.expected(from: try StartDistribution(state: 2, stateCount: 4))
        } throws: { error in
            (error as? ChainError)?.message.contains("no path leads from state 2 to the target") == true
        }
    }

    @Test func targetBehindTheStartOnTheChainTopology() throws {
        let chain = try GeneratorSpec(clusters: 3, clusterSize: 10, kernel: .permutations(3), topology: .chain).generate()
        let solution = try ExactSolver.hittingTimes(chain, target: try TargetSet(states: [0], stateCount: 30))
        #expect(solution.hittingTimes[0] == 0)
        #expect(solution.hittingTimes.dropFirst().allSatisfy { $0 == .infinity })
        #expect(throws: ChainError.self) { try solution.expected(from: try StartDistribution(uniformOn: 2, of: chain)) }
    }

    @Test func badInputIsReported() throws {
        let plain = try Self.chain(states: 2, [(0, 1, 1), (1, 0, 1)])
        #expect {
            try ExactSolver(method: .clusters).hittingTimes(plain, target: try TargetSet(states: [1], stateCount: 2))
        } throws: { ($0 as? ChainError)?.reason == .badLabel }
        #expect {
            try ExactSolver.hittingTimes(plain, target: try TargetSet(states: [1], stateCount: 200))
        } throws: { ($0 as? ChainError)?.reason == .badState }
        #expect(throws: ChainError.self) { try MetaChain(plain) }
    }

    // MARK: Meta-chain

    /// Clusters {0, 1}, {2, 3}, {4}; the numbers below are solved by hand.
    static func smallLabelledChain() throws -> Chain {
        try chain(states: 5, [
            (0, 0, 0.5), (0, 1, 0.3), (0, 2, 0.2),
            (1, 0, 0.6), (1, 1, 0.2), (1, 4, 0.1), (1, 3, 0.1),
            (2, 3, 1),
            (3, 2, 0.5), (3, 0, 0.5),
            (4, 4, 1),
        ], labels: [0, 0, 1, 1, 2])
    }

    @Test func metaChainMatchesHandComputation() throws {
        let meta = try MetaChain(try Self.smallLabelledChain())
        let close = { (a: Double, b: Double) in abs(a - b) < 1e-15 }
        #expect(close(meta.probability(from: 0, to: 1), 0.15))
        #expect(close(meta.probability(from: 0, to: 2), 0.05))
        #expect(close(meta.probability(from: 0, to: 0), 0.8))
        #expect(close(meta.probability(from: 1, to: 0), 0.25))
        #expect(close(meta.probability(from: 1, to: 1), 0.75))
        #expect(meta.probability(from: 1, to: 2) == 0 && meta.probability(from: 2, to: 2) == 1)
        #expect(meta.destinations[meta.rowOffsets[0]..<meta.rowOffsets[1]] == [1, 2])

        // From uniform on {0, 1}: P(enter C_1) = 9/11, P(enter C_2) = 2/11, mean exit time 5.
        let exit = try meta.exit(from: 0)
        #expect(exit.destinations.clusters == [1, 2])
        #expect(abs(exit.destinations.probability(of: 1) - 9.0 / 11) < 1e-15)
        #expect(abs(exit.destinations.probability(of: 2) - 2.0 / 11) < 1e-15)
        #expect(abs(exit.expectedTime - 5) < 1e-14)
        let back = try meta.escapeDistribution(from: 1)
        #expect(back.clusters == [0] && abs(back.probabilities[0] - 1) < 1e-15)
        #expect {
            try meta.expectedExitTime(from: 2)
        } throws: { error in
            (error as? ChainError)?.message.contains("may never leave it") == true
        }
        #expect(throws: ChainError.self) { try meta.exit(from: 3) }
    }

    @Test(arguments: [DenseKernel.uniform, .permutations(3), .ring(1)])
    func escapeLawsSumToOneAndMatchTheSolver(kernel: DenseKernel) throws {
        let chain = try GeneratorSpec(
            clusters: 6, clusterSize: 10, kernel: kernel, topology: .random(2), sources: 2,
            epsilon: .logUniform(1e-8, 1e-4), seed: 5
        ).generate()
        let meta = try MetaChain(chain)
        let labels = try #require(chain.clusters)
        for k in 0..<6 {
            let exit = try meta.exit(from: k)
            #expect(abs(exit.destinations.probabilities.reduce(0, +) - 1) < 1e-13)
            #expect(exit.destinations.clusters == Array(meta.destinations[meta.rowOffsets[k]..<meta.rowOffsets[k + 1]]))
            // The exit time is the hitting time of everything outside C_k.
            let outside = (0..<chain.stateCount).filter { labels[$0] != k }
            let outsideTarget = try TargetSet(states: outside, stateCount: chain.stateCount)
            let solution = try ExactSolver.hittingTimes(chain, target: outsideTarget)
            let time = try solution.expected(from: try StartDistribution(uniformOn: k, of: chain))
            #expect(abs(exit.expectedTime - time) / time < 1e-13)
        }
    }

    @Test func uniformClusterExitTimeIsSizeOverSparseMass() throws {
        let chain = try GeneratorSpec(
            clusters: 4, clusterSize: 50, kernel: .uniform, topology: .chain, sources: 3,
            epsilon: .logUniform(1e-9, 1e-6), seed: 2
        ).generate()
        let meta = try MetaChain(chain)
        for k in 0..<3 {
            let sparse = meta.probabilities[meta.rowOffsets[k]..<meta.rowOffsets[k + 1]].reduce(0, +) * 50
            let exit = try meta.exit(from: k)
            #expect(abs(exit.expectedTime - 50 / sparse) / exit.expectedTime < 1e-13)
            #expect(exit.destinations.clusters == [k + 1] && abs(exit.destinations.probabilities[0] - 1) < 1e-13)
        }
    }
}
