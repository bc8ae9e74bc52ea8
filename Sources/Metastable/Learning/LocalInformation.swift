import Foundation

/// The limit of local information (paper-notes §6; Kim, Wu, Lee, Suzuki, ICML 2025, §5),
/// reconstructed as a simulation: how well can a learner compute the logical value of a
/// reasoning path when it sees only local information, and how does that change with K?
///
/// ## The task
/// A chain of K clusters of M states (`GeneratorSpec`: kernel `permutations(d)`, topology
/// `chain`, one source per cluster, `decoysPerCluster` decoys, all hard edges of probability ε).
/// Every edge carries an element of Z_2: dense edges the identity, sparse edges a uniform bit
/// (the hard steps carry the information), decoys a uniform bit too, so that a decoy looks
/// like a sparse edge in probability and in bit law. A query is the path of one walk from
/// X_in = state 0 of C_1 until it enters C_K (X_out); it crosses exactly K − 1 sparse edges and
/// about `decoysPerCluster` decoys per cluster. Its logical value is the XOR of the bits on
/// the true sparse edges only: a decoy does not change the cluster, so its bit must be ignored.
/// Every task draws a fresh chain, bits and walk, so nothing carries over between tasks.
///
/// ## The access levels, and the best learner we implement at each
/// Every level knows K (hence that the path holds K − 1 sparse steps), ε and d.
/// - `nothing`: no observation. The learner flips a fair coin: success 1/2.
/// - `path`: for every step, the probability of the transition taken and its bit, in order;
///   no state names and no cluster labels. A step is hard-looking when its probability is below
///   √(ε(1 − ε)/d), between ε and the smallest dense probability. The last step is known to be
///   sparse (the walk stops on entering C_K). The hypotheses consistent with the view are the
///   choices of K − 2 more sparse steps among the other hard-looking ones: C(n − 1, K − 2) for
///   n hard-looking steps. Every one of them has the same likelihood (same probability, same
///   bit law, same waiting-time law up to O(1/M) effects of where a step lands), so the
///   Bayes-optimal answer is the majority logical value over them, counted exactly without
///   enumeration (`ParityVote`). This dominates picking one maximum-likelihood hypothesis,
///   whose success is 1/2 + 1/(2·#hypotheses).
/// - `neighbourhood`: in addition, for each step, the rows of its two endpoints (targets and
///   probabilities), with names private to that step. This is what separates a decoy from a
///   sparse edge locally: a decoy x → y stays in its cluster, so sometimes y is a dense
///   neighbour of x, x a dense neighbour of y, or the two share a dense neighbour; a sparse edge
///   never shows any of these. The learner removes such certified decoys (sound: it never
///   removes a sparse step) and votes over the rest as at `path`. For the other steps the two
///   rows have the same law whether the step is sparse or a decoy, so no more can be learnt
///   locally; the certified fraction is about (2d + d²)/M per decoy, so the number of
///   hypotheses still grows exponentially in K, with a smaller base.
/// - `kernel`: the whole pretrained kernel (without cluster labels) and the path with state
///   names. The learner finds the clusters as the connected components of the dense
///   (above-threshold) edges and XORs the bits of the steps that change component: global
///   structure identifies the sparse edges exactly. One hypothesis; success 1, since the model
///   assumes connected clusters (the rare draws of `permutations(d)` with a disconnected
///   cluster are redrawn and counted in `Report.rejectedChains`).
///
/// Why the local views carry no state names: the walk spends about M/ε steps in each cluster
/// and revisits its states, so names shared across a long path (or the union of the rows of
/// all visited states) let a learner join the states of a cluster and read off the clusters —
/// that is global reasoning over the whole path, the `kernel` level's advantage, not a local
/// rule. The levels here bound what a per-step (radius-1) rule can know.
///
/// ## Running it
/// From code: `try LocalInformationExperiment.run(.init(clusterCounts: [2, 4, 6, 8, 10, 12]))`,
/// then `report.text` for a table or `JSONEncoder` on the report. From the command line:
/// `metastable local-limit --k 2,4,6,8,10,12 --tasks 2000 --seed 1 [--json]`.
public enum LocalInformationExperiment {
    /// What the learner is given.
    public enum Level: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
        case nothing, path, neighbourhood, kernel
        public var description: String { rawValue }
    }

    /// The experiment's parameters. Defaults: K = 2, 4, ..., 12; M = 64; ε = 0.05; d = 3;
    /// 2 decoys per cluster; 1000 tasks per K; seed 1.
    public struct Config: Sendable, Codable, Equatable {
        /// The values of K (clusters per chain) to measure, each at least 2.
        public var clusterCounts: [Int]
        /// M, states per cluster; at least d + 1 + decoysPerCluster.
        public var clusterSize: Int
        /// ε, the probability of every sparse and decoy edge; below 1/(d + 1) so that hard
        /// steps are rarer than dense ones.
        public var epsilon: Double
        /// d of the dense kernel `permutations(d)`.
        public var kernelDegree: Int
        /// Decoy edges per cluster.
        public var decoysPerCluster: Int
        /// Tasks (fresh chain, bits and walk) per K; every level answers the same tasks.
        public var tasksPerK: Int
        public var seed: UInt64

        public init(
            clusterCounts: [Int] = [2, 4, 6, 8, 10, 12], clusterSize: Int = 64, epsilon: Double = 0.05,
            kernelDegree: Int = 3, decoysPerCluster: Int = 2, tasksPerK: Int = 1000, seed: UInt64 = 1
        ) {
            self.clusterCounts = clusterCounts
            self.clusterSize = clusterSize
            self.epsilon = epsilon
            self.kernelDegree = kernelDegree
            self.decoysPerCluster = decoysPerCluster
            self.tasksPerK = tasksPerK
            self.seed = seed
        }

        /// Checks the parameters, naming the first bad one.
        public func validate() throws(ChainError) {
            if let (field, why) = firstProblem { throw ChainError(.badSpec, "\(field): \(why)") }
        }

        /// The first bad parameter, as (property name, why), or nil when all are good; spec
        /// readers map the name to their own field.
        public var firstProblem: (field: String, why: String)? {
            guard !clusterCounts.isEmpty else { return ("clusterCounts", "give at least one K") }
            if let k = clusterCounts.first(where: { !(2...1000).contains($0) }) {
                return ("clusterCounts", "K = \(k) must be in 2...1000 (the task needs a sparse edge)")
            }
            guard kernelDegree >= 1 else { return ("kernelDegree", "must be at least 1, got \(kernelDegree)") }
            guard decoysPerCluster >= 0 else { return ("decoysPerCluster", "must be non-negative, got \(decoysPerCluster)") }
            guard clusterSize >= kernelDegree + 1 + decoysPerCluster, clusterSize <= 1 << 16 else {
                return ("clusterSize", "must be in \(kernelDegree + 1 + decoysPerCluster)...\(1 << 16), got \(clusterSize)")
            }
            guard epsilon > 0, epsilon < 1 / Double(kernelDegree + 1) else {
                return ("epsilon", "must be in (0, 1/(d + 1)) = (0, \(1 / Double(kernelDegree + 1))), got \(epsilon)")
            }
            guard (1...10_000_000).contains(tasksPerK) else { return ("tasksPerK", "must be in 1...10⁷, got \(tasksPerK)") }
            return nil
        }

        /// The probability below which a step looks hard: the geometric mean of ε and the
        /// smallest dense probability (1 − ε)/d.
        var hardThreshold: Double { (epsilon * (1 - epsilon) / Double(kernelDegree)).squareRoot() }
    }

    /// The measurement for one (level, K).
    public struct Row: Sendable, Codable, Equatable {
        public var level: Level
        public var clusters: Int
        public var successes: Int
        public var trials: Int
        public var rate: Double
        /// Wilson 95 % interval of the rate.
        public var interval: WilsonInterval
        /// The mean over tasks of the learner's posterior probability of being right (the
        /// share of consistent hypotheses agreeing with its answer). Its expectation is the
        /// success rate, with far less noise than the 0/1 outcomes: it resolves the advantage
        /// over 1/2 long after the measured rate is indistinguishable from a coin.
        public var expectedRate: Double
        /// Mean number of hypotheses (choices of the sparse steps) consistent with the level's
        /// view; nil at `nothing`, which sees no steps.
        public var meanConsistentHypotheses: Double?
        /// Mean of log10 of that number: the mean above is dominated by rare long paths.
        public var meanLog10ConsistentHypotheses: Double?
        /// Mean number of steps the level could not rule out as sparse (hard-looking steps at
        /// `path`, those left after certification at `neighbourhood`); nil at `nothing`.
        public var meanAmbiguousSteps: Double?
    }

    public struct Report: Sendable, Codable, Equatable {
        public var config: Config
        public var rows: [Row]
        /// Per K (in `config.clusterCounts` order), the mean number of decoy transitions the
        /// paths took, counting those merged with a dense edge (visible as dense, not ambiguous).
        public var meanDecoysVisited: [Double]
        /// Per K, the mean path length in steps.
        public var meanPathLength: [Double]
        /// Per K, chains discarded because a cluster's dense graph was disconnected (the model
        /// assumes connected clusters; see `LocalInformationTask.draw`).
        public var rejectedChains: [Int]

        /// The row for (level, K), if measured.
        public func row(_ level: Level, clusters: Int) -> Row? {
            rows.first { $0.level == level && $0.clusters == clusters }
        }

        /// A readable table, one line per (level, K).
        public var text: String {
            var lines = [
                "limit of local information: M = \(config.clusterSize), ε = \(config.epsilon), permutations(\(config.kernelDegree)), "
                    + "\(config.decoysPerCluster) decoys/cluster, \(config.tasksPerK) tasks per K, seed \(config.seed)",
                pad("level", 14) + pad("K", 4) + pad("success", 9) + pad("95% interval", 17) + pad("exp. adv.", 10) + pad("log10 hyp", 10)
                    + pad("ambiguous", 10) + pad("decoys", 8) + "steps",
            ]
            for row in rows {
                let k = config.clusterCounts.firstIndex(of: row.clusters) ?? 0
                lines.append(
                    pad(row.level.rawValue, 14) + pad("\(row.clusters)", 4) + pad(fixed(row.rate, 3), 9)
                        + pad("[\(fixed(row.interval.lower, 3)), \(fixed(row.interval.upper, 3))]", 17)
                        + pad(String(format: "%.2e", row.expectedRate - 0.5), 10)
                        + pad(row.meanLog10ConsistentHypotheses.map { fixed($0, 2) } ?? "-", 10)
                        + pad(row.meanAmbiguousSteps.map { fixed($0, 1) } ?? "-", 10)
                        + pad(fixed(meanDecoysVisited[k], 1), 8) + fixed(meanPathLength[k], 0))
            }
            let redrawn = zip(config.clusterCounts, rejectedChains).map { "K=\($0): \($1)" }
            lines.append("chains redrawn for a disconnected cluster: " + redrawn.joined(separator: ", "))
            lines.append(
                "exp. adv. = expected success − 1/2 from the learner's posterior; log10 hyp = mean log10 of the "
                    + "consistent hypotheses; ambiguous = steps that may be sparse; decoys, steps = per path")
            return lines.joined(separator: "\n")
        }

        private func pad(_ s: String, _ width: Int) -> String {
            s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
        }

        private func fixed(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
    }

    /// Runs every level on `config.tasksPerK` tasks per K. Deterministic in `config.seed`: task
    /// t at K uses the `.learning` stream at index K·2³² + t.
    /// - Throws: `.badSpec` naming a bad parameter.
    public static func run(_ config: Config) throws(ChainError) -> Report {
        try config.validate()
        var rows = [Row](), decoys = [Double](), lengths = [Double](), rejected = [Int]()
        for k in config.clusterCounts {
            var tally = Level.allCases.map { _ in Tally() }
            var decoySum = 0.0, lengthSum = 0.0, rejectedHere = 0
            for t in 0..<config.tasksPerK {
                var rng = WalkRandom(seed: config.seed, domain: .learning, index: UInt64(k) << 32 | UInt64(t))
                let trial = try Trial(clusters: k, config: config, rng: &rng)
                decoySum += Double(trial.decoysVisited)
                lengthSum += Double(trial.pathLength)
                rejectedHere += trial.rejectedChains
                for i in Level.allCases.indices { tally[i].add(trial.answers[i], truth: trial.truth) }
            }
            for (i, level) in Level.allCases.enumerated() {
                rows.append(tally[i].row(level, clusters: k))
            }
            decoys.append(decoySum / Double(config.tasksPerK))
            lengths.append(lengthSum / Double(config.tasksPerK))
            rejected.append(rejectedHere)
        }
        return Report(
            config: config, rows: rows, meanDecoysVisited: decoys, meanPathLength: lengths, rejectedChains: rejected)
    }

    /// One task and the answer of every level to it: the unit of work of the experiment.
    struct Trial: Equatable {
        /// The answers in `Level.allCases` order.
        var answers: [Learner.Answer]
        var truth: UInt8
        var decoysVisited: Int
        var pathLength: Int
        var rejectedChains: Int

        /// Draws a task with `clusters` clusters from `rng` and asks every level, in order,
        /// with the rest of the same stream.
        init(clusters: Int, config: Config, rng: inout WalkRandom) throws(ChainError) {
            let task = try LocalInformationTask.draw(clusters: clusters, config: config, rng: &rng)
            answers = Level.allCases.map { Learner.answer($0, task: task, clusters: clusters, config: config, rng: &rng) }
            truth = task.truth
            decoysVisited = task.decoysVisited
            pathLength = task.steps.count
            rejectedChains = task.rejectedChains
        }

        init(answers: [Learner.Answer], truth: UInt8, decoysVisited: Int, pathLength: Int, rejectedChains: Int) {
            self.answers = answers
            self.truth = truth
            self.decoysVisited = decoysVisited
            self.pathLength = pathLength
            self.rejectedChains = rejectedChains
        }
    }

    /// Sums over the tasks of one (level, K).
    struct Tally {
        var successes = 0, trials = 0
        var hypotheses = 0.0, log10Hypotheses = 0.0, ambiguous = 0.0, confidence = 0.0
        /// Tasks whose view left exactly one consistent hypothesis.
        var unique = 0
        var sawSteps = false

        mutating func add(_ answer: Learner.Answer, truth: UInt8) {
            trials += 1
            if answer.value == truth { successes += 1 }
            if answer.hypotheses == 1 { unique += 1 }
            confidence += answer.confidence
            if let h = answer.hypotheses, let a = answer.ambiguousSteps {
                sawSteps = true
                hypotheses += h
                log10Hypotheses += log10(max(h, 1))
                ambiguous += Double(a)
            }
        }

        func row(_ level: Level, clusters: Int) -> Row {
            let n = Double(max(trials, 1))
            return Row(
                level: level, clusters: clusters, successes: successes, trials: trials,
                rate: Double(successes) / n, interval: WilsonInterval(successes: successes, trials: trials),
                expectedRate: confidence / n,
                meanConsistentHypotheses: sawSteps ? hypotheses / n : nil,
                meanLog10ConsistentHypotheses: sawSteps ? log10Hypotheses / n : nil,
                meanAmbiguousSteps: sawSteps ? ambiguous / n : nil)
        }
    }
}
