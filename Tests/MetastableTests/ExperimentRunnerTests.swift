import Foundation
import Testing
@testable import Metastable

/// End-to-end checks of the engine: Monte Carlo against the exact solver, with error bars
/// from the samples, and determinism across thread counts.
@Suite("ExperimentRunner")
struct ExperimentRunnerTests {
    static func run(_ yaml: String, threads: Int = 2, file: String? = nil) throws -> ExperimentResults {
        try ExperimentRunner(threads: threads).run(try ExperimentPlan.parse(yaml: yaml, file: file)).0
    }

    /// Every point's Monte Carlo mean is within 4 standard errors of the exact value.
    static func expectAgreement(_ results: ExperimentResults, sourceLocation: SourceLocation = #_sourceLocation) {
        for p in results.points {
            guard let exact = p.exact?.expectedHittingTime, let mean = p.hittingTime.mean,
                let se = p.hittingTime.standardError
            else {
                Issue.record("point \(p.index): missing values", sourceLocation: sourceLocation)
                continue
            }
            #expect(p.hittingTime.censored == 0, sourceLocation: sourceLocation)
            #expect(abs(mean - exact) < 4 * se, "point \(p.index) \(p.parameters): MC \(mean) ± \(se), exact \(exact)", sourceLocation: sourceLocation)
            #expect(se < 0.05 * exact, "the check must have power: SE \(se) vs \(exact)", sourceLocation: sourceLocation)
        }
    }

    @Test func monteCarloMatchesExactOnGeneratedChains() throws {
        let results = try Self.run("""
            name: agreement
            chain: {clusters: 4, cluster_size: 12, kernel: uniform, topology: chain, sources: 2, epsilon: 0.03, decoys: 1, seed: 3}
            target: {cluster: last}
            walks: 4000
            seed: 11
            grid:
              kernel: [uniform, permutations(3), ring(1)]
              topology: [chain, random(2), tree, chain-bidirectional]
            """)
        #expect(results.points.count == 12)
        Self.expectAgreement(results)
        // The closed form exists exactly for the uniform kernel on the chain topology without decoys.
        #expect(results.points.allSatisfy { $0.closedForm == nil })
    }

    @Test func closedFormExactAndMonteCarloAgree() throws {
        let results = try Self.run("""
            chain: {clusters: 5, cluster_size: 20, kernel: uniform, topology: chain, sources: 1, epsilon: [0.01, 0.05], seed: 8}
            start: {cluster: 0}
            target: {cluster: last}
            walks: 4000
            grid:
              seed: [1, 2]
            """)
        Self.expectAgreement(results)
        for p in results.points {
            let closed = try #require(p.closedForm), exact = try #require(p.exact?.expectedHittingTime)
            #expect(abs(closed - exact) <= 1e-9 * exact)
        }
    }

    @Test func monteCarloMatchesExactOnAnImportedMatrixMarketFile() throws {
        // A generated chain written as Matrix Market and read back without labels: the
        // unlabelled solver path and the stored-edge kernel.
        let chain = try GeneratorSpec(clusters: 4, clusterSize: 10, kernel: .permutations(3), topology: .random(2), sources: 1,
                                      epsilon: .fixed(0.04), seed: 21).generate()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("metastable-runner-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try ChainFile.save(chain, to: dir.appendingPathComponent("g.mtx").path)
        let results = try Self.run("""
            chain: {graph: g.mtx}
            start: {distribution: {0: 1, 1: 1, 2: 2}}
            target: [35, 36, 39]
            walks: 4000
            seed: 5
            """, file: dir.appendingPathComponent("spec.yaml").path)
        Self.expectAgreement(results)
        #expect(results.points[0].hardSteps == nil, "no labels: no cluster statistics")
    }

    @Test func resultsDoNotDependOnThreadsOrBatchSize() throws {
        let yaml = """
            chain: {clusters: 3, cluster_size: 16, kernel: permutations(3), sources: 1, epsilon: 0.02, seed: 4}
            walks: 2500
            batch_size: 64
            grid:
              epsilon: [0.02, 0.05]
            """
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let one = try encoder.encode(Self.run(yaml, threads: 1))
        let three = try encoder.encode(Self.run(yaml, threads: 3))
        #expect(one == three)
        let other = try encoder.encode(Self.run(yaml.replacingOccurrences(of: "batch_size: 64", with: "batch_size: 1000"), threads: 2))
        #expect(one == other)
    }

    @Test func batchesRunOneByOneMergeToTheLocalExecutorsResult() throws {
        // What a worker computes for each lease, merged by the coordinator, equals the in-process run.
        let plan = try ExperimentPlan.parse(yaml: """
            chain: {clusters: 3, cluster_size: 10, kernel: permutations(3), sources: 1, epsilon: 0.05, seed: 7}
            walks: 1000
            batch_size: 96
            """)
        let point = try PreparedPoint(plan, point: 0)
        #expect(point.batchCount == 11 && point.batch(10) == 960..<1000)
        var merged = MonteCarloOutcome()
        for b in (0..<point.batchCount).reversed() { merged.merge(try point.runBatch(point.batch(b))) }
        let local = try LocalExecutor(threads: 2).run(point) { _ in }
        #expect(merged == local)
        #expect(merged.hittingTimes.count == 1000 && merged.transitions != nil)
    }

    @Test func cappedWalksAreCensoredAndFlagged() throws {
        let results = try Self.run("""
            chain: {clusters: 4, cluster_size: 50, kernel: uniform, epsilon: 0.001}
            walks: 200
            max_steps: 100
            """)
        let h = results.points[0].hittingTime
        #expect(h.count == 200 && h.censored == 200 && h.meanIsLowerBound)
        #expect(h.mean == 100)
        #expect(results.points[0].steps == 200 * 100)
    }
}
