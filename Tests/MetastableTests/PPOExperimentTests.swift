import Foundation
import Testing
@testable import Metastable

/// The `ppo` and `reinforce` algorithm experiments, on scaled-down specs: four clusters of
/// eight states in a line, ε = 0.01 and 0.03, rollouts of 256 steps: H ≪ (K − 1)·M/ε.
@Suite("PPO experiment")
struct PPOExperimentTests {
    static func plan(_ algorithm: String, grid: String = "") throws -> ExperimentPlan {
        try ExperimentPlan.parse(yaml: """
            name: ppo-test
            chain: {clusters: 4, cluster_size: 8, kernel: permutations(3), topology: chain, epsilon: 0.01, seed: 5}
            start: 0
            target: {cluster: last}
            walks: 4000
            batch_size: 1000
            seed: 11
            algorithm: {\(algorithm)}
            \(grid)
            """)
    }

    static let ppo = "name: ppo, epsilon_max: 0.3, rollouts: 64, rollouts_per_batch: 16, horizon: 256, iterations: 60"

    @Test("PPO-Clip reaches 0.9·ε_max within twice log(ε_max/ε)/log(1+c) iterations, drifts less than 1/M off Ê, and E[τ] matches Monte Carlo")
    func ppoClaim() throws {
        let (results, _) = try AlgorithmRunner(threads: 2).run(Self.plan(Self.ppo, grid: "grid: {epsilon: [0.01, 0.03]}"))
        #expect(results.points.count == 2)
        for point in results.points {
            let predicted = try #require(point.value("predicted_iterations"))
            let reached = try #require(point.value("iterations_to_target"), "point \(point.index) never reached 0.9·ε_max")
            let drift = try #require(point.value("ppo_max_total_drift"))
            let bound = try #require(point.value("drift_bound"))
            let exact = try #require(point.value("ppo_exact_hitting_time_final"))
            let mc = try #require(point.value("ppo_mc_hitting_time_final"))
            let se = try #require(point.value("ppo_mc_standard_error_final"))
            let before = try #require(point.value("exact_hitting_time_initial"))
            print("ppo point \(point.index): 0.9·ε_max at \(reached) (predicted \(predicted)); drift \(drift) < \(bound); E[τ] \(before) → exact \(exact), Monte Carlo \(mc) ± \(se)")
            #expect(reached <= 2 * predicted)
            #expect(drift < bound)
            // The Monte Carlo mean of 4000 walks lies within 4 of its standard errors of the truth.
            #expect(abs(mc - exact) <= 4 * se)
            // Every sparse edge at ε_max: E[τ] falls by about ε_max/ε (≥ 10 here).
            #expect(exact < before / 5)
            // The table has a row per iteration and Monte Carlo where evaluations ran.
            let table = try #require(point.table("iterations"))
            #expect(table.rows.count == Int(try #require(point.value("ppo_iterations"))) + 1)
            #expect(try #require(table.column("ppo_mc_mean")).compactMap { $0 }.count >= 2)
        }
    }

    @Test("the REINFORCE baseline gets the same iterations and at most the same steps, and barely moves Ê")
    func baseline() throws {
        let (results, _) = try AlgorithmRunner(threads: 2).run(Self.plan(Self.ppo))
        let point = try #require(results.points.first)
        let iterations = try #require(point.value("ppo_iterations"))
        let epsilon = try #require(point.value("sparse_mean_initial"))
        let sparse = try #require(point.value("reinforce_sparse_mean_final"))
        let exact = try #require(point.value("reinforce_exact_hitting_time_final"))
        let mc = try #require(point.value("reinforce_mc_hitting_time_final"))
        let se = try #require(point.value("reinforce_mc_standard_error_final"))
        print("reinforce: sparse p \(epsilon) → \(sparse) after \(iterations) iterations; E[τ] exact \(exact), Monte Carlo \(mc) ± \(se)")
        #expect(point.value("reinforce_iterations") == iterations)
        #expect(try #require(point.value("reinforce_steps")) <= (try #require(point.value("ppo_steps"))))
        #expect(sparse < 2 * epsilon)
        #expect(sparse < (try #require(point.value("ppo_sparse_mean_final"))) / 5)
        #expect(abs(mc - exact) <= 4 * se)
    }

    @Test("1 and 3 threads give identical results for both algorithms", arguments: [
        Self.ppo,
        "name: reinforce, rollouts: 48, rollouts_per_batch: 8, horizon: 256, iterations: 6, evaluate_every: 3, learning_rate: 4",
    ])
    func threadCountDoesNotMatter(algorithm: String) throws {
        let plan = try Self.plan(algorithm)
        let (one, _) = try AlgorithmRunner(threads: 1).run(plan)
        let (three, _) = try AlgorithmRunner(threads: 3).run(plan)
        #expect(one == three)
        #expect(try one.jsonData() == three.jsonData())
        // The rounds had several batches each, so the threads really shared them.
        #expect(one.points[0].batches > 2 * one.points[0].rounds)
    }

    @Test("bad parameters are rejected naming the field", arguments: [
        ("name: ppo, clip: 1.5", "algorithm.clip"),
        ("name: ppo, clipp: 0.2", "algorithm.clipp"),
        ("name: ppo, rollout_start: middle", "algorithm.rollout_start"),
        ("name: ppo, rollouts: 0", "algorithm.rollouts"),
        ("name: reinforce, learning_rate: -1", "algorithm.learning_rate"),
        ("name: reinforce, clip: 0.2", "algorithm.clip"),
    ])
    func specErrors(algorithm: String, field: String) throws {
        let error = try #require(throws: SpecError.self) { try Self.plan(algorithm) }
        #expect(error.field == field)
    }

    @Test("an ε_max below the sparse edges is rejected when the point is prepared, naming the field")
    func epsilonMaxBelowEpsilon() throws {
        let plan = try Self.plan("name: ppo, epsilon_max: 0.005")
        let error = try #require(throws: SpecError.self) { try AlgorithmRunner.prepare(plan, point: 0) }
        #expect(error.field == "algorithm.epsilon_max")
    }

    @Test("batches reject malformed inputs and the coordinator flags malformed outputs")
    func offTheWire() throws {
        let point = try AlgorithmRunner.prepare(Self.plan(Self.ppo), point: 0)
        var driver = try point.makeDriver()
        let round = try #require(try driver.nextRound())
        let task = RoundTask(round: 0, stage: round.stage, input: round.input)
        let good = try point.runBatch(task, batch: 0, items: round.batches[0])
        #expect(point.problem(with: good, of: task, batch: 0) == nil)

        var short = task
        short.input.reals.removeLast()
        #expect(throws: LearningError.self) { try point.runBatch(short, batch: 0, items: round.batches[0]) }
        var notFinite = task
        notFinite.input.reals[0] = .nan
        #expect(throws: LearningError.self) { try point.runBatch(notFinite, batch: 0, items: round.batches[0]) }
        #expect(throws: LearningError.self) { try point.runBatch(RoundTask(round: 0, stage: 7, input: task.input), batch: 0, items: 0..<1) }
        #expect(throws: LearningError.self) { try point.runBatch(task, batch: 0, items: 0..<1_000_000) }

        var missingWalks = good
        missingWalks.outcome = MonteCarloOutcome()
        #expect(point.problem(with: missingWalks, of: task, batch: 0) != nil)
        #expect(point.problem(with: good, of: task, batch: 99) != nil)
        let rollouts = RoundTask(round: 1, stage: RLPoint.Stage.ppoRollouts.rawValue, input: task.input)
        let sampled = try point.runBatch(rollouts, batch: 0, items: 0..<16)
        #expect(point.problem(with: sampled, of: rollouts, batch: 0) == nil)
        var inflated = sampled
        inflated.payload.counts[0] = sampled.outcome.steps + 1
        #expect(point.problem(with: inflated, of: rollouts, batch: 0) != nil)
        var extra = sampled
        extra.payload.counts.append(0)
        #expect(point.problem(with: extra, of: rollouts, batch: 0) != nil)
    }
}
