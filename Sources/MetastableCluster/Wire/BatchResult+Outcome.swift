import Metastable

extension WireMessage.BatchResult {
    /// The result of batch `batchID`: the statistics `PreparedPoint.runBatch` returned.
    public init(jobID: UInt64, batchID: UInt64, outcome: MonteCarloOutcome) {
        self.init(
            jobID: jobID, batchID: batchID, steps: outcome.steps, hittingTime: outcome.hittingTimes,
            hardSteps: outcome.hardSteps, clustersVisited: outcome.clustersVisited, transitions: outcome.transitions)
    }

    /// The statistics, to merge with the other batches' (`MonteCarloOutcome.merge`).
    public var outcome: MonteCarloOutcome {
        MonteCarloOutcome(
            hittingTimes: hittingTime, steps: steps, hardSteps: hardSteps, clustersVisited: clustersVisited,
            transitions: transitions)
    }

    /// What an algorithm batch returned (`AlgorithmPoint.runBatch`).
    public var output: RoundBatchOutput {
        RoundBatchOutput(outcome: outcome, payload: payload ?? RoundPayload())
    }
}
