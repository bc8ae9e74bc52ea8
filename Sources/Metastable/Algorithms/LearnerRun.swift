/// One learner's run on the coordinator: its policy, what every iteration measured, and the
/// round it waits for. Rounds alternate as: evaluation of the pretrained policy (iteration
/// 0), then rollouts and an update per iteration, with an evaluation after the iterations
/// `RLSchedule.evaluateEvery` divides and after the last.
struct LearnerRun {
    enum Learner {
        case ppo(PPOClipConfiguration)
        case reinforce(ReinforceConfiguration)
    }

    let learner: Learner
    /// The iterations the run may take.
    let iterationLimit: Int
    private(set) var policy: SoftmaxPolicy
    /// Row i: after iteration i; row 0 is the pretrained policy.
    private(set) var iterations: [RLIteration]
    /// Monte Carlo hitting times of the policy after iteration i, for the evaluated i.
    private(set) var evaluations: [Int: IntegerSampleSummary] = [:]
    private var finished = false
    private var pending: RLPoint.Stage?

    /// - Parameter evaluated: the Monte Carlo summary of the pretrained policy when another
    ///   run already measured it (the baseline starts where PPO started).
    init(_ learner: Learner, iterationLimit: Int, point: RLPoint, evaluated: IntegerSampleSummary? = nil) {
        self.learner = learner
        self.iterationLimit = iterationLimit
        policy = point.initial
        iterations = [point.edges.measure(
            point.initial, previous: point.initial, initial: point.initial, task: point.task, solve: point.solveExactly,
            iteration: 0, steps: 0, signal: 0)]
        if let evaluated { evaluations[0] = evaluated }
    }

    var name: String {
        switch learner {
        case .ppo: "PPO"
        case .reinforce: "REINFORCE"
        }
    }

    /// The iterations taken so far.
    var iterationCount: Int { iterations.count - 1 }

    /// The next round, or nil when the run is over.
    mutating func nextRound(_ point: RLPoint) -> AlgorithmRound? {
        if evaluations[iterationCount] == nil, finished || iterationCount % point.schedule.evaluateEvery == 0 {
            pending = .evaluation
            return point.round(.evaluation, policy: policy, label: "\(name) iteration \(iterationCount): evaluation")
        }
        guard !finished else { return nil }
        let stage: RLPoint.Stage = switch learner {
        case .ppo: .ppoRollouts
        case .reinforce: .reinforceRollouts
        }
        pending = stage
        return point.round(stage, policy: policy, label: "\(name) iteration \(iterationCount + 1): rollouts")
    }

    /// Takes the outputs of the round `nextRound` returned last, in batch order.
    mutating func finish(_ outputs: [RoundBatchOutput], _ point: RLPoint) throws {
        guard let stage = pending else { throw LearningError(.inconsistent, field: "round", "\(name) asked for no round") }
        pending = nil
        if stage == .evaluation {
            var outcome = MonteCarloOutcome()
            for output in outputs { outcome.merge(output.outcome) }
            evaluations[iterationCount] = outcome.hittingTimes.summary
            return
        }
        let old = policy
        let steps = outputs.reduce(0) { $0 + Int($1.outcome.steps) }
        let signal: Int
        switch learner {
        case .ppo(let configuration):
            var hits = [Int](repeating: 0, count: point.edges.count)
            for output in outputs { for i in hits.indices { hits[i] += Int(output.payload.counts[i]) } }
            PPOClip.update(&policy, hits: hits, edges: point.edges, configuration: configuration)
            signal = hits.reduce(0, +)
            finished = point.edges.allAtCap(policy, cap: configuration.epsilonMax)
        case .reinforce(let configuration):
            var rewarded = [Int](repeating: 0, count: policy.candidateCount)
            for output in outputs { for e in rewarded.indices { rewarded[e] += Int(output.payload.counts[e]) } }
            Reinforce.update(&policy, rewarded: rewarded, rollouts: configuration.rollouts, learningRate: configuration.learningRate)
            signal = rewarded.reduce(0, +)
        }
        iterations.append(point.edges.measure(
            policy, previous: old, initial: point.initial, task: point.task, solve: point.solveExactly,
            iteration: iterationCount + 1, steps: steps, signal: signal))
        if iterationCount == iterationLimit { finished = true }
    }
}
