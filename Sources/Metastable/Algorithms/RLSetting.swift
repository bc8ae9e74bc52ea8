/// What both RL experiments build from a grid point: the chain's problem as a task, the
/// pretrained policy, Ê.
struct RLSetting {
    let context: AlgorithmContext
    let policy: SoftmaxPolicy
    let task: ReasoningTask
    let edges: EdgeSet

    init(_ context: AlgorithmContext) throws {
        let (chain, start, target) = try context.problem()
        policy = SoftmaxPolicy(chain: chain)
        let sparse = PPOClip.sparseEdges(of: policy)
        guard !sparse.isEmpty else {
            throw SpecError(field: "chain", "the chain has no sparse edges: Ê is empty and there is nothing to fine-tune")
        }
        self.context = context
        task = ReasoningTask(start: start, target: target, clusters: chain.clusters)
        edges = try EdgeSet(sparse, policy: policy)
    }

    func point(ppo: PPOClipConfiguration?, reinforce: ReinforceConfiguration?, schedule: RLSchedule) -> RLPoint {
        RLPoint(
            seed: context.seed, initial: policy, task: task, edges: edges, ppo: ppo, reinforce: reinforce, schedule: schedule,
            evaluation: RLEvaluation(context.spec), solveExactly: context.spec.exact)
    }
}
