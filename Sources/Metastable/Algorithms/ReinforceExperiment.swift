/// `algorithm: {name: reinforce, ...}`: the outcome-reward baseline alone (paper-notes §4):
/// REINFORCE with reward 1 for a rollout from X_in that reaches X_out within the horizon.
/// The `ppo` experiment runs it beside PPO-Clip; this one runs it on its own budget.
///
/// Each iteration is one round of rollouts of the current policy, whose batches return the
/// steps of rewarded rollouts per candidate; the coordinator takes the gradient step
/// (`Reinforce.update`) and solves E[τ] exactly. Ê (the chain's true sparse edges) is only
/// measured, never used for learning.
///
/// Parameters (defaults): `learning_rate` (1), `rollouts` (64), `horizon` (512),
/// `iterations` (100), `rollouts_per_batch`, `evaluate_every` (`RLSchedule`). Evaluation
/// walks come from the spec's `walks`, `batch_size`, `max_steps`.
public struct ReinforceExperiment: AlgorithmConfiguration {
    public static let name = "reinforce"
    public static let summary =
        "REINFORCE with reward 1 on reaching the target: with a horizon far below K·M/ε almost no rollout is rewarded, so the sparse edges barely move"

    public static let tableValues: [String]? = [
        "sparse_mean_initial", "reinforce_sparse_mean_final", "reinforce_max_total_drift", "exact_hitting_time_initial",
        "reinforce_exact_hitting_time_final", "reinforce_mc_hitting_time_final", "reinforce_mc_standard_error_final",
        "reinforce_signal",
    ]

    var reinforce: ReinforceConfiguration
    var schedule: RLSchedule

    public init(_ parameters: AlgorithmParameters) throws(SpecError) {
        let (rollouts, horizon, iterations) = try RLSchedule.budget(parameters)
        reinforce = ReinforceConfiguration(
            learningRate: try parameters.double("learning_rate", default: 1, .above(0)), rollouts: rollouts, horizon: horizon,
            iterations: iterations)
        schedule = try RLSchedule(parameters)
    }

    public func prepare(_ context: AlgorithmContext) throws -> any AlgorithmPoint {
        try RLSetting(context).point(ppo: nil, reinforce: reinforce, schedule: schedule)
    }

    public static func figures(gridParameters: [String]) -> [FigureSpec] {
        [
            FigureSpec(
                file: "sparse-probability.png", title: "Sparse-edge probability per iteration (REINFORCE)",
                table: "iterations", x: "iteration", xLabel: "iteration", yLabel: "p̂ on Ê",
                series: [
                    .init("reinforce_sparse_mean", label: "mean over Ê"), .init("reinforce_sparse_min", label: "min over Ê"),
                ],
                logY: true, groupBy: "point"),
            FigureSpec(
                file: "hitting-time.png", title: "E[τ] under REINFORCE", table: "iterations", x: "iteration",
                xLabel: "iteration", yLabel: "E[τ] (steps)",
                series: [
                    .init("reinforce_exact_hitting_time", label: "exact"),
                    .init("reinforce_mc_mean", label: "Monte Carlo (95%)", lower: "reinforce_mc_lo", upper: "reinforce_mc_hi"),
                ],
                logY: true, groupBy: "point"),
        ]
    }
}
