public import Metastable

/// One message of the cluster protocol: the protocol version, the run, and one verb.
///
/// The Swift side of `metastable.wire.Envelope` (proto/metastable.proto); `WireCodec`
/// converts it to and from bytes.
public struct WireEnvelope: Sendable, Equatable {
    /// The version this code speaks; `WireCodec.decode(_:)` refuses any other.
    public static let currentVersion: UInt32 = 1

    public var version: UInt32
    /// Empty in a worker's first `hello`, before it knows the run.
    public var runID: String
    public var message: WireMessage

    public init(version: UInt32 = WireEnvelope.currentVersion, runID: String, message: WireMessage) {
        self.version = version
        self.runID = runID
        self.message = message
    }
}

/// The verbs of the cluster protocol (see the cluster protocol section of the design).
public enum WireMessage: Sendable, Equatable {
    /// Worker -> coordinator, first on connecting.
    case hello(Hello)
    /// Coordinator -> worker: what to simulate.
    case job(Job)
    /// Coordinator -> worker: a lease on one batch of walks.
    case task(TaskLease)
    /// Worker -> coordinator: the statistics of one finished batch.
    case result(BatchResult)
    /// Both ways, for liveness.
    case heartbeat(Heartbeat)
    /// Coordinator -> worker: stop and exit.
    case shutdown(Shutdown)
    /// Either way: why a message was refused or a job failed.
    case error(ErrorReport)
}

extension WireMessage {
    public struct Hello: Sendable, Equatable {
        public var workerID: String
        public var cores: UInt32
        /// How many task leases the worker holds at once: its flow-control credit.
        public var credits: UInt32
        public var pid: UInt32
        public var hostname: String
        public var softwareVersion: String

        public init(workerID: String, cores: UInt32, credits: UInt32, pid: UInt32, hostname: String, softwareVersion: String) {
            self.workerID = workerID
            self.cores = cores
            self.credits = credits
            self.pid = pid
            self.hostname = hostname
            self.softwareVersion = softwareVersion
        }
    }

    public struct Job: Sendable, Equatable {
        public enum Source: Sendable, Equatable {
            /// An experiment spec (YAML, as `metastable run` reads it) and seed, from which
            /// the worker rebuilds the chain deterministically.
            case experiment(specYAML: String, seed: UInt64)
            /// One piece of a graph too large for one message.
            case graphChunk(GraphChunk)
        }

        public var jobID: UInt64
        public var source: Source

        public init(jobID: UInt64, source: Source) {
            self.jobID = jobID
            self.source = source
        }
    }

    /// Chunks are numbered `0..<count`; their data, concatenated in index order, are
    /// `totalSize` bytes whose CRC-32 (IEEE, as zlib's) is `crc32`.
    public struct GraphChunk: Sendable, Equatable {
        public var data: [UInt8]
        public var index: UInt32
        public var count: UInt32
        public var totalSize: UInt64
        /// Of the whole graph, not of this chunk.
        public var crc32: UInt32

        public init(data: [UInt8], index: UInt32, count: UInt32, totalSize: UInt64, crc32: UInt32) {
            self.data = data
            self.index = index
            self.count = count
            self.totalSize = totalSize
            self.crc32 = crc32
        }
    }

    public struct TaskLease: Sendable, Equatable {
        public var jobID: UInt64
        public var batchID: UInt64
        /// The indices of the batch's walks.
        public var walks: Range<UInt64>
        /// The round (a grid point's index for hitting-time experiments, counted across the
        /// job for algorithm experiments), and the policy version its walks use.
        public var round: UInt64
        public var policyVersion: UInt64
        /// Set for algorithm experiments: what the round asks of each batch; `walks` are then
        /// the batch's items.
        public var input: RoundInput?
        /// Set on a partitioned chain: the shard the lease runs on and the walks arriving
        /// there; `walks` are its fresh walks (often none).
        public var segment: SegmentLease?

        public init(
            jobID: UInt64, batchID: UInt64, walks: Range<UInt64>, round: UInt64 = 0, policyVersion: UInt64 = 0,
            input: RoundInput? = nil, segment: SegmentLease? = nil
        ) {
            self.jobID = jobID
            self.batchID = batchID
            self.walks = walks
            self.round = round
            self.policyVersion = policyVersion
            self.input = input
            self.segment = segment
        }
    }

    /// Work on one shard of a partitioned chain.
    public struct SegmentLease: Sendable, Equatable {
        public var shard: Int
        public var arrivals: Migrants

        public init(shard: Int, arrivals: Migrants = Migrants()) {
            self.shard = shard
            self.arrivals = arrivals
        }
    }

    /// Walks that left a segment's shard for `shard`.
    public struct Departure: Sendable, Equatable {
        public var shard: Int
        public var walks: Migrants

        public init(shard: Int, walks: Migrants) {
            self.shard = shard
            self.walks = walks
        }
    }

    /// A round of an algorithm experiment: the grid point and the task its driver asked for.
    public struct RoundInput: Sendable, Equatable {
        public var point: Int
        public var task: RoundTask

        public init(point: Int, task: RoundTask) {
            self.point = point
            self.task = task
        }
    }

    public struct BatchResult: Sendable, Equatable {
        public var jobID: UInt64
        public var batchID: UInt64
        /// Steps taken by all walks of the batch.
        public var steps: UInt64
        public var hittingTime: HittingTimeAccumulator
        /// Present when the experiment observes them.
        public var hardSteps: IntegerSampleAccumulator?
        public var clustersVisited: IntegerSampleAccumulator?
        public var transitions: TransitionCounts?
        /// What a batch of an algorithm experiment returns besides walk statistics.
        public var payload: RoundPayload?
        /// A segment's walks that left its shard, by increasing destination; the statistics
        /// are those of the walks that ended on it.
        public var departures: [Departure]
        /// For a segment: `Migrants.digest(fresh:)` of the segment as leased.
        public var segmentDigest: UInt64

        public init(
            jobID: UInt64, batchID: UInt64, steps: UInt64, hittingTime: HittingTimeAccumulator,
            hardSteps: IntegerSampleAccumulator? = nil, clustersVisited: IntegerSampleAccumulator? = nil,
            transitions: TransitionCounts? = nil, payload: RoundPayload? = nil, departures: [Departure] = [],
            segmentDigest: UInt64 = 0
        ) {
            self.payload = payload
            self.departures = departures
            self.segmentDigest = segmentDigest
            self.jobID = jobID
            self.batchID = batchID
            self.steps = steps
            self.hittingTime = hittingTime
            self.hardSteps = hardSteps
            self.clustersVisited = clustersVisited
            self.transitions = transitions
        }
    }

    public struct Heartbeat: Sendable, Equatable {
        public var sequence: UInt64
        /// The sender's wall clock, in nanoseconds since the Unix epoch.
        public var senderTimeNanoseconds: UInt64

        public init(sequence: UInt64, senderTimeNanoseconds: UInt64) {
            self.sequence = sequence
            self.senderTimeNanoseconds = senderTimeNanoseconds
        }
    }

    public struct Shutdown: Sendable, Equatable {
        public var reason: String

        public init(reason: String) {
            self.reason = reason
        }
    }

    public struct ErrorReport: Sendable, Equatable {
        public enum Code: Sendable, Equatable, CaseIterable {
            /// The peer's message could not be decoded or failed validation.
            case malformedMessage
            case unsupportedVersion
            case unknownJob
            /// The experiment spec does not parse or does not build a chain.
            case badSpec
            /// The graph chunks do not add up (sizes, checksum) or do not parse.
            case badGraph
            case outOfResources
            case internalError
        }

        public var code: Code
        public var message: String

        public init(code: Code, message: String) {
            self.code = code
            self.message = message
        }
    }
}

extension WireMessage {
    /// The verb's name as the protocol spells it, for logs and errors.
    public var verb: String {
        switch self {
        case .hello: "HELLO"
        case .job: "JOB"
        case .task: "TASK"
        case .result: "RESULT"
        case .heartbeat: "HEARTBEAT"
        case .shutdown: "SHUTDOWN"
        case .error: "ERROR"
        }
    }
}
