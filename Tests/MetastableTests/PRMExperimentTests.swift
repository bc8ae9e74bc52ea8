import Foundation
import Testing
@testable import Metastable

@Suite("PRMExperiment")
struct PRMExperimentTests {
    /// K = 4 clusters of 10, ε = 10⁻³, decoys; Ê from search at its defaults.
    static let spec = """
        name: prm-test
        chain: {clusters: 4, cluster_size: 10, kernel: uniform, topology: chain, sources: 1, epsilon: 0.001, decoys: 2, seed: 5}
        start: 0
        target: {cluster: last}
        walks: 1000
        batch_size: 100
        seed: 7
        grid:
          epsilon_max: [0.01, 0.05]
        algorithm:
          name: prm
        """

    @Test func speedUpIsAboutEpsilonMaxOverEpsilon() throws {
        let results = try AlgorithmTestSupport.run(Self.spec)
        #expect(results.points.count == 2)
        for point in results.points {
            let ratio = try #require(point.value("epsilon_ratio"))
            let exact = try #require(point.value("speedup_exact"))
            let mc = try #require(point.value("speedup_mc"))
            print("prm E[τ] base", point.value("exact_base") ?? .nan, point.value("mc_base_lower") ?? .nan, point.value("mc_base_upper") ?? .nan,
                  "prm", point.value("exact_prm") ?? .nan, point.value("mc_prm_lower") ?? .nan, point.value("mc_prm_upper") ?? .nan)
            print("prm ε_max/ε", ratio, "exact", exact, "mc", mc, point.value("speedup_mc_lower") ?? .nan, point.value("speedup_mc_upper") ?? .nan,
                  "recall", point.value("recall") ?? .nan, "search steps ratio", point.value("search_steps_ratio") ?? .nan)
            #expect(point.value("recall") == 1)
            #expect(point.value("false_positives") == 0)
            // Measured: exact speed-up 9.99 and 49.8; Monte Carlo 9.8 (9.3-10.3) and 47.7 (45.3-50.1).
            #expect(abs(exact / ratio - 1) < 0.3)
            #expect(abs(mc / ratio - 1) < 0.3)
            // Each Monte Carlo mean agrees with its exact value within its 95% interval.
            #expect(try #require(point.value("mc_base_lower")) <= point.value("exact_base") ?? 0)
            #expect(try #require(point.value("mc_base_upper")) >= point.value("exact_base") ?? .infinity)
            #expect(try #require(point.value("mc_prm_lower")) <= point.value("exact_prm") ?? 0)
            #expect(try #require(point.value("mc_prm_upper")) >= point.value("exact_prm") ?? .infinity)
        }
    }

    @Test func searchedEdgesGiveTheTrueEdgesChain() throws {
        // With every sparse edge found and no false positive, the PRM chain is the one built
        // from the chain's own sparse edges: same exact E[τ].
        let yaml = AlgorithmTestSupport.replacing("walks: 1000", with: "walks: 20", in: Self.spec)
        let searched = try AlgorithmTestSupport.run(yaml)
        let truth = try AlgorithmTestSupport.run(yaml + "\n  edges: true")
        for (a, b) in zip(searched.points, truth.points) {
            #expect(a.value("recall") == 1)
            #expect(a.value("exact_prm") == b.value("exact_prm"))
            #expect(b.value("search_steps") == 0)
        }
    }

    @Test func sameResultsForAnyThreadCount() throws {
        let yaml = AlgorithmTestSupport.replacing("batch_size: 100", with: "batch_size: 7", in: AlgorithmTestSupport.replacing("walks: 1000", with: "walks: 60", in: Self.spec))
        #expect(try AlgorithmTestSupport.run(yaml, threads: 1) == AlgorithmTestSupport.run(yaml, threads: 3))
    }

    @Test func badParametersAreNamed() {
        func field(_ line: String) -> String? { AlgorithmTestSupport.failingField(Self.spec + "\n  \(line)") }
        let badGrid = AlgorithmTestSupport.replacing("epsilon_max: [0.01, 0.05]", with: "epsilon_max: [0.01, 1.5]", in: Self.spec)
        #expect(AlgorithmTestSupport.failingField(badGrid) == "algorithm.epsilon_max")
        #expect(field("edges: oracle") == "algorithm.edges")
        #expect(field("rollouts: -2") == "algorithm.rollouts")
    }

    @Test func workersRejectABadEdgeList() throws {
        let point = try AlgorithmRunner.prepare(AlgorithmTestSupport.plan(Self.spec), point: 0)
        #expect(throws: LearningError.self) {
            try point.runBatch(RoundTask(round: 2, stage: 2, input: RoundPayload(counts: [1, 2, 3])), batch: 0, items: 0..<100)
        }
        #expect(throws: LearningError.self) {
            try point.runBatch(RoundTask(round: 2, stage: 2, input: RoundPayload(counts: [1, 400])), batch: 0, items: 0..<100)
        }
        #expect(throws: LearningError.self) { try point.runBatch(RoundTask(round: 0, stage: 5), batch: 0, items: 0..<1) }
        let empty = RoundBatchOutput()
        #expect(point.problem(with: empty, of: RoundTask(round: 1, stage: 1), batch: 0) != nil)
    }
}
