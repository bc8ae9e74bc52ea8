public import Metastable

/// An experiment job as the worker holds it: the coordinator's JOB, its spec parsed and the
/// run's seed applied to every point (as `metastable run --seed` does).
///
/// A class so that a lease can say which job it belongs to by identity: the compute
/// threads' cache of prepared points is per job object, and a job received again unchanged
/// (after a reconnect) is kept, cache and all.
public final class WorkerJob: Sendable, Equatable, CustomStringConvertible {
    public let runID: String
    public let jobID: UInt64
    public let specYAML: String
    public let seed: UInt64
    public let plan: ExperimentPlan

    /// Parses the spec and applies `seed`.
    public init(runID: String, jobID: UInt64, specYAML: String, seed: UInt64) throws(SpecError) {
        var plan = try ExperimentPlan.parse(yaml: specYAML)
        for i in plan.points.indices { plan.points[i].spec.seed = seed }
        self.runID = runID
        self.jobID = jobID
        self.specYAML = specYAML
        self.seed = seed
        self.plan = plan
    }

    /// Whether a JOB carries this very job.
    func isSame(runID: String, jobID: UInt64, specYAML: String, seed: UInt64) -> Bool {
        self.runID == runID && self.jobID == jobID && self.seed == seed && self.specYAML == specYAML
    }

    public static func == (a: WorkerJob, b: WorkerJob) -> Bool { a === b }

    public var description: String { "job \(jobID) of run '\(runID)' (\(plan.points.count) points)" }
}

/// One TASK lease, validated against its job and ready to run: for a hitting-time point
/// `PreparedPoint(job.plan, point: point).runBatch(walks)`, for an algorithm point
/// `runBatch(task, batch: batch, items: walks)` of the point `AlgorithmRunner.prepare` builds.
public struct WorkerLease: Sendable, Equatable {
    /// The worker's own number for the lease, unique for the life of a `WorkerCore`; the
    /// compute side reports the outcome under it.
    public var ticket: UInt64
    public var job: WorkerJob
    public var batchID: UInt64
    /// The grid point.
    public var point: Int
    /// The walks of a hitting-time batch, or the items of an algorithm batch.
    public var walks: Range<Int>
    /// The round's task, for a batch of an algorithm experiment.
    public var task: RoundTask?
    /// The shard and arriving walks, for a segment of a partitioned chain.
    public var segment: WireMessage.SegmentLease?

    public init(
        ticket: UInt64, job: WorkerJob, batchID: UInt64, point: Int, walks: Range<Int>, task: RoundTask? = nil,
        segment: WireMessage.SegmentLease? = nil
    ) {
        self.ticket = ticket
        self.job = job
        self.batchID = batchID
        self.point = point
        self.walks = walks
        self.task = task
        self.segment = segment
    }

    /// The batch's index within its round (the low half of its id).
    public var batch: Int { Int(batchID & 0xFFFF_FFFF) }
}

/// What a lease produced: its batch output and, for a segment, the walks that left its shard.
public struct WorkerOutput: Sendable, Equatable {
    public var output: RoundBatchOutput
    public var departures: [WireMessage.Departure]

    public init(_ output: RoundBatchOutput, departures: [WireMessage.Departure] = []) {
        self.output = output
        self.departures = departures
    }
}

/// Why a lease produced no outcome.
public enum BatchFailure: Error, Sendable {
    /// The grid point could not be prepared: its chain does not build (a graph file missing
    /// on this machine, ...), or its start or target does not fit the chain.
    case preparing(any Error)
    case walking(WalkError)
    /// An algorithm batch refused its task (its input does not fit the point) or failed.
    case running(any Error)
}
