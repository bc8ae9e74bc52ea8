/// What a round gives each of its batches, and what each batch gives back: plain vectors,
/// so that one wire message carries the state of every algorithm (a policy's logits, the
/// edges found so far, gradient sums, transition counts). Each algorithm documents its
/// layout next to the code that reads it.
public struct RoundPayload: Sendable, Equatable, Codable {
    public var reals: [Double]
    public var counts: [UInt64]

    public init(reals: [Double] = [], counts: [UInt64] = []) {
        self.reals = reals
        self.counts = counts
    }

    public var isEmpty: Bool { reals.isEmpty && counts.isEmpty }
}

/// What a batch of a round is asked to do: the same value reaches a local thread and a
/// worker on another machine.
public struct RoundTask: Sendable, Equatable {
    /// The round's number within its grid point (0, 1, ...): with `batch`, the key of the
    /// batch's random streams.
    public var round: Int
    /// Which of the algorithm's batch functions runs (e.g. rollouts, or evaluation walks).
    public var stage: Int
    public var input: RoundPayload

    public init(round: Int, stage: Int, input: RoundPayload = RoundPayload()) {
        self.round = round
        self.stage = stage
        self.input = input
    }
}

/// One batch's answer: the walks it ran (an empty outcome when it ran none), and its payload.
public struct RoundBatchOutput: Sendable, Equatable, Codable {
    public var outcome: MonteCarloOutcome
    public var payload: RoundPayload

    public init(outcome: MonteCarloOutcome = MonteCarloOutcome(), payload: RoundPayload = RoundPayload()) {
        self.outcome = outcome
        self.payload = payload
    }
}

/// A round a driver asks for: one task, split into batches of items (rollouts, walks,
/// trials). The split is fixed by the algorithm, never by how many workers there are.
public struct AlgorithmRound: Sendable, Equatable {
    public var stage: Int
    public var input: RoundPayload
    /// The items of each batch, in batch order.
    public var batches: [Range<Int>]
    /// For progress lines and logs, e.g. "iteration 3: rollouts".
    public var label: String
    /// The number the batches see as `RoundTask.round`; nil: the round's index within its
    /// point. An algorithm made of others sets it so that each part sees its own numbering.
    public var number: Int?

    public init(stage: Int, input: RoundPayload = RoundPayload(), batches: [Range<Int>], label: String) {
        self.stage = stage
        self.input = input
        self.batches = batches
        self.label = label
    }

    /// `items` items in batches of at most `batchSize`.
    public init(stage: Int, input: RoundPayload = RoundPayload(), items: Int, batchSize: Int, label: String) {
        let size = Swift.max(1, batchSize)
        let batches = stride(from: 0, to: Swift.max(0, items), by: size).map { $0..<Swift.min($0 + size, items) }
        self.init(stage: stage, input: input, batches: batches, label: label)
    }
}
