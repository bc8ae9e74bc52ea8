import Foundation

/// `algorithm: {name: ppo, ...}`: PPO-Clip fine-tuning with the sparse-edge advantage
/// (paper-notes §4, Algorithm 3), with the outcome-reward REINFORCE baseline beside it.
///
/// The policy starts as the chain itself (pretraining at its ideal); Ê is the chain's true
/// sparse edges (what search finds when it succeeds, §3). Each iteration is one round of
/// rollouts of the old policy, whose batches return how often each edge of Ê was sampled;
/// the coordinator takes the PPO step (`PPOClip.update`) and solves E[τ] exactly.
/// Monte Carlo E[τ] is measured at the iterations `RLSchedule` names. Then, unless
/// `baseline: false`, REINFORCE runs on the same chain for as many iterations with as many
/// rollouts of the same horizon (from X_in, cut on reaching X_out: never more steps).
///
/// Parameters (defaults): `clip` c (0.2), `epsilon_max` ε_max (0.25), `step_size` η
/// (log(1 + c)/8), `inner_steps` (64), `rollouts` (64), `horizon` (512), `iterations` (100),
/// `rollout_start` (`uniform` on all states, or `start`: the spec's start), `baseline`
/// (true), `learning_rate` of the baseline (1), and `rollouts_per_batch`, `evaluate_every`
/// (`RLSchedule`). Evaluation walks come from the spec's `walks`, `batch_size`, `max_steps`.
public struct PPOExperiment: AlgorithmConfiguration {
    public static let name = "ppo"
    public static let summary =
        "PPO-Clip with advantage 1 on the sparse edges lifts them to ε_max in about log(ε_max/ε)/log(1+c) iterations without drift elsewhere; outcome-reward REINFORCE beside it"

    /// The end-of-run table: the claim's numbers, then the baseline's.
    public static let tableValues: [String]? = [
        "predicted_iterations", "iterations_to_target", "ppo_max_total_drift", "drift_bound", "exact_hitting_time_initial",
        "ppo_exact_hitting_time_final", "ppo_mc_hitting_time_final", "ppo_mc_standard_error_final",
        "reinforce_sparse_mean_final", "reinforce_exact_hitting_time_final",
    ]

    var ppo: PPOClipConfiguration
    var baseline: ReinforceConfiguration?
    var startsAtSpecStart: Bool
    var schedule: RLSchedule

    public init(_ parameters: AlgorithmParameters) throws(SpecError) {
        let (rollouts, horizon, iterations) = try RLSchedule.budget(parameters)
        ppo = PPOClipConfiguration(
            clip: try parameters.double("clip", default: 0.2, .open(0, 1)),
            stepSize: try parameters.optionalDouble("step_size", .above(0)),
            innerSteps: try parameters.int("inner_steps", default: 64, min: 1),
            epsilonMax: try parameters.double("epsilon_max", default: 0.25, .open(0, 1)),
            rollouts: rollouts, horizon: horizon, iterations: iterations)
        startsAtSpecStart = try parameters.string("rollout_start", default: "uniform", allowed: ["uniform", "start"]) == "start"
        let learningRate = try parameters.double("learning_rate", default: 1, .above(0))
        if try parameters.bool("baseline", default: true) {
            baseline = ReinforceConfiguration(learningRate: learningRate, rollouts: rollouts, horizon: horizon, iterations: iterations)
        }
        schedule = try RLSchedule(parameters)
    }

    public func prepare(_ context: AlgorithmContext) throws -> any AlgorithmPoint {
        let setting = try RLSetting(context)
        var ppo = self.ppo
        ppo.rolloutStart = startsAtSpecStart ? setting.task.start : nil
        let probabilities = setting.policy.probabilities()
        let epsilon = setting.edges.edges.map { probabilities[$0] }.min()!
        guard epsilon < ppo.epsilonMax else {
            throw SpecError(
                field: "algorithm.epsilon_max",
                "must be above the sparse edges' smallest probability \(epsilon): there is nothing to fine-tune")
        }
        return setting.point(ppo: ppo, reinforce: baseline, schedule: schedule)
    }

    public static func figures(gridParameters: [String]) -> [FigureSpec] {
        // Per-iteration figures of a grid over c and another parameter show the default c = 0.2
        // only, one line per value of the other: one line per point is unreadable.
        let clip = gridParameters.first { $0.hasSuffix("clip") }
        let other = gridParameters.first { $0 != clip }
        let slice: (groupBy: String?, only: [String: Double]) =
            clip != nil && other != nil ? (other, [clip!: 0.2]) : (gridParameters.first ?? "point", [:])
        return [
            FigureSpec(
                file: "sparse-probability.png", title: "Sparse-edge probability per iteration", table: "iterations",
                x: "iteration", xLabel: "iteration", yLabel: "p̂ on Ê",
                series: [
                    .init("ppo_sparse_min", label: "PPO-Clip, min over Ê"),
                    .init("predicted_sparse", label: "min(ε_max, ε(1+c)^i)", theory: true),
                    .init("reinforce_sparse_mean", label: "REINFORCE, mean over Ê"),
                ],
                logY: true, groupBy: slice.groupBy, only: slice.only),
            FigureSpec(
                file: "drift.png", title: "Total-variation drift off Ê", table: "iterations", x: "iteration",
                xLabel: "iteration", yLabel: "max_x TV off Ê (zero not drawn)",
                series: [
                    .init("ppo_total_drift", label: "PPO-Clip, since pretraining"),
                    .init("reinforce_total_drift", label: "REINFORCE, since pretraining"),
                    .init("drift_bound", label: "1/M", theory: true),
                ],
                logY: true, groupBy: slice.groupBy, only: slice.only),
            FigureSpec(
                file: "hitting-time.png", title: "E[τ] of the fine-tuned chain", table: "iterations", x: "iteration",
                xLabel: "iteration", yLabel: "E[τ] (steps)",
                series: [
                    .init("ppo_exact_hitting_time", label: "PPO-Clip, exact"),
                    .init("ppo_mc_mean", label: "PPO-Clip, Monte Carlo (95%)", lower: "ppo_mc_lo", upper: "ppo_mc_hi"),
                    .init("reinforce_exact_hitting_time", label: "REINFORCE, exact"),
                    .init(
                        "reinforce_mc_mean", label: "REINFORCE, Monte Carlo (95%)", lower: "reinforce_mc_lo",
                        upper: "reinforce_mc_hi"),
                ],
                logY: true, groupBy: slice.groupBy, only: slice.only),
            FigureSpec(
                file: "iterations.png", title: "Iterations to 0.9·ε_max: measured vs log(ε_max/ε)/log(1+c)",
                table: "summary", x: "predicted_iterations", xLabel: "predicted iterations",
                yLabel: "measured iterations (min over Ê ≥ 0.9·ε_max)",
                series: [
                    .init("iterations_to_target", label: "PPO-Clip"),
                    .init("twice_predicted", label: "2 × predicted (the acceptance bound)", theory: true),
                ],
                groupBy: gridParameters.first { $0.hasSuffix("clip") }, diagonal: true),
        ]
    }
}
