import Foundation
import Testing
@testable import Metastable

/// Procedural chains: walks on 10¹⁰ states against the closed form, the same statistics as
/// stored chains of the family, determinism across threads, and spec errors by field.
@Suite("ProceduralChain")
struct ProceduralChainTests {
    static func run(_ yaml: String, threads: Int = 2) throws -> (ExperimentResults, [PointPerformance]) {
        try ExperimentRunner(threads: threads).run(try ExperimentPlan.parse(yaml: yaml))
    }

    /// The procedural chain stored as a Chain: source and landing state at index 0.
    static func materialized(clusters: Int, clusterSize: Int, epsilon: Double, topology: Topology = .chain) throws -> Chain {
        var offsets = [0], columns = [UInt32](), probabilities = [Double](), kinds = [EdgeKind](), uniform = [Double]()
        for x in 0..<clusters * clusterSize {
            let (k, i) = x.quotientAndRemainder(dividingBy: clusterSize)
            let successors: [Int] =
                switch topology {
                case .chain: k + 1 < clusters ? [k + 1] : []
                case .chainBidirectional: [k - 1, k + 1].filter { (0..<clusters).contains($0) }
                default: (0..<clusters).filter { $0 != k }
                }
            if i == 0, !successors.isEmpty {
                for l in successors {
                    columns.append(UInt32(l * clusterSize))
                    probabilities.append(epsilon)
                    kinds.append(.sparse)
                }
                uniform.append(1 - Double(successors.count) * epsilon)
            } else {
                uniform.append(1)
            }
            offsets.append(columns.count)
        }
        return try Chain(
            stateCount: clusters * clusterSize, rowOffsets: offsets, columns: columns, probabilities: probabilities,
            kinds: kinds, uniformMass: uniform, clusters: ClusterLabels(clusterCount: clusters, clusterSize: clusterSize))
    }

    @Test func closedFormEqualsTheStoredRecursion() throws {
        let (k, m, epsilon) = (5, 7, 0.3)
        let chain = try Self.materialized(clusters: k, clusterSize: m, epsilon: epsilon)
        for target in 0..<k {
            let targetSet = try TargetSet(cluster: target, of: chain)
            for s in 0..<k * m {
                let stored = try #require(ClosedForm.hittingTime(
                    chain: chain, start: StartDistribution(state: s, stateCount: k * m), target: targetSet))
                let procedural = ClosedForm.proceduralHittingTime(
                    clusters: UInt64(k), clusterSize: UInt64(m), epsilon: epsilon, startCluster: UInt64(s / m),
                    startIsSource: s % m == 0, targetCluster: UInt64(target))
                if stored.isInfinite {
                    #expect(procedural.isInfinite, "start \(s) target \(target)")
                } else {
                    #expect(abs(stored - procedural) <= 1e-12 * max(1, stored), "start \(s) target \(target): \(stored) vs \(procedural)")
                }
            }
        }
    }

    /// The meta-walk closed forms of the other topologies against the exact solver, from
    /// every state to every cluster.
    @Test(arguments: [(Topology.chainBidirectional, 6), (.chainBidirectional, 2), (.complete, 5), (.complete, 2)])
    func closedFormsEqualTheExactSolver(topology: Topology, clusters k: Int) throws {
        let (m, epsilon) = (7, 0.15)
        let chain = try Self.materialized(clusters: k, clusterSize: m, epsilon: epsilon, topology: topology)
        for target in 0..<k {
            let solution = try ExactSolver.hittingTimes(chain, target: TargetSet(cluster: target, of: chain))
            for s in 0..<k * m {
                let exact = try solution.expected(from: StartDistribution(state: s, stateCount: k * m))
                let closed = ClosedForm.proceduralHittingTime(
                    topology: topology, clusters: UInt64(k), clusterSize: UInt64(m), epsilon: epsilon,
                    startCluster: UInt64(s / m), startIsSource: s % m == 0, targetCluster: UInt64(target))
                #expect(abs(exact - closed) <= 1e-9 * max(1, exact), "\(topology) start \(s) target \(target): \(exact) vs \(closed)")
            }
        }
    }

    /// Walks on the procedural chain of each topology against its closed form, and against
    /// the stored walk on the same chain materialised.
    @Test(arguments: [Topology.chainBidirectional, .complete])
    func otherTopologiesWalkTheirClosedForms(topology: Topology) throws {
        let (k, m, epsilon) = (5, 12, 0.1)
        let walk = try ProceduralWalk(
            chain: GeneratorSpec(clusters: k, clusterSize: m, topology: topology, epsilon: .fixed(epsilon), procedural: true),
            start: .state(2 * m + 3), target: .cluster(.index(0)), maxSteps: 1 << 40, seed: 5)
        let procedural = try walk.outcome(walks: 6000, threads: 2, batchSize: 500).hittingTimes.summary
        let materialized = try Self.materialized(clusters: k, clusterSize: m, epsilon: epsilon, topology: topology)
        let stored = try MonteCarlo.run(
            chain: materialized, start: StartDistribution(state: 2 * m + 3, stateCount: k * m),
            target: TargetSet(cluster: 0, of: materialized), walks: 6000, maxSteps: 1 << 40, seed: 5, batchSize: 500, threads: 2,
            observeClusters: false
        ).hittingTimes.summary
        let (p, se) = (try #require(procedural.mean), try #require(procedural.standardError))
        #expect(abs(p - walk.expectedHittingTime) < 4 * se, "\(topology): MC \(p) ± \(se), closed form \(walk.expectedHittingTime)")
        let seBoth = (se * se + (try #require(stored.standardError)) * (try #require(stored.standardError))).squareRoot()
        #expect(abs(p - (try #require(stored.mean))) < 4 * seBoth, "\(topology): procedural \(procedural) vs stored \(stored)")
    }

    @Test func tenBillionStatesAgreeWithTheClosedForm() throws {
        let (results, performance) = try Self.run("""
            chain: {procedural: true, clusters: 100000, cluster_size: 100000, kernel: uniform, topology: chain, epsilon: 0.5}
            start: 0
            target: {cluster: 2}
            walks: 8000
            batch_size: 500
            """)
        let p = results.points[0]
        #expect(p.chain.states == 10_000_000_000 && p.targetStates == 100_000)
        let exact = try #require(p.exact?.expectedHittingTime)
        #expect(exact == 2 * (1 + 100_000)) // from a source: 2·(1 + (1 − ε)·M/ε)
        #expect(p.closedForm == exact)
        let mean = try #require(p.hittingTime.mean), se = try #require(p.hittingTime.standardError)
        #expect(p.hittingTime.count == 8000 && p.hittingTime.censored == 0)
        #expect(abs(mean - exact) < 4 * se, "MC \(mean) ± \(se), closed form \(exact)")
        #expect(se < 0.05 * exact)
        print("procedural 10^10 states: mean \(mean) ± \(se), closed form \(exact), \(p.steps) steps, "
            + "\(performance[0].stepsPerSecond) steps/s on \(performance[0].threads) threads")
    }

    @Test func smallChainsMatchTheStoredGenerator() throws {
        // Target cluster 1 from a non-source of cluster 0: where the sources are does not
        // matter, so the stored generator's τ has the same law, mean 1 + M/ε.
        let (m, epsilon) = (20, 0.2)
        let stored = try GeneratorSpec(clusters: 3, clusterSize: m, kernel: .uniform, topology: .chain, epsilon: .fixed(epsilon)).generate()
        let storedStart = try #require((0..<m).first { stored.entries(of: $0).isEmpty })
        let chain = "clusters: 3, cluster_size: \(m), kernel: uniform, topology: chain, epsilon: \(epsilon)"
        let (a, _) = try Self.run("chain: {\(chain)}\nstart: \(storedStart)\ntarget: {cluster: 1}\nwalks: 4000")
        let (b, _) = try Self.run("chain: {procedural: true, \(chain)}\nstart: 1\ntarget: {cluster: 1}\nwalks: 4000")
        let (sa, sb) = (a.points[0].hittingTime, b.points[0].hittingTime)
        let difference = try #require(sa.mean) - #require(sb.mean)
        let se = (try #require(sa.standardError) * #require(sa.standardError) + #require(sb.standardError) * #require(sb.standardError)).squareRoot()
        #expect(abs(difference) < 4 * se, "stored \(sa) vs procedural \(sb)")
        #expect(b.points[0].exact?.expectedHittingTime == 1 + Double(m) / epsilon)
        #expect(a.points[0].exact.map { abs($0.expectedHittingTime - (1 + Double(m) / epsilon)) < 1e-9 } == true)

        // Deeper targets: the procedural walk and the stored walk on the same chain, materialised.
        let materialized = try Self.materialized(clusters: 4, clusterSize: 10, epsilon: 0.3)
        let storedOutcome = try MonteCarlo.run(
            chain: materialized, start: StartDistribution(state: 5, stateCount: 40), target: TargetSet(cluster: 3, of: materialized),
            walks: 4000, maxSteps: 1 << 40, seed: 3, batchSize: 500, threads: 2, observeClusters: false)
        let walk = try ProceduralWalk(
            chain: GeneratorSpec(clusters: 4, clusterSize: 10, epsilon: .fixed(0.3), procedural: true),
            start: .state(5), target: .cluster(.index(3)), maxSteps: 1 << 40, seed: 3)
        let proceduralOutcome = try walk.outcome(walks: 4000, threads: 2, batchSize: 500)
        let (s, p) = (storedOutcome.hittingTimes.summary, proceduralOutcome.hittingTimes.summary)
        let se2 = (try #require(s.standardError) * #require(s.standardError) + #require(p.standardError) * #require(p.standardError)).squareRoot()
        #expect(abs(try #require(s.mean) - #require(p.mean)) < 4 * se2, "stored \(s) vs procedural \(p)")
        #expect(abs(try #require(p.mean) - walk.expectedHittingTime) < 4 * (try #require(p.standardError)))
    }

    @Test func threadsAndBatchesDoNotChangeResults() throws {
        let yaml = """
            chain: {procedural: true, clusters: 1000000, cluster_size: 10000, epsilon: 0.5}
            start: 12345
            target: {cluster: 1}
            walks: 600
            batch_size: 64
            """
        let (one, _) = try Self.run(yaml, threads: 1)
        let (three, _) = try Self.run(yaml, threads: 3)
        #expect(one == three)
        let point = try PreparedPoint(try ExperimentPlan.parse(yaml: yaml), point: 0)
        var merged = MonteCarloOutcome()
        for b in (0..<point.batchCount).reversed() { merged.merge(try point.runBatch(point.batch(b))) }
        #expect(merged == (try LocalExecutor(threads: 2).run(point) { _ in }))
        #expect(merged.hittingTimes.summary == one.points[0].hittingTime)
    }

    @Test(arguments: [
        ("kernel", "ring(2)", "needs kernel uniform"),
        ("topology", "tree", "needs topology chain"),
        ("sources", "2", "1 source per cluster"),
        ("decoys", "1", "no decoys"),
        ("epsilon", "[0.01, 0.1]", "fixed ε"),
        ("epsilon", "1.5", "must be in (0, 1)"),
        ("cluster_size", "9223372036854775807", "exceed"),
    ])
    func badChainFieldsAreNamed(key: String, value: String, message: String) {
        var fields = ["procedural": "true", "clusters": "4", "cluster_size": "10", "epsilon": "0.5"]
        fields[key] = value
        let chain = fields.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        // An overflowing K·M is reported at its first factor.
        let field = "chain." + (key == "cluster_size" ? "clusters" : key)
        #expect {
            try ExperimentPlan.parse(yaml: "chain: {\(chain)}")
        } throws: { error in
            guard let error = error as? SpecError else { return false }
            return error.field == field && error.message.contains(message)
        }
    }

    @Test(arguments: [
        ("start: {cluster: 0}\ntarget: {cluster: 1}", "start", "one state"),
        ("start: 40\ntarget: {cluster: 1}", "start", "outside the chain's 40 states"),
        ("start: 0\ntarget: [10]", "target", "one cluster"),
        ("start: 0\ntarget: {cluster: 4}", "target", "does not exist"),
        ("start: 25\ntarget: {cluster: 1}", "target", "cannot be reached"),
    ])
    func badStartsAndTargetsAreNamed(lines: String, field: String, message: String) {
        #expect {
            try Self.run("chain: {procedural: true, clusters: 4, cluster_size: 10, epsilon: 0.5}\n\(lines)")
        } throws: { error in
            guard let error = error as? SpecError else { return false }
            return error.field == field && error.message.contains(message)
        }
    }
}
