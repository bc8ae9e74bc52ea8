/// A worker as the coordinator's ROUTER socket knows it: the routing id of its connection.
public struct PeerID: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Printable ASCII ids (set by the worker) as they are; ZeroMQ's generated ones in hex.
    public var description: String {
        if !bytes.isEmpty, bytes.allSatisfy({ (0x21...0x7E).contains($0) }) {
            return String(decoding: bytes, as: UTF8.self)
        }
        return "0x" + bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}

public struct CoordinatorConfig: Sendable {
    /// Nanoseconds between heartbeats to a worker that has been sent nothing else.
    public var heartbeatInterval: UInt64 = 1_000_000_000
    /// A worker silent for more than this many heartbeat intervals is dropped.
    public var livenessIntervals: UInt64 = 3
    /// No lease goes out before this many workers have joined; once reached, leasing goes on
    /// even if fewer remain.
    public var minWorkers: Int = 1
    /// The most leases one worker holds, whatever its HELLO asks for.
    public var maxCreditsPerWorker: UInt32 = 64
    /// Nanoseconds: `.checkpoint` comes at most this often while results arrive, and always
    /// when a round completes.
    public var checkpointInterval: UInt64 = 2_000_000_000
    /// The run fails once this many results of one batch, each from the worker holding its
    /// lease, have been refused: results are deterministic, so a batch whose result keeps
    /// failing the checks would fail for ever (a worker of another version, a bug), and the
    /// run would never end.
    public var maxRefusalsPerBatch = 3

    public init() {}

    /// How long a worker may stay silent, saturating rather than trapping on a huge setting.
    var silenceLimit: UInt64 {
        let (product, overflow) = heartbeatInterval.multipliedReportingOverflow(by: livenessIntervals)
        return overflow ? .max : product
    }
}

/// What happened, as the shell saw it. Times are nanoseconds on the shell's clock (any
/// origin; only differences matter) and never go back.
public enum CoordinatorEvent: Sendable {
    case message(from: PeerID, WireEnvelope, at: UInt64)
    /// A frame that did not decode: counted and logged, nothing else.
    case malformed(from: PeerID, reason: String, at: UInt64)
    /// The shell ticks about every 100 ms.
    case tick(at: UInt64)
}

/// What the shell must do, in order.
public enum CoordinatorDirective: Sendable, Equatable {
    /// Wrap in a `WireEnvelope` with the core's `runID` and send.
    case send(to: PeerID, WireMessage)
    /// Every batch of the round, in batch index order.
    case roundComplete(round: Int, results: [WireMessage.BatchResult])
    /// Write `snapshot` atomically now.
    case checkpoint
    case log(CoordinatorLogEvent)
}

public enum CoordinatorLogEvent: Sendable, Equatable {
    case workerJoined(PeerID, WireMessage.Hello)
    /// Silent too long, re-HELLOed, or reported an error; `requeued` are wire batch ids in
    /// increasing order.
    case workerDropped(PeerID, requeued: [UInt64])
    /// A result for a batch already done, or for an earlier round.
    case duplicateResult(PeerID, batchID: UInt64)
    /// A message that was malformed or failed validation: counted as bad, dropped.
    case rejected(PeerID, reason: String)
    /// A message from a peer that has not sent HELLO (or was dropped): told to send one.
    case unknownPeer(PeerID)
    /// A worker reported a failure; it is dropped and its leases requeued.
    case workerError(PeerID, WireMessage.ErrorReport)
    /// A shard of a partitioned chain has a new owner.
    case shardAssigned(shard: Int, to: PeerID)
}

public struct CoordinatorStatistics: Sendable, Equatable, Codable {
    public var workersLive = 0
    /// Of the current round.
    public var batchesDone = 0
    public var batchesLeased = 0
    public var batchesTotal = 0
    /// Since this core started (not restored from a snapshot).
    public var requeuedTotal = 0
    public var duplicatesTotal = 0
    public var badMessagesTotal = 0
    /// Results accepted, one per batch of every round.
    public var resultsTotal = 0
    /// Walks that moved between shards of a partitioned chain, since this core started.
    public var migrationsTotal = 0

    public init() {}
}
