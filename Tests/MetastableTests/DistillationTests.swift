import Foundation
import Testing
@testable import Metastable

@Suite("Distillation")
struct DistillationTests {
    /// K clusters of M states, uniform kernel, one sparse edge of probability ε per cluster.
    static func chain(
        clusters: Int, size: Int, epsilon: EpsilonSpec, topology: Topology = .chain, seed: UInt64 = 7
    ) throws -> Chain {
        try GeneratorSpec(
            clusters: clusters, clusterSize: size, kernel: .permutations(3), topology: topology, epsilon: epsilon,
            seed: seed
        ).generate()
    }

    /// Transitions of `walks` CoT runs from state 0 to the last cluster.
    static func counts(_ chain: Chain, walks: Int, maxSteps: UInt64 = 1 << 24, seed: UInt64 = 11) throws -> TransitionCounts {
        let last = chain.clusters!.clusterCount - 1
        return try MetaChainDistiller.collect(
            chain: chain, start: StartDistribution(state: 0, stateCount: chain.stateCount),
            target: TargetSet(cluster: last, of: chain), walks: walks, maxSteps: maxSteps, seed: seed, threads: 2)
    }

    @Test("the TV error of q̂ against the exact q falls with the data")
    func errorFallsWithData() throws {
        let chain = try Self.chain(clusters: 4, size: 8, epsilon: .fixed(1e-2))
        let exact = try MetaChain(chain)
        var previous = Double.infinity, previousExit = Double.infinity
        for walks in [4, 64, 1024] {
            let model = try MetaChainDistiller.fit(Self.counts(chain, walks: walks), beta: 0)
            let errors = try MetaChainDistiller.errors(of: model, against: exact)
            print("distill data: \(model.totalSteps) steps, max row TV \(errors.maxRowTV), mean \(errors.meanRowTV), exit rel. error \(errors.maxRelativeExitError)")
            #expect(errors.rowsWithData == 3)
            #expect(errors.maxRowTV < previous)
            #expect(errors.maxRelativeExitError < previousExit)
            previous = errors.maxRowTV
            previousExit = errors.maxRelativeExitError
        }
        // 1024 walks: ~10⁴ exits per row, a relative error of a few per cent at most.
        #expect(previousExit < 0.1)
    }

    @Test("escape laws: q̂ matches q, and β leaves them unchanged")
    func escapePreserved() throws {
        let chain = try Self.chain(clusters: 5, size: 8, epsilon: .logUniform(2e-3, 2e-2), topology: .complete)
        let exact = try MetaChain(chain)
        let beta = MetaChainDistiller.defaultBeta(clusterSize: 8, epsilon: 2e-3)
        let model = try MetaChainDistiller.fit(Self.counts(chain, walks: 2000), beta: beta)
        let errors = try MetaChainDistiller.errors(of: model, against: exact)
        print("distill escape: TV vs exact \(errors.maxEscapeTV), shift by β \(errors.maxBoostEscapeShift), \(model.totalSteps) steps")
        // ~1000 exits per row over ≤ 4 destinations: the TV of an empirical law is about
        // √(#destinations / exits)/2 ≈ 0.03; 0.08 leaves room for the worst of 4 rows.
        #expect(errors.maxEscapeTV < 0.08)
        #expect(errors.maxBoostEscapeShift < 1e-12)
    }

    @Test("distilled E[τ⁺] ≤ 3K and flat in ε and M")
    func hittingTimeFlat() throws {
        let K = 6
        var times = [Double]()
        for epsilon in [1e-2, 1e-3] {
            for size in [8, 32] {
                let chain = try Self.chain(clusters: K, size: size, epsilon: .fixed(epsilon))
                // Enough walks for ≥ 100 exits per row: the exit estimate is within ~20%.
                let model = try MetaChainDistiller.fit(
                    Self.counts(chain, walks: 100), beta: MetaChainDistiller.defaultBeta(clusterSize: size, epsilon: epsilon))
                let boosted = try model.expectedHittingTime(from: 0, to: K - 1)
                let base = try ExactSolver.hittingTimes(chain, target: TargetSet(cluster: K - 1, of: chain))
                    .expected(from: StartDistribution(state: 0, stateCount: chain.stateCount))
                print("distill ε=\(epsilon) M=\(size): E[τ⁺] = \(boosted), base chain E[τ] = \(base)")
                #expect(boosted <= 3 * Double(K))
                times.append(boosted)
            }
        }
        // With β = log(M/ε) and an exit estimate (1+δ)·ε/M, a cluster takes 1 + (1 − a)/(1 + δ)
        // ≈ 2 − δ steps: |δ| ≲ 0.2 at 100+ exits moves E[τ⁺] by ≲ 10%; allow 25% spread.
        #expect(times.max()! / times.min()! < 1.25)
    }

    @Test("β sensitivity: E[τ⁺] falls from ~K·M/ε at β = 0 towards K − 1")
    func betaSensitivity() throws {
        let K = 5, M = 8, epsilon = 1e-2
        let chain = try Self.chain(clusters: K, size: M, epsilon: .fixed(epsilon))
        let counts = try Self.counts(chain, walks: 200)
        let base = MetaChainDistiller.defaultBeta(clusterSize: M, epsilon: epsilon)
        var previous = Double.infinity
        for beta in [0, base - 2, base, base + 2, base + 6] {
            let time = try MetaChainDistiller.fit(counts, beta: beta).expectedHittingTime(from: 0, to: K - 1)
            print("distill β=\(beta): E[τ⁺] = \(time)")
            #expect(time < previous)
            #expect(time >= Double(K - 1))
            if beta == 0 { #expect(abs(time / (Double(K - 1) * Double(M) / epsilon) - 1) < 0.2) }
            previous = time
        }
        #expect(previous < 1.1 * Double(K - 1))
    }

    @Test("bad input is rejected, not trapped on")
    func badInput() throws {
        let counts = TransitionCounts(clusterCount: 3)
        #expect(throws: ChainError.self) { try MetaChainDistiller.fit(counts, pseudoCount: -1, beta: 1) }
        #expect(throws: ChainError.self) { try MetaChainDistiller.fit(counts, beta: .nan) }
        let model = try MetaChainDistiller.fit(counts, beta: 1)
        #expect(model.fittedRow(1).allSatisfy { abs($0 - 1.0 / 3) < 1e-15 })
        #expect(throws: ChainError.self) { try model.expectedHittingTime(from: 0, to: 7) }
        let chain = try Self.chain(clusters: 2, size: 4, epsilon: .fixed(0.1))
        #expect(throws: ChainError.self) { try MetaChainDistiller.errors(of: model, against: MetaChain(chain)) }
    }
}

extension DistillationTests {
    @Test("a given map from states to clusters replaces the chain's labels")
    func givenLabels() throws {
        let chain = try Self.chain(clusters: 4, size: 8, epsilon: .fixed(1e-2))
        // Merge clusters 0 and 1, as a search that missed their sparse edge would.
        let merged = try ClusterLabels(labels: chain.clusters!.labels.map { $0 == 0 ? 0 : $0 - 1 })
        let counts = try MetaChainDistiller.collect(
            chain: chain, labels: merged, start: StartDistribution(state: 0, stateCount: chain.stateCount),
            target: TargetSet(cluster: 3, of: chain), walks: 256, maxSteps: 1 << 24, seed: 11)
        #expect(counts.clusterCount == 3)
        let model = try MetaChainDistiller.fit(counts, beta: MetaChainDistiller.defaultBeta(clusterSize: 16, epsilon: 1e-2))
        let errors = try MetaChainDistiller.errors(of: model, against: MetaChain(chain.expanded().withClusters(merged)))
        #expect(errors.rowsWithData == 2)
        #expect(errors.maxRelativeExitError < 0.25)
        #expect(try model.expectedHittingTime(from: 0, to: 2) <= 3 * 3)
        #expect(throws: (any Error).self) {
            try MetaChainDistiller.collect(
                chain: chain, labels: ClusterLabels(clusterCount: 2, clusterSize: 3),
                start: StartDistribution(state: 0, stateCount: chain.stateCount),
                target: TargetSet(cluster: 3, of: chain), walks: 1, maxSteps: 10, seed: 1)
        }
    }
}
