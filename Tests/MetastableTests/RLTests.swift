import Foundation
import Testing
@testable import Metastable

@Suite("RL")
struct RLTests {
    static let K = 4, M = 8, epsilon = 1e-2

    /// K clusters of M states in a line, permutation kernel, one sparse edge of ε per cluster;
    /// the task: from state 0 to the last cluster.
    static func setting() throws -> (SoftmaxPolicy, ReasoningTask) {
        let chain = try GeneratorSpec(
            clusters: K, clusterSize: M, kernel: .permutations(3), topology: .chain, epsilon: .fixed(epsilon), seed: 5
        ).generate()
        let task = ReasoningTask(
            start: try StartDistribution(state: 0, stateCount: chain.stateCount),
            target: try TargetSet(cluster: K - 1, of: chain), clusters: chain.clusters)
        return (SoftmaxPolicy(chain: chain), task)
    }

    /// 128 rollouts of 256 steps per iteration, for both learners: H = 256 ≪ K·M/ε = 3200.
    static let rollouts = 128, horizon = 256

    @Test("PPO-Clip lifts the sparse edges to ε_max in ~log(ε_max/ε)/log(1+c) iterations, without drift")
    func ppoReachesCap() throws {
        var (policy, task) = try Self.setting()
        let configuration = PPOClipConfiguration(
            clip: 0.2, epsilonMax: 0.3, rollouts: Self.rollouts, horizon: Self.horizon, iterations: 60, seed: 3)
        let expected = configuration.expectedIterations(from: Self.epsilon)
        let initial = try ExactSolver.hittingTimes(policy.chain(clusters: task.clusters), target: task.target)
            .expected(from: task.start)
        let report = try PPOClip.train(&policy, task: task, configuration: configuration)
        for step in report {
            print("ppo \(step.iteration): sparse p \(step.sparseProbability) (min \(step.minSparseProbability)), drift \(step.driftOffSparse), total drift \(step.totalDriftOffSparse), E[τ] \(step.expectedHittingTime!)")
        }
        let reached = try #require(report.first { $0.sparseProbability >= 0.9 * configuration.epsilonMax })
        print("ppo: 0.9·ε_max after \(reached.iteration) iterations, expected ≈ \(expected); E[τ] \(initial) → \(report.last!.expectedHittingTime!)")
        #expect(Double(reached.iteration) <= 2 * expected)
        #expect(report.allSatisfy { $0.totalDriftOffSparse < 1.0 / Double(Self.M) })
        // Overshoot past the cap is at most one sign step, a factor e^{2η} ≈ 1.05.
        #expect(report.last!.sparseProbability <= 1.1 * configuration.epsilonMax)
        // E[τ] = Θ(K·M/ε_max): (K − 1)·M/ε_max = 80 against (K − 1)·M/ε ≈ 2400 before.
        #expect(report.last!.expectedHittingTime! < initial / 10)
    }

    @Test("REINFORCE with an outcome reward makes far less progress on the same budget")
    func reinforceBaseline() throws {
        let (start, task) = try Self.setting()
        var ppo = start, reinforce = start
        let iterations = 30
        let ppoReport = try PPOClip.train(
            &ppo, task: task,
            configuration: PPOClipConfiguration(
                epsilonMax: 0.3, rollouts: Self.rollouts, horizon: Self.horizon, iterations: iterations,
                solveHittingTime: false, seed: 3))
        // PPO stops once every sparse edge is at the cap: the baseline gets as many iterations,
        // so at most as many sampled steps.
        let baseline = try Reinforce.train(
            &reinforce, task: task,
            configuration: ReinforceConfiguration(
                rollouts: Self.rollouts, horizon: Self.horizon, iterations: ppoReport.count, seed: 3))
        let rewarded = baseline.reduce(0) { $0 + $1.signalTransitions }
        let ppoSteps = ppoReport.reduce(0) { $0 + $1.sampledSteps }
        let baselineSteps = baseline.reduce(0) { $0 + $1.sampledSteps }
        print("reinforce: sparse p \(baseline.last!.sparseProbability) vs PPO \(ppoReport.last!.sparseProbability); steps \(baselineSteps) vs \(ppoSteps); rewarded transitions \(rewarded); E[τ] \(baseline.last!.expectedHittingTime!)")
        #expect(baselineSteps <= ppoSteps)
        #expect(baseline.last!.sparseProbability < 2 * Self.epsilon)
        #expect(baseline.last!.sparseProbability < ppoReport.last!.sparseProbability / 5)
    }

    @Test("bad configurations are rejected, not trapped on")
    func badInput() throws {
        var (policy, task) = try Self.setting()
        #expect(throws: LearningError.self) {
            try PPOClip.train(&policy, task: task, configuration: PPOClipConfiguration(clip: 0))
        }
        #expect(throws: LearningError.self) {
            try PPOClip.train(&policy, task: task, configuration: PPOClipConfiguration(epsilonMax: 1))
        }
        #expect(throws: LearningError.self) { try PPOClip.train(&policy, task: task, sparseEdges: []) }
        #expect(throws: LearningError.self) { try PPOClip.train(&policy, task: task, sparseEdges: [-1]) }
        #expect(throws: LearningError.self) { try PPOClip.candidates(of: [Transition(from: 0, to: 9999)], in: policy) }
        let edges = try PPOClip.candidates(of: PPOClip.sparseEdges(of: policy).map { e in
            Transition(from: policy.rowOffsets.lastIndex { $0 <= e }!, to: Int(policy.columns[e]))
        }, in: policy)
        #expect(edges == PPOClip.sparseEdges(of: policy))
        #expect(throws: LearningError.self) {
            try Reinforce.train(&policy, task: task, configuration: ReinforceConfiguration(rollouts: 0))
        }
    }
}
