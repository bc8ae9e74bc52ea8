/// The coordinator side of the `ppo` and `reinforce` experiments: runs PPO-Clip to the cap
/// (or its iteration limit), then, as a baseline on the same chain and budget, REINFORCE for
/// as many iterations with as many rollouts of the same horizon; or REINFORCE alone.
struct RLDriver: AlgorithmDriver {
    let point: RLPoint
    private var ppo: LearnerRun?
    private var reinforce: LearnerRun?

    init(point: RLPoint) {
        self.point = point
        if let configuration = point.ppo {
            ppo = LearnerRun(.ppo(configuration), iterationLimit: configuration.iterations, point: point)
        } else if let configuration = point.reinforce {
            reinforce = LearnerRun(.reinforce(configuration), iterationLimit: configuration.iterations, point: point)
        }
    }

    mutating func nextRound() throws -> AlgorithmRound? {
        if ppo != nil, let round = ppo!.nextRound(point) { return round }
        if reinforce == nil, let ppo, let configuration = point.reinforce {
            // The baseline starts once PPO is done: it gets PPO's iteration count.
            reinforce = LearnerRun(
                .reinforce(configuration), iterationLimit: ppo.iterationCount, point: point, evaluated: ppo.evaluations[0])
        }
        return reinforce?.nextRound(point)
    }

    mutating func finish(_ outputs: [RoundBatchOutput]) throws {
        if reinforce != nil {
            try reinforce!.finish(outputs, point)
        } else if ppo != nil {
            try ppo!.finish(outputs, point)
        }
    }

    func report() throws -> AlgorithmReport {
        RLReport(point: point, ppo: ppo, reinforce: reinforce).report()
    }
}
