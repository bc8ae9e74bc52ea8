import Foundation
import Testing
@testable import Metastable

/// The `local-limit` algorithm experiment (§6) on a scaled-down spec: every claim of
/// experiments/local-limit.yaml, with tolerances from the Wilson intervals measured.
@Suite("LocalLimitExperiment")
struct LocalLimitExperimentTests {
    static func spec(_ algorithm: String = "", chain: String = "kernel: permutations(3), epsilon: 0.05", grid: String) -> String {
        """
        name: local-limit-test
        chain: {clusters: 2, cluster_size: 64, topology: chain, sources: 1, decoys: 2, \(chain)}
        seed: 17
        algorithm:
          name: local-limit
        \(algorithm)
        grid:
          clusters: \(grid)
        """
    }

    static func run(_ yaml: String, threads: Int = 2) throws -> AlgorithmResults {
        try AlgorithmRunner(threads: threads).run(ExperimentPlan.parse(yaml: yaml)).0
    }

    static let ks = [2, 3, 5, 8]
    static let results = Result { try run(spec("  tasks: 400\n  tasks_per_batch: 40", grid: "[2, 3, 5, 8]")) }

    static func value(_ name: String, k: Int) throws -> Double {
        let results = try Self.results.get()
        let point = try #require(results.points.first { $0.parameters["clusters"] == "\(k)" })
        return try #require(point.value(name), "\(name) at K = \(k)")
    }

    @Test("global access succeeds on every task at every K")
    func globalAlwaysSucceeds() throws {
        for k in Self.ks {
            #expect(try Self.value("success_kernel", k: k) == 1)
            #expect(try Self.value("hypotheses_kernel", k: k) == 1)
        }
    }

    @Test(arguments: ["path", "neighbourhood"])
    func localSuccessFallsWithK(level: String) throws {
        let rates = try Self.ks.map { try Self.value("success_\(level)", k: $0) }
        let lower = try Self.ks.map { try Self.value("success_\(level)_lower", k: $0) }
        let upper = try Self.ks.map { try Self.value("success_\(level)_upper", k: $0) }
        print("local-limit \(level): success \(rates)")
        // K = 2: the one sparse step is the last, so local views are exact.
        #expect(rates[0] == 1)
        // K = 3 is clearly better than K = 8: the intervals do not overlap.
        #expect(lower[1] > upper[3])
        // By K = 8 the level is a coin within its interval.
        #expect(lower[3] <= 0.5 && 0.5 <= upper[3])
        // The posterior advantage over a coin falls at every K (a low-noise view of the decay).
        let advantage = try Self.ks.map { try Self.value("advantage_\(level)", k: $0) }
        #expect(zip(advantage, advantage.dropFirst()).allSatisfy { $0 > $1 }, "\(advantage)")
    }

    @Test("paths with a unique hypothesis: (1 + D)^−(K−1), and the success bound it gives")
    func uniqueHypothesesFollowTheory() throws {
        let results = try Self.results.get()
        for point in results.points {
            let k = try #require(Int(point.parameters["clusters"]!))
            let table = try #require(point.table("levels"))
            let path = table.rows[LocalInformationExperiment.Level.allCases.firstIndex(of: .path)!]
            let column = { (name: String) in path[table.columns.firstIndex(of: name)!] }
            let (lo, hi) = (try #require(column("unique_lower")), try #require(column("unique_upper")))
            let theory = try #require(point.value("theory_unique"))
            print("local-limit K=\(k): unique at path level in [\(lo), \(hi)], theory \(theory)")
            #expect(lo <= theory && theory <= hi, "K = \(k)")
            // A Bayes learner is right on unique paths and at least a coin on the rest.
            #expect(try #require(point.value("success_path_upper")) >= point.value("theory_local")!)
        }
    }

    @Test("knowing nothing is a coin")
    func nothingIsACoin() throws {
        let results = try Self.results.get()
        let trials = results.points.count * 400
        let successes = try results.points.reduce(0) { $0 + Int((try #require($1.value("success_nothing")) * 400).rounded()) }
        let pooled = WilsonInterval(successes: successes, trials: trials)
        #expect(pooled.lower <= 0.5 && 0.5 <= pooled.upper, "\(successes)/\(trials)")
    }

    @Test("1 and 3 threads give identical results")
    func threadsDoNotChangeResults() throws {
        let yaml = Self.spec("  tasks: 30\n  tasks_per_batch: 4", grid: "[3, 4]")
        let one = try Self.run(yaml, threads: 1), three = try Self.run(yaml, threads: 3)
        #expect(one == three)
        #expect(one.points.allSatisfy { $0.batches == 8 })
    }

    @Test("bad parameters are rejected, naming the field")
    func specErrors() throws {
        let error = #expect(throws: SpecError.self) { try ExperimentPlan.parse(yaml: Self.spec("  tasks: 0", grid: "[3]")) }
        #expect(error?.field == "algorithm.tasks")
        for (chain, field) in [
            ("kernel: uniform, epsilon: 0.05", "chain.kernel"), ("kernel: permutations(3), epsilon: 0.3", "chain.epsilon"),
            ("kernel: permutations(3), epsilon: [0.01, 0.05]", "chain.epsilon"),
        ] {
            let plan = try ExperimentPlan.parse(yaml: Self.spec(chain: chain, grid: "[3]"))
            let error = #expect(throws: SpecError.self) { try AlgorithmRunner(threads: 1).run(plan) }
            #expect(error?.field == field)
        }
    }

    @Test("worker outputs and inputs off the wire are checked, not trusted")
    func wireChecks() throws {
        let plan = try ExperimentPlan.parse(yaml: Self.spec("  tasks: 6\n  tasks_per_batch: 3", grid: "[3]"))
        let point = try AlgorithmRunner.prepare(plan, point: 0)
        let task = RoundTask(round: 0, stage: 0)
        let good = try point.runBatch(task, batch: 1, items: 3..<6)
        #expect(point.problem(with: good, of: task, batch: 1) == nil)
        var bad = good
        bad.payload.reals[0] = 0.2 // a confidence below 1/2
        #expect(point.problem(with: bad, of: task, batch: 1) != nil)
        bad = good
        bad.payload.counts.removeLast()
        #expect(point.problem(with: bad, of: task, batch: 1) != nil)
        #expect(point.problem(with: good, of: task, batch: 2) != nil)
        #expect(throws: LearningError.self) { try point.runBatch(task, batch: 1, items: 3..<7) }
        #expect(throws: LearningError.self) { try point.runBatch(RoundTask(round: 1, stage: 0), batch: 0, items: 0..<3) }
    }
}
