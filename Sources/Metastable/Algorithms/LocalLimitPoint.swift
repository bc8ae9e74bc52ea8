/// One grid point of the local-limit experiment: one round whose items are tasks.
///
/// Task t uses the stream `AlgorithmRandom.stream(seed: point seed, round: 0, item: t)` for
/// its chain, labels, walk and the learners' coins, so batching and workers cannot change an
/// answer. Input: empty. Output: no walks (an empty outcome, except `steps`: the path steps
/// sampled), and one record per task (`LocalLimitRecords`), in item order.
final class LocalLimitPoint: AlgorithmPoint {
    let configuration: LocalLimitConfiguration
    let experiment: LocalInformationExperiment.Config
    let clusters: Int
    let seed: UInt64

    init(configuration: LocalLimitConfiguration, context: AlgorithmContext) throws {
        self.configuration = configuration
        experiment = try configuration.experimentConfig(context.spec.chain)
        clusters = experiment.clusterCounts[0]
        seed = context.seed
    }

    var batches: [Range<Int>] {
        AlgorithmRound(stage: 0, items: configuration.tasks, batchSize: configuration.tasksPerBatch, label: "").batches
    }

    func runBatch(_ task: RoundTask, batch: Int, items: Range<Int>) throws -> RoundBatchOutput {
        guard task.round == 0, task.stage == 0, task.input.isEmpty else {
            throw LearningError(.badValue, field: "round", "local-limit has one round (0, stage 0, no input), got round \(task.round) stage \(task.stage)")
        }
        guard batches.indices.contains(batch), batches[batch] == items else {
            throw LearningError(.badValue, field: "items", "batch \(batch) is not the tasks \(items)")
        }
        var trials = [LocalInformationExperiment.Trial]()
        var steps: UInt64 = 0
        for t in items {
            var rng = AlgorithmRandom.stream(seed: seed, round: task.round, item: t)
            let trial = try LocalInformationExperiment.Trial(clusters: clusters, config: experiment, rng: &rng)
            steps += UInt64(trial.pathLength)
            trials.append(trial)
        }
        return RoundBatchOutput(outcome: MonteCarloOutcome(steps: steps), payload: LocalLimitRecords.payload(trials))
    }

    func problem(with output: RoundBatchOutput, of task: RoundTask, batch: Int) -> String? {
        guard batches.indices.contains(batch) else { return "round \(task.round) has no batch \(batch)" }
        do {
            let trials = try LocalLimitRecords.trials(output.payload, count: batches[batch].count, clusters: clusters)
            let steps = trials.reduce(UInt64(0)) { $0 + UInt64($1.pathLength) }
            guard output.outcome == MonteCarloOutcome(steps: steps) else {
                return "expected no walks and \(steps) path steps"
            }
        } catch {
            return "\(error)"
        }
        return nil
    }

    func makeDriver() throws -> any AlgorithmDriver {
        LocalLimitDriver(point: self)
    }
}

/// The per-task records of a local-limit batch, flattened into a payload.
///
/// Per task, `counts` holds 4 + 3·L numbers: truth, decoys visited, path length, chains
/// redrawn, then per level (in `Level.allCases` order) the answer, whether the level saw
/// steps (0/1), and its ambiguous steps; `reals` holds 2·L numbers: per level the learner's
/// confidence and its consistent hypotheses (0 when it saw no steps). L = 4 levels.
enum LocalLimitRecords {
    static let levels = LocalInformationExperiment.Level.allCases.count
    static let countsPerTask = 4 + 3 * levels
    static let realsPerTask = 2 * levels

    static func payload(_ trials: [LocalInformationExperiment.Trial]) -> RoundPayload {
        var payload = RoundPayload()
        for trial in trials {
            payload.counts += [UInt64(trial.truth), UInt64(trial.decoysVisited), UInt64(trial.pathLength), UInt64(trial.rejectedChains)]
            for answer in trial.answers {
                payload.counts += [UInt64(answer.value), answer.hypotheses == nil ? 0 : 1, UInt64(answer.ambiguousSteps ?? 0)]
                payload.reals += [answer.confidence, answer.hypotheses ?? 0]
            }
        }
        return payload
    }

    /// The trials of a payload of `count` tasks with `clusters` clusters, checked value by
    /// value: the payload came off the wire.
    static func trials(_ payload: RoundPayload, count: Int, clusters: Int) throws -> [LocalInformationExperiment.Trial] {
        guard payload.counts.count == count * countsPerTask, payload.reals.count == count * realsPerTask else {
            throw LearningError(
                .inconsistent, field: "payload",
                "expected \(count * countsPerTask) counts and \(count * realsPerTask) reals for \(count) tasks")
        }
        func bad(_ why: String) -> LearningError { LearningError(.badValue, field: "payload", why) }
        var trials = [LocalInformationExperiment.Trial]()
        for t in 0..<count {
            let c = Array(payload.counts[t * countsPerTask..<(t + 1) * countsPerTask])
            let r = Array(payload.reals[t * realsPerTask..<(t + 1) * realsPerTask])
            guard c[0] <= 1, c[2] >= UInt64(clusters - 1), c[2] < 1 << 48, c[1] <= c[2], c[3] <= 1000 else {
                throw bad("task \(t): truth, decoys, path length or redrawn chains out of range")
            }
            var answers = [Learner.Answer]()
            for level in 0..<levels {
                let (value, saw, ambiguous) = (c[4 + 3 * level], c[5 + 3 * level], c[6 + 3 * level])
                let (confidence, hypotheses) = (r[2 * level], r[2 * level + 1])
                guard value <= 1, saw <= 1, ambiguous <= c[2], confidence >= 0.5, confidence <= 1,
                      hypotheses.isFinite, hypotheses >= 0
                else { throw bad("task \(t), level \(level): answer out of range") }
                answers.append(Learner.Answer(
                    value: UInt8(value), hypotheses: saw == 1 ? hypotheses : nil, ambiguousSteps: saw == 1 ? Int(ambiguous) : nil,
                    confidence: confidence))
            }
            trials.append(LocalInformationExperiment.Trial(
                answers: answers, truth: UInt8(c[0]), decoysVisited: Int(c[1]), pathLength: Int(c[2]), rejectedChains: Int(c[3])))
        }
        return trials
    }
}
