import Foundation
public import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct WorkerOptions: Sendable {
    /// This worker's CURVE key pair and the coordinator's public key.
    public struct Curve: Sendable, Hashable {
        public var secretKey: ZMQCurveKey
        public var publicKey: ZMQCurveKey
        public var serverKey: ZMQCurveKey

        public init(secretKey: ZMQCurveKey, publicKey: ZMQCurveKey, serverKey: ZMQCurveKey) {
            self.secretKey = secretKey
            self.publicKey = publicKey
            self.serverKey = serverKey
        }
    }

    /// The coordinator's ROUTER, e.g. `tcp://coordinator:5555`.
    public var endpoint: String
    /// Compute threads: how many batches run at once.
    public var threads: Int
    /// Walks each compute thread interleaves; nil: by graph size (`WalkTask.defaultWalkers`).
    /// Results do not depend on it.
    public var walkersPerThread: Int?
    /// How many leases the worker holds at once; nil: twice `threads`, so that a thread
    /// finding its next lease waiting does not wait for a round trip.
    public var credits: Int?
    /// Sends a HEARTBEAT after this long without sending anything; three intervals without
    /// a message from the coordinator make the worker reconnect.
    public var heartbeatInterval: Duration
    /// Nil: no encryption, no authentication (loopback or a trusted network only).
    public var curve: Curve?
    /// Nil: `hostname-pid`.
    public var workerID: String?
    /// The cap of the reconnection back-off, which starts at 100 ms and doubles.
    public var maxReconnectBackoff: Duration
    /// `run` throws after this long without a message from a coordinator (refused or
    /// unreachable); nil: keep trying.
    public var giveUpAfter: Duration?
    /// Sent in HELLO.
    public var softwareVersion: String

    public init(
        endpoint: String, threads: Int, credits: Int? = nil, heartbeatInterval: Duration = .seconds(1),
        curve: Curve? = nil, workerID: String? = nil, maxReconnectBackoff: Duration = .seconds(5),
        giveUpAfter: Duration? = nil, softwareVersion: String = ""
    ) {
        self.endpoint = endpoint
        self.threads = threads
        self.credits = credits
        self.heartbeatInterval = heartbeatInterval
        self.curve = curve
        self.workerID = workerID
        self.maxReconnectBackoff = maxReconnectBackoff
        self.giveUpAfter = giveUpAfter
        self.softwareVersion = softwareVersion
    }
}

public enum WorkerError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidOptions(String)
    /// `giveUpAfter` passed, and the coordinator had refused this worker's handshake (with
    /// CURVE: its public key is not among the coordinator's authorized keys).
    case refused(after: Duration)
    /// `giveUpAfter` passed without a message from a coordinator.
    case unreachable(after: Duration)

    public var description: String {
        switch self {
        case .invalidOptions(let why): "invalid worker options: \(why)"
        case .refused(let after):
            "the coordinator did not accept this worker (for \(after)); with CURVE, check that the worker's public key is in the coordinator's authorized keys"
        case .unreachable(let after): "no answer from the coordinator for \(after)"
        }
    }
}

/// A worker process's connection to the coordinator: takes task leases, runs their walk
/// batches on compute threads, and sends back the results, until the coordinator says
/// SHUTDOWN or `stop()` is called.
public final class Worker: Sendable {
    public let options: WorkerOptions
    private let logger: Logger
    private let stopRequested = Atomic<Bool>(false)

    public init(options: WorkerOptions, logger: Logger = Logger(label: "metastable.worker")) {
        self.options = options
        self.logger = logger
    }

    /// Runs on the calling thread, which owns the sockets, until SHUTDOWN or `stop()`.
    /// Batches still computing then are abandoned.
    ///
    /// - Throws: `WorkerError` for bad options or after `giveUpAfter`; `ZMQError` when a
    ///   socket cannot be made or the endpoint is not valid.
    public func run() throws {
        let configuration = try options.coreConfiguration()
        var logger = logger
        logger[metadataKey: "role"] = "worker"
        logger[metadataKey: "worker_id"] = "\(configuration.workerID)"
        let shell = try WorkerShell(options: options, configuration: configuration, logger: logger)
        try shell.run { stopRequested.load(ordering: .relaxed) }
    }

    /// Makes `run` return within a poll interval; a stopped worker stays stopped. Any thread.
    public func stop() {
        stopRequested.store(true, ordering: .relaxed)
    }
}

extension WorkerOptions {
    func coreConfiguration() throws(WorkerError) -> WorkerCore.Configuration {
        guard threads >= 1 else { throw .invalidOptions("threads must be at least 1, got \(threads)") }
        let credits = credits ?? 2 * threads
        guard credits >= 1 else { throw .invalidOptions("credits must be at least 1, got \(credits)") }
        guard heartbeatInterval > .zero else { throw .invalidOptions("the heartbeat interval must be positive") }
        guard maxReconnectBackoff > .zero else { throw .invalidOptions("the reconnection back-off must be positive") }
        let hostname = Self.hostname()
        let pid = UInt32(truncatingIfNeeded: getpid())
        let workerID = workerID ?? "\(hostname)-\(pid)"
        // The coordinator refuses a HELLO with longer strings.
        for (name, value) in [("worker id", workerID), ("software version", softwareVersion)]
        where value.utf8.count > WireCodec.maxIdentifierLength {
            throw .invalidOptions("the \(name) is longer than \(WireCodec.maxIdentifierLength) bytes")
        }
        guard !workerID.isEmpty else { throw .invalidOptions("the worker id is empty") }
        var configuration = WorkerCore.Configuration(
            workerID: workerID, threads: threads, credits: credits, heartbeatInterval: heartbeatInterval, pid: pid,
            hostname: hostname, softwareVersion: softwareVersion, randomSeed: .random(in: .min ... .max))
        configuration.maxBackoff = maxReconnectBackoff
        configuration.giveUpAfter = giveUpAfter
        configuration.usesCurve = curve != nil
        return configuration
    }

    private static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "unknown" : name
    }
}

/// The I/O half of the worker: turns socket traffic, monitor events, finished batches and
/// time into `WorkerCore` events, and carries out its directives. Lives on the thread that
/// calls `run`, which owns every socket.
final class WorkerShell {
    /// How long one wait for traffic lasts: also how late a finished batch may be sent.
    static let pollInterval = Duration.milliseconds(10)
    /// Messages read per wait at most, so that ticks stay regular under a flood.
    static let receiveBatch = 256

    /// One connection attempt: the DEALER and its monitor.
    private final class Connection {
        let dealer: ZMQSocket
        let monitor: ZMQMonitor
        let poller: ZMQPoller

        init(context: ZMQContext, options: WorkerOptions, routingID: [UInt8], attempt: Int, wakeup: WakeupPipe) throws(ZMQError) {
            dealer = try ZMQSocket(context, type: .dealer)
            try dealer.set(.routingID(routingID))
            if let curve = options.curve {
                try dealer.set(.curveSecretKey(curve.secretKey))
                try dealer.set(.curvePublicKey(curve.publicKey))
                try dealer.set(.curveServerKey(curve.serverKey))
            }
            // libzmq's own reconnects (after a dropped TCP connection) back off like ours.
            try dealer.set(.reconnectIntervalMax(options.maxReconnectBackoff))
            monitor = try ZMQMonitor(
                context, watching: dealer,
                events: [.handshakeFailedAuth, .handshakeFailedProtocol, .handshakeFailedNoDetail],
                endpoint: "inproc://metastable-worker-monitor-\(attempt)")
            try dealer.connect(options.endpoint)
            var poller = ZMQPoller()
            poller.add(dealer)
            poller.add(monitor.socket)
            poller.add(fileDescriptor: wakeup.readEnd)
            self.poller = poller
        }

        deinit {
            dealer.close()
            monitor.close()
        }
    }

    private let options: WorkerOptions
    private let logger: Logger
    private let context: ZMQContext
    private var core: WorkerCore
    private var connection: Connection?
    private let wakeup: WakeupPipe
    private var attempts = 0
    private let clock = ContinuousClock()
    private let origin: ContinuousClock.Instant

    init(options: WorkerOptions, configuration: WorkerCore.Configuration, logger: Logger) throws {
        self.options = options
        self.logger = logger
        context = try ZMQContext()
        wakeup = try WakeupPipe()
        core = WorkerCore(configuration: configuration, logger: logger)
        origin = clock.now
    }

    func run(until shouldStop: () -> Bool) throws {
        let pool = ComputePool(threads: core.configuration.threads, walkersPerThread: options.walkersPerThread, wakeup: wakeup)
        defer {
            connection = nil
            pool.close()
            logSummary()
        }
        logger.info("worker starting", metadata: [
            "endpoint": "\(options.endpoint)", "threads": "\(core.configuration.threads)",
            "credits": "\(core.configuration.credits)", "curve": "\(options.curve != nil)",
        ])
        if let stop = try apply(core.start(at: now()), pool) { return try finish(stop) }
        while !shouldStop() {
            if let stop = try step(pool) { return try finish(stop) }
        }
    }

    /// Waits for traffic, then hands the core everything that happened.
    private func step(_ pool: ComputePool) throws -> WorkerCore.StopReason? {
        if let connection {
            let ready = try connection.poller.poll(timeout: Self.pollInterval)
            if ready[2].contains(.readable) { wakeup.drain() }
            if ready[1].contains(.readable), let stop = try readMonitor(connection, pool) { return stop }
            if ready[0].contains(.readable), let stop = try readMessages(connection, pool) { return stop }
        } else {
            Thread.sleep(forTimeInterval: Double(Self.pollInterval.wholeNanoseconds) / 1e9)
        }
        for batch in pool.takeFinished() {
            if let stop = try apply(core.batchFinished(ticket: batch.ticket, batch.result, at: now()), pool) { return stop }
        }
        let wallClock = UInt64(max(0, Date().timeIntervalSince1970 * 1e9))
        return try apply(core.tick(at: now(), wallClockNanoseconds: wallClock), pool)
    }

    private func readMessages(_ connection: Connection, _ pool: ComputePool) throws -> WorkerCore.StopReason? {
        // A directive may replace the connection: read only from the one polled.
        for _ in 0..<Self.receiveBatch where self.connection === connection {
            let frames: [[UInt8]]
            do {
                guard let received = try connection.dealer.receive(timeout: .zero) else { return nil }
                frames = received
            } catch {
                // The core's liveness check reconnects if this persists.
                logger.error("receiving failed", metadata: ["error": "\(error)"])
                return nil
            }
            let directives: [WorkerCore.Directive]
            if frames.count != 1 {
                directives = core.receivedMalformed(WireError(.malformed, "\(frames.count) frames, expected 1"), at: now())
            } else {
                do {
                    directives = core.received(try WireCodec.decode(frames[0]), at: now())
                } catch {
                    directives = core.receivedMalformed(error, at: now())
                }
            }
            if let stop = try apply(directives, pool) { return stop }
        }
        return nil
    }

    private func readMonitor(_ connection: Connection, _ pool: ComputePool) throws -> WorkerCore.StopReason? {
        while self.connection === connection, let event = try connection.monitor.receive(timeout: .zero) {
            let failure: WorkerCore.HandshakeFailure =
                event.kind == .handshakeFailedAuth ? .refused(statusCode: event.value) : .failed(code: event.value)
            if let stop = try apply(core.handshakeFailed(failure, at: now()), pool) { return stop }
        }
        return nil
    }

    /// Carries out `directives` in order; the stop reason if one says stop.
    private func apply(_ directives: [WorkerCore.Directive], _ pool: ComputePool) throws -> WorkerCore.StopReason? {
        for directive in directives {
            switch directive {
            case .connect(let routingID):
                connection = nil
                attempts += 1
                connection = try Connection(context: context, options: options, routingID: routingID, attempt: attempts, wakeup: wakeup)
                logger.debug("connecting", metadata: ["attempt": "\(attempts)"])
            case .disconnect:
                connection = nil
            case .send(let envelope):
                send(envelope)
            case .compute(let lease):
                pool.submit(lease)
            case .stop(let reason):
                return reason
            }
        }
        return nil
    }

    /// Never waits: with the coordinator gone, messages pile up in libzmq's queue until its
    /// high-water mark, then are dropped here (the coordinator re-queues their leases).
    private func send(_ envelope: WireEnvelope) {
        guard let connection else { return }
        do {
            try connection.dealer.send([WireCodec.encode(envelope)], timeout: .zero)
        } catch {
            logger.warning("a message to the coordinator was dropped", metadata: [
                "verb": "\(envelope.message.verb)", "error": "\(error)",
            ])
        }
    }

    private func finish(_ reason: WorkerCore.StopReason) throws {
        switch reason {
        case .shutdown:
            break
        case .gaveUp(let refused):
            let after = core.configuration.giveUpAfter ?? .zero
            throw refused ? WorkerError.refused(after: after) : WorkerError.unreachable(after: after)
        }
    }

    /// The totals, once, however the worker stops: as the coordinator's summary, what an
    /// operator checks after a run (bad_messages_total above 0: something else talks to it).
    private func logSummary() {
        let counters = core.counters
        logger.info("worker finished", metadata: [
            "event": "summary", "bad_messages_total": .stringConvertible(counters.badMessages),
            "batches_done": .stringConvertible(counters.batchesDone), "walks_done": .stringConvertible(counters.walksDone),
            "steps_done": .stringConvertible(counters.stepsDone), "reconnects": .stringConvertible(counters.reconnects),
        ])
    }

    private func now() -> Duration {
        origin.duration(to: clock.now)
    }
}
