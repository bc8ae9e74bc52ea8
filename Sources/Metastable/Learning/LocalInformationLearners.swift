import Foundation

/// The best learner we implement at each access level (see `LocalInformationExperiment`).
/// Each reads only its level's view of the task, never the task's labels or kinds.
enum Learner {
    struct Answer: Equatable {
        /// The logical value the learner outputs.
        var value: UInt8
        /// Hypotheses consistent with the view; nil when the level sees no steps.
        var hypotheses: Double?
        /// Steps the learner could not rule out as sparse; nil when the level sees no steps.
        var ambiguousSteps: Int?
        /// The learner's own probability that its answer is right, given its view: the share of
        /// consistent hypotheses that agree with it (1/2 for a coin).
        var confidence: Double
    }

    /// The answer of the best learner at `level`. `rng` breaks ties (and is the coin at
    /// `nothing`); it is the task's stream, consumed after the task was drawn.
    static func answer(
        _ level: LocalInformationExperiment.Level, task: LocalInformationTask, clusters: Int,
        config: LocalInformationExperiment.Config, rng: inout WalkRandom
    ) -> Answer {
        switch level {
        case .nothing:
            return Answer(value: coin(&rng), hypotheses: nil, ambiguousSteps: nil, confidence: 0.5)
        case .path:
            let view = task.pathView()
            let hard = view.indices.filter { view[$0].probability < config.hardThreshold }
            return vote(bits: hard.map { view[$0].bit }, sparseSteps: clusters - 1, rng: &rng)
        case .neighbourhood:
            // Only hard-looking steps can be sparse; their neighbourhoods are what is inspected.
            var bits = [UInt8]()
            for (i, e) in task.steps.enumerated() where task.chain.probabilities[e] < config.hardThreshold {
                let view = task.neighbourhoodView(ofStep: i)
                if !certifiedDecoy(view, threshold: config.hardThreshold) { bits.append(view.step.bit) }
            }
            return vote(bits: bits, sparseSteps: clusters - 1, rng: &rng)
        case .kernel:
            let component = denseComponents(task.chain, threshold: config.hardThreshold)
            var value: UInt8 = 0
            for (i, e) in task.steps.enumerated() where component[task.path[i]] != component[task.path[i + 1]] {
                value ^= task.bits[e]
            }
            return Answer(value: value, hypotheses: 1, ambiguousSteps: 0, confidence: 1)
        }
    }

    /// The Bayes-optimal answer when every choice of the sparse steps among `bits` (the
    /// ambiguous steps, in path order) is equally likely: the last is sparse (the walk ends on
    /// it), `sparseSteps − 1` others are chosen among the rest; majority logical value, a coin
    /// on a tie.
    static func vote(bits: [UInt8], sparseSteps: Int, rng: inout WalkRandom) -> Answer {
        guard let last = bits.last else {
            // Cannot happen for a real path (it ends on a sparse step); answer, do not trap.
            return Answer(value: coin(&rng), hypotheses: 0, ambiguousSteps: 0, confidence: 0.5)
        }
        let tally = ParityVote(bits: Array(bits.dropLast()), size: sparseSteps - 1)
        let parity: UInt8 = tally.margin > 0 ? 0 : tally.margin < 0 ? 1 : coin(&rng)
        let confidence = tally.total > 0 ? 0.5 + abs(tally.margin) / (2 * tally.total) : 0.5
        return Answer(value: last ^ parity, hypotheses: tally.total, ambiguousSteps: bits.count, confidence: confidence)
    }

    /// Whether the step's two rows prove it stays inside a cluster: the target is a dense
    /// neighbour of the source, the source one of the target, or they share a dense neighbour.
    /// A sparse step never shows any of these, since dense edges never leave a cluster.
    static func certifiedDecoy(_ view: StepNeighbourhood, threshold: Double) -> Bool {
        let fromSource = Set(view.sourceRow.filter { $0.probability >= threshold }.map(\.name))
        let fromTarget = Set(view.targetRow.filter { $0.probability >= threshold }.map(\.name))
        return fromSource.contains(1) || fromTarget.contains(0) || !fromSource.isDisjoint(with: fromTarget)
    }

    /// The connected components of the undirected graph of edges with probability at least
    /// `threshold`, as one representative per state (union-find). Labels are not consulted.
    static func denseComponents(_ chain: Chain, threshold: Double) -> [Int] {
        var parent = Array(0..<chain.stateCount)
        func root(_ x: Int) -> Int {
            var r = x
            while parent[r] != r { r = parent[r] }
            var y = x
            while parent[y] != r { (parent[y], y) = (r, parent[y]) }
            return r
        }
        for x in 0..<chain.stateCount {
            for e in chain.entries(of: x) where chain.probabilities[e] >= threshold {
                let a = root(x), b = root(Int(chain.columns[e]))
                if a != b { parent[a] = b }
            }
        }
        return (0..<chain.stateCount).map(root)
    }

    static func coin(_ rng: inout WalkRandom) -> UInt8 { UInt8(truncatingIfNeeded: rng.next() & 1) }
}
