import Foundation
import Testing
@testable import Metastable

/// The `distill` algorithm experiment (Algorithm 4) on scaled-down specs: each claim of
/// experiments/distill*.yaml, with tolerances derived from the data the point collected.
@Suite("DistillExperiment")
struct DistillExperimentTests {
    /// A chain of K clusters of 8 states; `extra` holds the algorithm's parameters and the grid.
    static func spec(_ extra: String, topology: String = "chain", epsilon: String = "0.01") -> String {
        """
        name: distill-test
        chain: {clusters: 3, cluster_size: 8, kernel: permutations(3), topology: \(topology), sources: 1, epsilon: \(epsilon), seed: 5}
        start: 0
        target: {cluster: last}
        seed: 9
        algorithm:
          name: distill
        \(extra)
        """
    }

    static func run(_ yaml: String, threads: Int = 2) throws -> AlgorithmResults {
        try AlgorithmRunner(threads: threads).run(ExperimentPlan.parse(yaml: yaml)).0
    }

    /// K ∈ {3, 6} × ε ∈ {0.01, 0.001} (10x apart), four rounds of data.
    static let grid = Result {
        try run(spec("""
              data_walks: [8, 32, 128, 512]
              evaluation_walks: 4000
            grid:
              clusters: [3, 6]
              epsilon: [0.01, 0.001]
            """))
    }

    static func point(_ results: AlgorithmResults, _ parameters: [String: String]) throws -> AlgorithmPointResult {
        try #require(results.points.first { p in parameters.allSatisfy { p.parameters[$0.key] == $0.value } })
    }

    @Test("E[τ⁺] ≤ 3K, and Monte Carlo on the distilled chain agrees with its exact value")
    func hittingTimeAtMostThreeK() throws {
        let results = try Self.grid.get()
        for p in results.points {
            let k = Double(try #require(Int(p.parameters["clusters"]!)))
            let exact = try #require(p.value("distilled_hitting_time"))
            let mc = try #require(p.value("distilled_hitting_time_mc"))
            let upper = try #require(p.value("distilled_hitting_time_mc_upper"))
            let se = (upper - mc) / IntegerSampleSummary.z95
            print("distill K=\(k) ε=\(p.parameters["epsilon"]!): E[τ⁺] = \(exact), MC \(mc) ± \(1.96 * se), base E[τ] = \(p.value("base_hitting_time")!)")
            #expect(exact <= 3 * k)
            #expect(upper <= 3 * k)
            #expect(abs(mc - exact) <= 3.3 * se, "the Monte Carlo mean is 3.3 standard errors from the exact value")
            // The boosted chain is far faster than the chain it was distilled from.
            #expect(try #require(p.value("base_hitting_time")) > 100 * exact)
        }
    }

    @Test("E[τ⁺] is flat in ε (10x apart) and linear in K − 1")
    func flatInEpsilonLinearInK() throws {
        let results = try Self.grid.get()
        for k in ["3", "6"] {
            let a = try Self.point(results, ["clusters": k, "epsilon": "0.01"])
            let b = try Self.point(results, ["clusters": k, "epsilon": "0.001"])
            for p in [a, b] {
                // With β = log(M/ε), a cluster takes 1 + 1/(1 + δ) ≈ 2 − δ steps, δ the relative
                // error of its exit-rate estimate, about 1/√exits: 3σ of δ/2 bounds the deviation.
                let ideal = try #require(p.value("ideal_hitting_time"))
                let exits = try #require(p.value("min_exits"))
                let measured = try #require(p.value("distilled_hitting_time"))
                #expect(abs(measured - ideal) <= ideal * 1.5 / exits.squareRoot(), "K=\(k) ε=\(p.parameters["epsilon"]!)")
                // Chain topology: every walk leaves each cluster before the target exactly once.
                #expect(exits == p.value("data_walks"))
            }
            let idealA = try #require(a.value("ideal_hitting_time")), idealB = try #require(b.value("ideal_hitting_time"))
            #expect(abs(idealA / idealB - 1) < 0.01)
            // ... while the base chain slows down with 1/ε.
            #expect(try #require(b.value("base_hitting_time")) > 5 * a.value("base_hitting_time")!)
        }
        for epsilon in ["0.01", "0.001"] {
            let small = try #require(Self.point(results, ["clusters": "3", "epsilon": epsilon]).value("distilled_hitting_time"))
            let large = try #require(Self.point(results, ["clusters": "6", "epsilon": epsilon]).value("distilled_hitting_time"))
            // E[τ⁺] ≈ 2(K − 1): the ratio is 5/2 up to the per-point deviations allowed above (≤ 7% each).
            #expect(abs(large / small / 2.5 - 1) < 0.15, "ε=\(epsilon): \(large) / \(small)")
        }
    }

    @Test("E[τ⁺] is flat in M (8 to 32) while the base chain slows down 4x")
    func flatInClusterSize() throws {
        let results = try Self.run(
            Self.spec("""
                  data_walks: [256]
                  evaluation_walks: 1000
                grid:
                  cluster_size: [8, 32]
                """, epsilon: "0.003"))
        for p in results.points {
            let ideal = try #require(p.value("ideal_hitting_time"))
            let exits = try #require(p.value("min_exits"))
            // As in the ε test: 3σ of half the exit-rate error.
            #expect(abs(try #require(p.value("distilled_hitting_time")) - ideal) <= ideal * 1.5 / exits.squareRoot())
        }
        let (small, large) = (results.points[0], results.points[1])
        #expect(abs(small.value("ideal_hitting_time")! / large.value("ideal_hitting_time")! - 1) < 0.01)
        #expect(try #require(large.value("base_hitting_time")) > 3 * small.value("base_hitting_time")!)
    }

    @Test("TV(q̂, q) falls with data, at the rate of an iid sample")
    func errorFallsWithData() throws {
        let results = try Self.grid.get()
        for p in results.points {
            let table = try #require(p.table("data"))
            let mean = try #require(table.column("mean_row_tv")).map { try #require($0) }
            let iid = try #require(table.column("iid_row_tv")).map { try #require($0) }
            let max = try #require(table.column("max_row_tv")).map { try #require($0) }
            print("distill TV K=\(p.parameters["clusters"]!) ε=\(p.parameters["epsilon"]!): mean \(mean), iid \(iid)")
            // 64x the data: an iid sample's error falls 8x; ask for at least 2x.
            #expect(mean.last! < mean.first! / 2)
            #expect(max.last! < max.first!)
            // Walk data are not iid, but their error stays within a small factor of that rate
            // (only from above: a mean of a few |errors| can come out small by chance).
            for (m, i) in zip(mean, iid) { #expect(m < 3 * i) }
        }
    }

    @Test("escape laws: estimated from data, unchanged by the boost")
    func escapeLawsKept() throws {
        let results = try Self.run(
            Self.spec("""
                  data_walks: [16, 256, 4096]
                  evaluation_walks: 1000
                grid:
                  clusters: [4]
                """, topology: "complete", epsilon: "[0.001, 0.01]"))
        let table = try #require(results.points.first?.table("data"))
        let escape = try #require(table.column("max_escape_tv")).map { try #require($0) }
        let exits = try #require(table.column("min_exits")).map { try #require($0) }
        let shift = try #require(table.column("boost_escape_shift")).map { try #require($0) }
        print("distill escape TV \(escape) at min exits \(exits)")
        #expect(escape.last! < escape.first! / 2)
        // An empirical law over 3 destinations from n exits is ≈ √(3/n)/2 away in TV; allow 4x.
        #expect(escape.last! < 2 * (3 / exits.last!).squareRoot())
        #expect(shift.allSatisfy { $0 < 1e-12 })
    }

    @Test("β sensitivity: from the base chain's E[τ] at β = 0 down to ≤ 3K past log(M/ε)")
    func betaSensitivity() throws {
        let results = try Self.run(
            Self.spec("""
                  data_walks: [64, 256]
                  evaluation_walks: 500
                grid:
                  beta: [0, 3, 6, 9, 12]
                """, epsilon: "0.001"))
        let times = try results.points.map { try #require($0.value("distilled_hitting_time")) }
        print("distill β sweep: \(times)")
        #expect(zip(times, times.dropFirst()).allSatisfy { $0 > $1 })
        let first = results.points[0], last = results.points[4]
        let exits = try #require(first.value("min_exits"))
        let base = try #require(first.value("base_hitting_time"))
        // Without a boost the model is as slow as the chain, up to its exit-rate error.
        #expect(abs(times[0] / base - 1) < 3 / exits.squareRoot())
        // β = 12 > log(8/0.001) ≈ 9: exits take little more than one step.
        #expect(times[4] <= 3 * 3 && times[4] >= 2)
        #expect(try #require(last.value("beta")) == 12)
    }

    @Test("1 and 3 threads give identical results")
    func threadsDoNotChangeResults() throws {
        let yaml = Self.spec("""
              data_walks: [8, 24]
              walks_per_batch: 3
              evaluation_walks: 2500
            grid:
              epsilon: [0.01, 0.002]
            """)
        let one = try Self.run(yaml, threads: 1), three = try Self.run(yaml, threads: 3)
        #expect(one == three)
        #expect(one.points.allSatisfy { $0.rounds == 3 && $0.value("distilled_hitting_time_mc") != nil })
    }

    @Test("bad parameters are rejected, naming the field")
    func specErrors() throws {
        for (parameters, field) in [
            ("  data_walks: [64, 16]", "algorithm.data_walks"), ("  walk_per_batch: 3", "algorithm.walk_per_batch"),
            ("  beta: -1", "algorithm.beta"), ("  evaluation_walks: 0", "algorithm.evaluation_walks"),
        ] {
            let error = #expect(throws: SpecError.self) { try ExperimentPlan.parse(yaml: Self.spec(parameters)) }
            #expect(error?.field == field)
        }
        // A target that is not a whole cluster has no meta-chain hitting time.
        let plan = try ExperimentPlan.parse(yaml: Self.spec("").replacingOccurrences(of: "{cluster: last}", with: "20"))
        let error = #expect(throws: SpecError.self) { try AlgorithmRunner(threads: 1).run(plan) }
        #expect(error?.field == "target")
    }

    @Test("worker outputs and inputs off the wire are checked, not trusted")
    func wireChecks() throws {
        let plan = try ExperimentPlan.parse(yaml: Self.spec("  data_walks: [4]"))
        let point = try AlgorithmRunner.prepare(plan, point: 0)
        let task = RoundTask(round: 0, stage: 0)
        let good = try point.runBatch(task, batch: 0, items: 0..<4)
        #expect(point.problem(with: good, of: task, batch: 0) == nil)
        var truncated = good
        truncated.outcome.transitions = nil
        #expect(point.problem(with: truncated, of: task, batch: 0) != nil)
        #expect(point.problem(with: good, of: task, batch: 1) != nil)
        #expect(throws: LearningError.self) { try point.runBatch(task, batch: 0, items: 0..<9) }
        let evaluate = RoundTask(round: 1, stage: 1, input: RoundPayload(reals: [0.5, 0.5, 0, 0, 1]))
        #expect(throws: LearningError.self) { try point.runBatch(evaluate, batch: 0, items: 0..<1000) }
    }
}
