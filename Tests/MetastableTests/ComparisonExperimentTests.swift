import Foundation
import Testing
@testable import Metastable

/// The `comparison` experiment (the §7 table) on a scaled-down grid: every method's chain
/// against the base chain, Monte Carlo against exact, and the spec's checks.
@Suite("Comparison experiment")
struct ComparisonExperimentTests {
    static func spec(_ algorithm: String = "", grid: String = "grid: {epsilon: [0.03, 0.01]}") -> String {
        """
        name: comparison-test
        chain: {clusters: 3, cluster_size: 8, kernel: uniform, topology: chain, sources: 1, epsilon: 0.03, seed: 7}
        start: 0
        target: {cluster: last}
        walks: 1000
        batch_size: 250
        seed: 3
        algorithm:
          name: comparison
          pretraining: {transitions_per_step: 512, stage1_steps: 2000, stage2_steps: 1000}
          prm: {epsilon_max: 0.25}
          ppo: {epsilon_max: 0.25, baseline: false, rollouts: 128, horizon: 256, iterations: 40}
          distill: {data_walks: [64], evaluation_walks: 2000}
        \(algorithm)
        \(grid)
        """
    }

    static let results = Result { try AlgorithmTestSupport.run(spec()) }

    @Test("each method's Monte Carlo E[τ] covers its exact value; PRM and PPO-Clip reach (K−1)·M/ε_max, distillation O(K)")
    func methodsDoWhatThePaperSays() throws {
        let results = try Self.results.get()
        #expect(results.points.count == 2)
        for point in results.points {
            for c in ComparisonColumns.all {
                let exact = try #require(point.value(c.key(c.exact)), "\(c.method): no exact value")
                let lower = try #require(point.value(c.key(c.lower))), upper = try #require(point.value(c.key(c.upper)))
                // The 95% interval, widened to about 4 standard errors.
                let slack = (upper - lower) / 2
                #expect(lower - slack <= exact && exact <= upper + slack, "\(c.method) at point \(point.index): \(exact) vs [\(lower), \(upper)]")
                #expect((point.value(c.key(c.compute)) ?? 0) > 0, "\(c.method) spent no compute")
            }
            let base = try #require(point.value("base.hitting_time"))
            let boosted = 2.0 * 8 / 0.25 // (K − 1)·M/ε_max
            for key in ["prm.exact_prm", "ppo.ppo_exact_hitting_time_final"] {
                let value = try #require(point.value(key))
                #expect(value < base / 3 && abs(value / boosted - 1) < 0.3, "\(key) = \(value), (K−1)·M/ε_max = \(boosted)")
            }
            #expect(try #require(point.value("pretraining.spurious_edges")) == 0)
            #expect(abs(try #require(point.value("pretraining.exact_learned")) / base - 1) < 0.1)
            #expect(try #require(point.value("distill.distilled_hitting_time")) <= 3 * 3)
        }
    }

    @Test("1 and 3 threads give identical results")
    func threadsDoNotChangeResults() throws {
        let yaml = Self.spec(grid: "")
        #expect(try AlgorithmTestSupport.run(yaml, threads: 1) == AlgorithmTestSupport.run(yaml, threads: 3))
    }

    @Test("unknown methods, parameters of methods not run, and bad method parameters name their field")
    func specErrors() {
        #expect(AlgorithmTestSupport.failingField(Self.spec("  methods: [ppo, blob]")) == "algorithm.methods[1]")
        #expect(AlgorithmTestSupport.failingField(Self.spec("  methods: [prm, ppo, distill]")) == "algorithm.pretraining")
        #expect(AlgorithmTestSupport.failingField(Self.spec().replacingOccurrences(of: "epsilon_max: 0.25, baseline", with: "epsilon_max: 2, baseline"))
            == "algorithm.ppo.epsilon_max")
    }
}
