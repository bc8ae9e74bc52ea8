import Foundation
import Logging
import Metastable

/// CURVE on the coordinator's socket: its key pair and the workers it admits.
public struct CurveServerKeys: Sendable {
    public var secretKey: ZMQCurveKey
    public var publicKey: ZMQCurveKey
    /// Public keys of the workers that may connect; any other is refused by the ZAP handler.
    public var authorizedKeys: Set<ZMQCurveKey>

    public init(secretKey: ZMQCurveKey, publicKey: ZMQCurveKey, authorizedKeys: Set<ZMQCurveKey>) {
        self.secretKey = secretKey
        self.publicKey = publicKey
        self.authorizedKeys = authorizedKeys
    }
}

public struct CoordinatorOptions: Sendable {
    /// A ZeroMQ endpoint: tcp://ADDR:PORT (port 0 or * picks a free one), ipc://PATH.
    public var bind: String
    public var curve: CurveServerKeys?
    /// Allow a non-loopback bind without CURVE.
    public var insecure: Bool
    public var config: CoordinatorConfig
    /// How often a progress record is logged.
    public var progressInterval: Duration

    public init(
        bind: String, curve: CurveServerKeys? = nil, insecure: Bool = false, config: CoordinatorConfig = CoordinatorConfig(),
        progressInterval: Duration = .seconds(5)
    ) {
        self.bind = bind
        self.curve = curve
        self.insecure = insecure
        self.config = config
        self.progressInterval = progressInterval
    }
}

/// Where a round stands, for progress lines.
public struct RoundProgress: Sendable {
    public var round: Int
    public var batchesDone: Int
    public var batchesTotal: Int
    public var walksDone: UInt64
    public var walksTotal: UInt64
    public var steps: UInt64
    /// Walks that moved between shards in this round (partitioned chains).
    public var migrations: Int
    public var statistics: CoordinatorStatistics
}

/// Why a coordinator refused to start or gave up.
public struct CoordinatorError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The ZeroMQ shell around `CoordinatorCore`: turns socket traffic into events and the
/// core's directives into messages, log records and checkpoints. It owns its sockets, so
/// it lives on the thread that created it.
public final class Coordinator {
    public let runID: String
    /// The endpoint workers connect to (with the port filled in for tcp://...:0).
    public let endpoint: String
    public private(set) var core: CoordinatorCore

    private let options: CoordinatorOptions
    private let context: ZMQContext
    private let router: ZMQSocket
    private let zap: ZMQSocket?
    private let logger: Logger
    private let clock = ContinuousClock()
    private let started: ContinuousClock.Instant
    /// Called with the core's snapshot whenever the core asks for a checkpoint.
    public var onCheckpoint: ((CoordinatorSnapshot) throws -> Void)?

    /// Binds the socket. Refuses a non-loopback bind without CURVE unless `insecure`.
    public init(
        runID: String, job: WireMessage.Job, options: CoordinatorOptions, restoring snapshot: CoordinatorSnapshot? = nil,
        logger: Logger = Logger(label: "metastable.coordinator")
    ) throws {
        if options.curve == nil, !options.insecure, !Self.isLocal(options.bind) {
            throw CoordinatorError(
                "refusing to bind \(options.bind) without CURVE: anyone who can reach it could join the run. "
                    + "Give --curve-secret-key and --authorized-keys (see `metastable keygen`), or --insecure on a trusted network")
        }
        self.runID = runID
        self.options = options
        var logger = logger
        logger[metadataKey: "role"] = "coordinator"
        logger[metadataKey: "run_id"] = "\(runID)"
        self.logger = logger
        context = try ZMQContext()
        if let curve = options.curve {
            // libzmq asks the handler at this well-known endpoint about every CURVE handshake.
            let zap = try ZMQSocket(context, type: .rep)
            try zap.bind("inproc://zeromq.zap.01")
            self.zap = zap
            router = try ZMQSocket(context, type: .router)
            try router.set(.curveServer(true))
            try router.set(.curveSecretKey(curve.secretKey))
            try router.set(.zapDomain("metastable"))
        } else {
            zap = nil
            router = try ZMQSocket(context, type: .router)
        }
        try router.set(.routerMandatory(true))
        try router.bind(options.bind)
        endpoint = try router.lastEndpoint()
        if let snapshot {
            core = CoordinatorCore(restoring: snapshot, config: options.config)
        } else {
            core = CoordinatorCore(runID: runID, job: job, config: options.config)
        }
        started = clock.now
        logger.info("coordinator listening", metadata: ["endpoint": "\(endpoint)", "curve": "\(options.curve != nil)"])
    }

    /// Nanoseconds since this coordinator started: the core's clock.
    private var now: UInt64 {
        let elapsed = clock.now - started
        return UInt64(elapsed.components.seconds) * 1_000_000_000 + UInt64(elapsed.components.attoseconds / 1_000_000_000)
    }

    /// Runs round `round` to completion and returns its results in batch order. When the
    /// coordinator was restored from a checkpoint of this very round, only the batches not
    /// yet done run. `abort` is asked on every tick; a message from it stops the round.
    /// With `shards`, the chain is partitioned (see `CoordinatorCore.startRound`), and the
    /// results include the segments of walks that moved between shards.
    public func runRound(
        _ round: Int, batches: [Range<UInt64>], policyVersion: UInt64 = 0, input: WireMessage.RoundInput? = nil,
        shards: Int? = nil, validator: (@Sendable (WireMessage.BatchResult, _ batch: Int) -> String?)? = nil,
        progress: (RoundProgress) -> Void = { _ in }, abort: () -> String? = { nil }
    ) throws -> [WireMessage.BatchResult] {
        let walksTotal = batches.reduce(UInt64(0)) { $0 + UInt64($1.count) }
        // A start batch's walks are done with it unless the chain is partitioned: then a walk
        // is done where it ends, which its segment's hitting times count.
        func walks(_ result: WireMessage.BatchResult) -> UInt64 {
            let index = Int(result.batchID & 0xFFFF_FFFF)
            if shards != nil { return result.hittingTime.count }
            return batches.indices.contains(index) ? UInt64(batches[index].count) : 0
        }
        let migrationsBefore = core.statistics.migrationsTotal
        var walksDone: UInt64 = 0
        var steps: UInt64 = 0
        var completed: [WireMessage.BatchResult]?
        core.resultValidator = validator
        if core.currentRound == round {
            // Restored from a checkpoint of this round: only the batches not yet done run.
            if core.isRoundComplete, let results = core.roundResults { return results }
            for result in core.snapshot.results {
                guard let result else { continue }
                walksDone += walks(result)
                steps += result.steps
            }
            logger.info("resuming round", metadata: ["round": "\(round)", "batches_done": "\(core.statistics.batchesDone)"])
        } else {
            try perform(
                core.startRound(round, batches: batches, policyVersion: policyVersion, input: input, shards: shards, at: now),
                into: &completed)
        }

        var poller = ZMQPoller()
        poller.add(router)
        if let zap { poller.add(zap) }
        var lastTick = clock.now
        var lastProgress = clock.now
        let roundStart = clock.now
        while completed == nil {
            let ready = try poller.poll(timeout: .milliseconds(50))
            if let zap, ready.count > 1, ready[1].contains(.readable) { try answerZAP(zap) }
            if ready[0].contains(.readable) {
                // Drain what is queued: one poll per batch of messages, not per message.
                for _ in 0..<4096 {
                    guard let frames = try router.receive(timeout: .zero) else { break }
                    let before = core.statistics.batchesDone
                    let event = decode(frames)
                    try perform(core.handle(event), into: &completed)
                    if core.statistics.batchesDone > before, case .message(_, let envelope, _) = event,
                        case .result(let result) = envelope.message
                    {
                        walksDone += walks(result)
                        steps += result.steps
                    }
                    if completed != nil { break }
                }
            }
            if clock.now - lastTick >= .milliseconds(100) {
                lastTick = clock.now
                try perform(core.handle(.tick(at: now)), into: &completed)
                if let reason = core.failure ?? abort() { throw CoordinatorError(reason) }
                let state = RoundProgress(
                    round: round, batchesDone: core.statistics.batchesDone, batchesTotal: core.statistics.batchesTotal,
                    walksDone: walksDone, walksTotal: walksTotal, steps: steps,
                    migrations: core.statistics.migrationsTotal - migrationsBefore, statistics: core.statistics)
                progress(state)
                if clock.now - lastProgress >= options.progressInterval {
                    lastProgress = clock.now
                    logProgress(state, elapsed: clock.now - roundStart)
                }
            }
        }
        let state = RoundProgress(
            round: round, batchesDone: core.statistics.batchesTotal, batchesTotal: core.statistics.batchesTotal,
            walksDone: walksTotal, walksTotal: walksTotal, steps: steps,
            migrations: core.statistics.migrationsTotal - migrationsBefore, statistics: core.statistics)
        progress(state)
        if shards != nil { logMigrations(state, elapsed: clock.now - roundStart) }
        return completed ?? []
    }

    /// Tells every worker to stop, and keeps answering for `grace` so that late joiners hear it too.
    public func finish(reason: String, grace: Duration = .milliseconds(200)) throws {
        var completed: [WireMessage.BatchResult]?
        try perform(core.finish(reason: reason), into: &completed)
        let deadline = clock.now + grace
        while clock.now < deadline {
            guard let frames = try router.receive(timeout: .milliseconds(20)) else { continue }
            try perform(core.handle(decode(frames)), into: &completed)
        }
        let s = core.statistics
        logger.info(
            "coordinator finished",
            metadata: [
                "event": "summary", "results_total": .stringConvertible(s.resultsTotal),
                "requeued_total": .stringConvertible(s.requeuedTotal), "duplicates_total": .stringConvertible(s.duplicatesTotal),
                "bad_messages_total": .stringConvertible(s.badMessagesTotal), "workers_live": .stringConvertible(s.workersLive),
                "migrations_total": .stringConvertible(s.migrationsTotal),
            ])
    }

    private func decode(_ frames: [[UInt8]]) -> CoordinatorEvent {
        guard frames.count == 2, !frames[0].isEmpty else {
            let peer = PeerID(frames.first ?? [])
            return .malformed(from: peer, reason: "expected 2 frames (peer, message), got \(frames.count)", at: now)
        }
        let peer = PeerID(frames[0])
        do {
            return .message(from: peer, try WireCodec.decode(frames[1]), at: now)
        } catch {
            return .malformed(from: peer, reason: "\(error)", at: now)
        }
    }

    private func perform(_ directives: [CoordinatorDirective], into completed: inout [WireMessage.BatchResult]?) throws {
        for directive in directives {
            switch directive {
            case .send(let peer, let message):
                let bytes = WireCodec.encode(WireEnvelope(runID: runID, message: message))
                do {
                    try router.send([peer.bytes, bytes], timeout: .milliseconds(100))
                } catch {
                    // A peer that went away or cannot keep up: the core's liveness check deals with it.
                    logger.debug("send failed", metadata: ["peer": "\(peer)", "error": "\(error)"])
                }
            case .roundComplete(_, let results):
                completed = results
            case .checkpoint:
                try onCheckpoint?(core.snapshot)
            case .log(let event):
                log(event)
            }
        }
    }

    private func log(_ event: CoordinatorLogEvent) {
        switch event {
        case .workerJoined(let peer, let hello):
            logger.info(
                "worker joined",
                metadata: [
                    "peer": "\(peer)", "worker_id": "\(hello.workerID)", "hostname": "\(hello.hostname)",
                    "cores": .stringConvertible(hello.cores), "credits": .stringConvertible(hello.credits),
                ])
        case .workerDropped(let peer, let requeued):
            logger.warning(
                "worker dropped", metadata: ["peer": "\(peer)", "requeued": .stringConvertible(requeued.count)])
        case .duplicateResult(let peer, let batchID):
            logger.debug("duplicate result ignored", metadata: ["peer": "\(peer)", "batch_id": .stringConvertible(batchID)])
        case .rejected(let peer, let reason):
            logger.warning("bad message", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
        case .unknownPeer(let peer):
            logger.info("message from an unregistered peer", metadata: ["peer": "\(peer)"])
        case .workerError(let peer, let report):
            logger.error(
                "worker reported an error", metadata: ["peer": "\(peer)", "code": "\(report.code)", "error": "\(report.message)"])
        case .shardAssigned(let shard, let peer):
            logger.info("shard assigned", metadata: ["shard": .stringConvertible(shard), "peer": "\(peer)"])
        }
    }

    private func logProgress(_ p: RoundProgress, elapsed: Duration) {
        let seconds = max(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18, 1e-9)
        let fraction = p.walksTotal > 0 ? Double(p.walksDone) / Double(p.walksTotal) : 1
        let eta = fraction > 0 ? seconds * (1 - fraction) / fraction : -1
        logger.info(
            "progress",
            metadata: [
                "event": "progress", "round": .stringConvertible(p.round), "batches_done": .stringConvertible(p.batchesDone),
                "batches_total": .stringConvertible(p.batchesTotal),
                "walks_per_s": .stringConvertible(Int(Double(p.walksDone) / seconds)),
                "steps_per_s": .stringConvertible(Int(Double(p.steps) / seconds)),
                "eta_s": .stringConvertible((eta * 10).rounded() / 10),
                "workers_live": .stringConvertible(p.statistics.workersLive),
                "requeued_total": .stringConvertible(p.statistics.requeuedTotal),
                "bad_messages_total": .stringConvertible(p.statistics.badMessagesTotal),
                "migrations": .stringConvertible(p.migrations),
                "migrations_per_s": .stringConvertible(Int(Double(p.migrations) / seconds)),
            ])
    }

    /// The end of a round on a partitioned chain: how many walks moved, and how often.
    private func logMigrations(_ p: RoundProgress, elapsed: Duration) {
        let seconds = max(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18, 1e-9)
        logger.info(
            "migrations",
            metadata: [
                "event": "migrations", "round": .stringConvertible(p.round), "migrations": .stringConvertible(p.migrations),
                "migrations_per_s": .stringConvertible(Int(Double(p.migrations) / seconds)),
                "segments": .stringConvertible(p.batchesTotal), "seconds": .stringConvertible((seconds * 1000).rounded() / 1000),
            ])
    }

    /// Answers one ZAP request (RFC 27): admit the CURVE keys we were given, refuse and log the rest.
    private func answerZAP(_ socket: ZMQSocket) throws {
        guard let request = try socket.receive(timeout: .zero) else { return }
        guard request.count >= 6 else { return }
        let requestID = request[1]
        let address = String(decoding: request[3], as: UTF8.self)
        let mechanism = String(decoding: request[5], as: UTF8.self)
        var admitted = false
        var who = "?"
        if mechanism == "CURVE", request.count >= 7, let key = ZMQCurveKey(bytes: request[6]) {
            who = key.z85
            admitted = options.curve?.authorizedKeys.contains(key) ?? false
        }
        if !admitted {
            logger.warning(
                "refused a worker: its key is not authorized",
                metadata: ["address": "\(address)", "mechanism": "\(mechanism)", "public_key": "\(who)"])
        }
        try socket.send([
            Array("1.0".utf8), requestID, Array((admitted ? "200" : "400").utf8),
            Array((admitted ? "OK" : "key not authorized").utf8), Array((admitted ? who : "").utf8), [],
        ])
    }

    /// Loopback tcp, ipc and inproc endpoints are reachable from this machine only.
    static func isLocal(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") { return true }
        guard endpoint.hasPrefix("tcp://") else { return false }
        let rest = endpoint.dropFirst("tcp://".count)
        let host: Substring
        if rest.hasPrefix("[") {
            host = rest.dropFirst().prefix { $0 != "]" }
        } else {
            host = rest.prefix { $0 != ":" }
        }
        return host == "localhost" || host.hasPrefix("127.") || host == "::1"
    }
}
