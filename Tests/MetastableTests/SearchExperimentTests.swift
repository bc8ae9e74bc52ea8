import Foundation
import Testing
@testable import Metastable

@Suite("SearchExperiment")
struct SearchExperimentTests {
    /// K = 4 clusters of 8 in a chain, ε = 0.05, two decoys per cluster; every search
    /// parameter at its default.
    static let spec = """
        name: search-test
        chain: {clusters: 4, cluster_size: 8, kernel: uniform, topology: chain, sources: 1, epsilon: 0.05, decoys: 2, seed: 3}
        start: 0
        target: {cluster: last}
        seed: 11
        algorithm:
          name: search
          repetitions: 60
        """

    @Test func findsAllSparseEdgesAtTheDefaults() throws {
        let results = try AlgorithmTestSupport.run(Self.spec)
        let point = try #require(results.points.first)
        print("search defaults:", point.values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value ?? .nan)" })
        // Measured: 60 of 60 searches found all 3 sparse edges (Wilson lower bound 0.94).
        #expect(try #require(point.value("p_all_found_lower")) > 0.9)
        // Decoys are never taken for sparse edges; other false positives are rare.
        #expect(point.value("decoy_false_positives") == 0)
        #expect(try #require(point.value("p_no_false_positive_lower")) > 0.8)
        // Steps about a constant times K·M/ε (measured ratio 19.7): the claim's scale, not 10× off.
        let ratio = try #require(point.value("steps_ratio"))
        #expect(ratio > 3 && ratio < 40)
        #expect(point.steps == UInt64(try #require(point.value("steps_mean")) * 60))
        // One round rarely finds all: every rollout starts in the first cluster and records one
        // escape per round, a later one only when T_0 already crossed a sparse edge (measured 0.07).
        let byRounds = try #require(point.table("recovery_by_rounds"))
        #expect(try #require(byRounds.column("p_all_found")?.first ?? nil) < 0.3)
        #expect(byRounds.column("p_all_found")?.last == point.value("p_all_found"))
        #expect(point.table("recovery_by_rollouts")?.column("p_all_found")?.last == point.value("p_all_found"))
    }

    @Test func shortRoundsMissEdges() throws {
        // T_max barely above T_0: a round rarely sees an escape, and recovery collapses.
        let yaml = AlgorithmTestSupport.replacing("repetitions: 60", with: "repetitions: 30\n  t_max_factor: 0.05", in: Self.spec)
        let point = try #require(try AlgorithmTestSupport.run(yaml).points.first)
        print("search short rounds:", point.value("p_all_found") ?? .nan, point.value("steps_ratio") ?? .nan)
        // Measured 0 of 30.
        #expect(try #require(point.value("p_all_found_upper")) < 0.5)
    }

    @Test func sameResultsForAnyThreadCountAndBatchSize() throws {
        let yaml = AlgorithmTestSupport.replacing("repetitions: 60", with: "repetitions: 12\n  rollouts_per_batch: 2", in: Self.spec)
        let one = try AlgorithmTestSupport.run(yaml, threads: 1)
        let three = try AlgorithmTestSupport.run(yaml, threads: 3)
        #expect(one == three)
        let other = try AlgorithmTestSupport.run(AlgorithmTestSupport.replacing("rollouts_per_batch: 2", with: "rollouts_per_batch: 5", in: yaml))
        #expect(other.points[0].values == one.points[0].values)
        #expect(other.points[0].tables == one.points[0].tables)
        #expect(other.points[0].steps == one.points[0].steps)
    }

    @Test func badParametersAreNamed() {
        func field(_ old: String, _ new: String) -> String? {
            AlgorithmTestSupport.failingField(AlgorithmTestSupport.replacing(old, with: new, in: Self.spec))
        }
        #expect(field("repetitions: 60", "repetitions: 0") == "algorithm.repetitions")
        #expect(field("repetitions: 60", "rounds: 0") == "algorithm.rounds")
        #expect(field("repetitions: 60", "t0_factor: -1") == "algorithm.t0_factor")
        #expect(field("repetitions: 60", "t0: 40\n  t_max: 20") == "algorithm.t_max")
        #expect(field("repetitions: 60", "roundz: 3") == "algorithm.roundz")
        // Only the chain shows that T_max is below the derived T_0 (3·8·ln 8 + 8 = 58).
        #expect(field("repetitions: 60", "t_max: 30") == "algorithm.t_max")
    }

    @Test func workersRejectBadTasksAndCoordinatorsBadOutputs() throws {
        let point = try AlgorithmRunner.prepare(AlgorithmTestSupport.plan(Self.spec), point: 0)
        #expect(throws: LearningError.self) { try point.runBatch(RoundTask(round: 0, stage: 0), batch: 0, items: 0..<3) }
        #expect(throws: LearningError.self) { try point.runBatch(RoundTask(round: 1, stage: 0), batch: 0, items: 0..<4) }
        var output = try point.runBatch(RoundTask(round: 0, stage: 0), batch: 0, items: 0..<4)
        #expect(point.problem(with: output, of: RoundTask(round: 0, stage: 0), batch: 0) == nil)
        output.payload.counts.removeLast()
        #expect(point.problem(with: output, of: RoundTask(round: 0, stage: 0), batch: 0) != nil)
    }
}
