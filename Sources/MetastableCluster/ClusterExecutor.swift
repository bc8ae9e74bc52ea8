import Foundation
import Metastable

/// What a coordinator saves so that `--resume` continues a run after a crash: the merged
/// outcome of every finished grid point (hitting-time experiments) or the outputs of every
/// finished round (algorithm experiments, whose drivers replay them), and the core's state
/// for the round in progress.
public struct ClusterCheckpoint: Codable, Sendable {
    public var runID: String
    public var specYAML: String
    public var seed: UInt64
    public var finishedPoints: [MonteCarloOutcome]
    public var finishedRounds: [[RoundBatchOutput]]
    public var core: CoordinatorSnapshot
}

/// Runs each grid point of a hitting-time experiment as one round on the workers of a
/// coordinator: batch b of the point is lease b of the round, and the results merge in batch
/// order, so the outcome is the one `LocalExecutor` computes, whoever ran which batch. On a
/// partitioned chain the round also holds the segments of walks that moved between shards;
/// their counts merge exactly, so the outcome is again the same. The
/// rounds of an algorithm experiment are numbered across the job; their leases carry the
/// round's input, and the outputs come back in batch order.
///
/// Uses the coordinator's sockets: call it on the thread that created the coordinator.
public final class ClusterExecutor: WalkExecutor, @unchecked Sendable {
    public let coordinator: Coordinator
    private let specYAML: String
    private let seed: UInt64
    private let checkpointPath: String?
    private var finishedPoints: [MonteCarloOutcome]
    private var finishedRounds: [[RoundBatchOutput]]
    /// Algorithm rounds asked for so far, finished or replayed from the checkpoint.
    private var roundsAsked = 0
    /// Asked on every tick; a message aborts the run (e.g. every local worker has exited).
    public var abort: () -> String? = { nil }

    /// - Parameters:
    ///   - restoring: a checkpoint of an earlier run of the same spec, to continue it.
    public init(
        specYAML: String, seed: UInt64, options: CoordinatorOptions, checkpointPath: String?,
        restoring checkpoint: ClusterCheckpoint? = nil
    ) throws {
        let runID = checkpoint?.runID ?? Self.newRunID()
        self.specYAML = specYAML
        self.seed = seed
        self.checkpointPath = checkpointPath
        finishedPoints = checkpoint?.finishedPoints ?? []
        finishedRounds = checkpoint?.finishedRounds ?? []
        coordinator = try Coordinator(
            runID: runID, job: WireMessage.Job(jobID: 1, source: .experiment(specYAML: specYAML, seed: seed)),
            options: options, restoring: checkpoint?.core)
        coordinator.onCheckpoint = { [unowned self] snapshot in try self.saveCheckpoint(snapshot) }
    }

    /// Reads the checkpoint at `path`, if there is one, and checks it belongs to this spec.
    public static func loadCheckpoint(at path: String, specYAML: String, seed: UInt64) throws -> ClusterCheckpoint? {
        guard let checkpoint = try CheckpointFile.read(ClusterCheckpoint.self, from: path) else { return nil }
        guard checkpoint.specYAML == specYAML, checkpoint.seed == seed else {
            throw CoordinatorError("the checkpoint \(path) belongs to another spec or seed; remove it or drop --resume")
        }
        return checkpoint
    }

    public var parallelism: Int { max(1, coordinator.core.statistics.workersLive) }

    public func run(_ point: PreparedPoint, progress: @escaping @Sendable (WalkProgress) -> Void) throws -> MonteCarloOutcome {
        if point.index < finishedPoints.count { return finishedPoints[point.index] }
        guard point.index == finishedPoints.count else {
            throw CoordinatorError("grid point \(point.index) asked before point \(finishedPoints.count)")
        }
        let batches = (0..<point.batchCount).map { b in
            let walks = point.batch(b)
            return UInt64(walks.lowerBound)..<UInt64(walks.upperBound)
        }
        // On a partitioned chain the coordinator checks departing walks as the worker receiving
        // them would: a bad one fails its batch here, and never reaches another worker.
        var validator: (@Sendable (WireMessage.BatchResult, Int) -> String?)?
        if case .sharded(let sharded) = point.walks {
            validator = { result, _ in
                for departure in result.departures {
                    if let problem = sharded.problem(arriving: departure.walks, on: departure.shard) {
                        return "departures to shard \(departure.shard): \(problem)"
                    }
                }
                return nil
            }
        }
        let results = try coordinator.runRound(
            point.index, batches: batches, shards: point.spec.shards, validator: validator,
            progress: { p in
                progress(WalkProgress(
                    batchesDone: p.batchesDone, batchCount: p.batchesTotal, walksDone: Int(p.walksDone), steps: p.steps,
                    migrations: p.migrations))
            },
            abort: abort)
        var outcome = MonteCarloOutcome()
        for r in results { outcome.merge(r.outcome) }
        finishedPoints.append(outcome)
        try saveCheckpoint(coordinator.core.snapshot)
        return outcome
    }

    public func runRound(
        _ round: AlgorithmRound, number: Int, of point: any AlgorithmPoint, pointIndex: Int,
        progress: @escaping @Sendable (WalkProgress) -> Void
    ) throws -> [RoundBatchOutput] {
        let sequence = roundsAsked
        roundsAsked += 1
        // The driver replays the rounds a checkpoint holds and gets the same outputs back.
        if sequence < finishedRounds.count { return finishedRounds[sequence] }
        guard pointIndex <= UInt32.max, number <= UInt32.max, (0...Int(UInt32.max)).contains(round.stage),
            sequence <= UInt32.max, round.batches.count < 1 << 32, round.batches.allSatisfy({ $0.lowerBound >= 0 })
        else {
            throw CoordinatorError("round \(number) of point \(pointIndex) (stage \(round.stage), \(round.batches.count) batches) does not fit the wire")
        }
        let task = RoundTask(round: number, stage: round.stage, input: round.input)
        let results = try coordinator.runRound(
            sequence, batches: round.batches.map { UInt64($0.lowerBound)..<UInt64($0.upperBound) },
            input: WireMessage.RoundInput(point: pointIndex, task: task),
            validator: { result, batch in point.problem(with: result.output, of: task, batch: batch) },
            progress: { p in
                progress(WalkProgress(
                    batchesDone: p.batchesDone, batchCount: p.batchesTotal, walksDone: Int(p.walksDone), steps: p.steps))
            },
            abort: abort)
        let outputs = results.map(\.output)
        finishedRounds.append(outputs)
        try saveCheckpoint(coordinator.core.snapshot)
        return outputs
    }

    private func saveCheckpoint(_ snapshot: CoordinatorSnapshot) throws {
        guard let checkpointPath else { return }
        try CheckpointFile.write(
            ClusterCheckpoint(
                runID: coordinator.runID, specYAML: specYAML, seed: seed, finishedPoints: finishedPoints,
                finishedRounds: finishedRounds, core: snapshot),
            to: checkpointPath)
    }

    static func newRunID() -> String {
        String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }
}
