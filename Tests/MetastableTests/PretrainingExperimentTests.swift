import Foundation
import Testing
@testable import Metastable

@Suite("PretrainingExperiment")
struct PretrainingExperimentTests {
    /// K = 3 clusters of 6, ε = 0.05, a decoy per cluster; pretraining at its defaults.
    static let spec = """
        name: pretraining-test
        chain: {clusters: 3, cluster_size: 6, kernel: uniform, topology: chain, sources: 1, epsilon: 0.05, decoys: 1, seed: 2}
        start: 0
        target: {cluster: last}
        walks: 2000
        seed: 3
        algorithm:
          name: pretraining
        """

    /// A short run for the tests that do not need convergence.
    static let short = AlgorithmTestSupport.replacing("walks: 2000", with: "walks: 100", in: spec)
        + "\n  stage1_steps: 300\n  stage2_steps: 200\n  checkpoint_interval: 100\n  steps_per_batch: 7"

    @Test func recoversTheSupportAtTheDefaults() throws {
        let point = try #require(try AlgorithmTestSupport.run(Self.spec).points.first)
        print("pretraining defaults:", point.values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value ?? .nan)" })
        #expect(point.value("support_recovered") == 1)
        #expect(point.value("spurious_edges") == 0 && point.value("lost_edges") == 0)
        #expect(point.value("outside_support") == 0)
        // Measured: max-row TV 0.40 at W = 0, 0.038 after stage 1, 0.025 at the end.
        let tv = try #require(point.table("training"))
        let first = try #require(tv.rows.first?[2] ?? nil), final = try #require(point.value("final_max_tv"))
        #expect(final < 0.04)
        #expect(final < (point.value("stage1_max_tv") ?? 0) && 10 * final < first)
        // Measured: exact E[τ] 240.8 against 244.1 (−1.3%); Monte Carlo ratio 0.97 ± 0.03.
        #expect(abs(try #require(point.value("exact_relative_error"))) < 0.1)
        let lower = try #require(point.value("mc_ratio_lower")), upper = try #require(point.value("mc_ratio_upper"))
        #expect(lower < 1.1 && upper > 0.9)
        #expect(point.steps > 3_000_000) // the transitions drawn, then the walks
    }

    @Test func matchesTheLibraryRun() throws {
        // The distributed rounds draw the batches `Pretraining.run` draws, and step the same way.
        let plan = try AlgorithmTestSupport.plan(Self.short)
        let point = try #require(try AlgorithmRunner(threads: 2).run(plan).0.points.first)
        let spec = plan.points[0].spec
        let chain = try ChainLoader.load(spec.chain)
        let config = PretrainingConfig(stage1Steps: 300, stage2Steps: 200, checkpointInterval: 100, seed: AlgorithmContext(spec: spec, pointIndex: 0).seed)
        let (_, report) = try Pretraining.run(chain: chain, config: config)
        #expect(point.value("final_max_tv") == report.finalDistance.max)
        #expect(point.value("final_mean_tv") == report.finalDistance.mean)
        #expect(point.value("candidates_after") == Double(report.candidatesAfterPruning))
        let tv = try #require(point.table("training")?.column("mean_tv"))
        #expect(Array(tv.dropFirst()) == report.checkpoints.map(\.meanRowTV))
    }

    @Test func aThresholdAboveEpsilonLosesTheSparseEdges() throws {
        let yaml = Self.short + "\n  prune_threshold: 0.1"
        let point = try #require(try AlgorithmTestSupport.run(yaml).points.first)
        #expect(point.value("support_recovered") == 0)
        #expect(try #require(point.value("lost_edges")) >= 2) // the two sparse edges at least
        #expect(point.value("exact_learned") == nil) // the last cluster is out of reach
        #expect(point.value("mc_learned") == nil) // so no walk was started on the learned chain
    }

    @Test func sameResultsForAnyThreadCount() throws {
        #expect(try AlgorithmTestSupport.run(Self.short, threads: 1) == AlgorithmTestSupport.run(Self.short, threads: 3))
    }

    @Test func badParametersAreNamed() {
        func field(_ new: String) -> String? {
            AlgorithmTestSupport.failingField(Self.spec + "\n  \(new)")
        }
        #expect(field("learning_rate: -1") == "algorithm.learning_rate")
        #expect(field("prune_threshold: 1") == "algorithm.prune_threshold")
        #expect(field("stage1_steps: -5") == "algorithm.stage1_steps")
        #expect(field("batch: 3") == "algorithm.batch")
    }

    @Test func workersRejectBadTasksAndCoordinatorsBadOutputs() throws {
        let point = try AlgorithmRunner.prepare(AlgorithmTestSupport.plan(Self.short), point: 0)
        #expect(throws: LearningError.self) { try point.runBatch(RoundTask(round: 0, stage: 1), batch: 0, items: 0..<8) }
        #expect(throws: LearningError.self) {
            try point.runBatch(RoundTask(round: 5, stage: 4, input: RoundPayload(reals: [1], counts: [1])), batch: 0, items: 0..<100)
        }
        var output = try point.runBatch(RoundTask(round: 0, stage: 1), batch: 0, items: 0..<7)
        #expect(point.problem(with: output, of: RoundTask(round: 0, stage: 1), batch: 0) == nil)
        output.payload.counts[0] += 1
        #expect(point.problem(with: output, of: RoundTask(round: 0, stage: 1), batch: 0) != nil)
    }
}
