/// One grid point of an algorithm experiment, built the same way by the coordinator and by
/// every worker from the spec and the run seed.
///
/// An algorithm is a sequence of rounds. A driver (coordinator side) decides each round; the
/// round's batches run anywhere (`runBatch`); the driver takes their outputs in batch order
/// and decides the next round. Because batch outputs depend only on (seed, round, stage,
/// input, batch) and are reduced in batch order, results are the same for any number of
/// workers, and the same when a batch is run again after a worker died.
public protocol AlgorithmPoint: AnyObject, Sendable {
    /// Worker side: batch `batch` of `task`, made of items `items`. A pure function of its
    /// arguments; randomness comes from `AlgorithmRandom` streams keyed by the round and the
    /// item. The arguments come off the wire: check them before indexing and throw
    /// `LearningError` (or `SpecError`) rather than trap.
    func runBatch(_ task: RoundTask, batch: Int, items: Range<Int>) throws -> RoundBatchOutput

    /// Coordinator side: what is wrong with a batch output that came from a worker (shape,
    /// lengths, ranges), or nil when the driver can take it.
    func problem(with output: RoundBatchOutput, of task: RoundTask, batch: Int) -> String?

    /// Coordinator side: a driver starting from the first round.
    func makeDriver() throws -> any AlgorithmDriver
}

/// The coordinator's side of an algorithm: decides rounds, reduces their outputs.
public protocol AlgorithmDriver {
    /// The next round to run, or nil when the point is finished.
    mutating func nextRound() throws -> AlgorithmRound?
    /// The outputs of the round `nextRound` returned last, in batch order; each has passed
    /// the point's `problem(with:of:batch:)`.
    mutating func finish(_ outputs: [RoundBatchOutput]) throws
    /// What the point measured; asked once, after `nextRound` returned nil.
    func report() throws -> AlgorithmReport
}

/// Random streams for algorithm batches: one per (seed, round, item), so that how items are
/// grouped into batches, and who runs them, cannot change a number.
public enum AlgorithmRandom {
    public static func stream(seed: UInt64, round: Int, item: Int) -> WalkRandom {
        WalkRandom(seed: seed, domain: .learning, index: UInt64(truncatingIfNeeded: round) << 40 | UInt64(truncatingIfNeeded: item))
    }
}
