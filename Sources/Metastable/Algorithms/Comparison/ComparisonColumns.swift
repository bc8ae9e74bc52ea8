/// Where each method's result sits among its own report's values: the exact and Monte Carlo
/// E[τ] of the chain it produced, and the compute it spent on producing it.
struct ComparisonColumns: Sendable {
    var method: String
    var label: String
    /// The exact E[τ] (the distilled chain's E[τ⁺] for distillation).
    var exact: String
    /// The Monte Carlo mean and its 95% interval.
    var mean: String
    var lower: String
    var upper: String
    /// The samples or steps the method spent (search steps, RL rollout steps, data steps).
    var compute: String

    static let all: [ComparisonColumns] = [
        .init(method: "base", label: "base chain", exact: "hitting_time", mean: "hitting_time_mc",
              lower: "hitting_time_mc_lower", upper: "hitting_time_mc_upper", compute: "steps"),
        .init(method: "pretraining", label: "pretrained", exact: "exact_learned", mean: "mc_learned",
              lower: "mc_learned_lower", upper: "mc_learned_upper", compute: "samples"),
        .init(method: "prm", label: "search + PRM", exact: "exact_prm", mean: "mc_prm", lower: "mc_prm_lower",
              upper: "mc_prm_upper", compute: "search_steps"),
        .init(method: "ppo", label: "PPO-Clip", exact: "ppo_exact_hitting_time_final", mean: "ppo_mc_hitting_time_final",
              lower: "ppo_mc_lo_final", upper: "ppo_mc_hi_final", compute: "ppo_steps"),
        .init(method: "distill", label: "distilled (E[τ⁺])", exact: "distilled_hitting_time", mean: "distilled_hitting_time_mc",
              lower: "distilled_hitting_time_mc_lower", upper: "distilled_hitting_time_mc_upper", compute: "data_steps"),
    ]

    /// The comparison's name for a value of this method: `ppo.ppo_steps`.
    func key(_ value: String) -> String { "\(method).\(value)" }
}
