public import Logging
import Metastable

/// The worker's side of the cluster protocol as a value: events in, directives out.
///
/// No sockets, threads or clocks: every event carries the time (any monotonic clock, as a
/// `Duration` since a fixed origin), and the caller carries out the directives in order.
/// `WorkerShell` drives it with ZeroMQ and compute threads; tests drive it with a
/// simulated clock.
///
/// The protocol as seen from here:
/// - connect (a fresh routing id each time), HELLO; the JOB names the run and the
///   experiment; TASK leases follow, at most `credits` held at once, at most `threads`
///   computing, the rest queued; every lease is answered by one RESULT, or by one ERROR when
///   it cannot run.
/// - HEARTBEAT after `heartbeatInterval` without sending anything. Coordinator silence for
///   `livenessIntervals` intervals, or a failed handshake: close, back off, connect again.
///   Queued leases are dropped then (the coordinator re-queues them when it drops the old
///   peer); batches still computing are finished and their RESULTs sent on the new
///   connection, after the HELLO.
/// - ERROR(unknownJob) from the coordinator: it does not know this worker; HELLO again.
/// - SHUTDOWN: stop at once, finishing nothing.
public struct WorkerCore: Sendable {
    public struct Configuration: Sendable {
        public var workerID: String
        /// Compute threads: how many leases run at once.
        public var threads: Int
        /// How many leases the worker holds at once (announced in HELLO).
        public var credits: Int
        public var heartbeatInterval: Duration
        /// Coordinator silence, in heartbeat intervals, after which the worker reconnects.
        public var livenessIntervals = 3
        /// The first reconnection delay, doubling with each failed attempt up to `maxBackoff`.
        public var initialBackoff = Duration.milliseconds(100)
        public var maxBackoff = Duration.seconds(5)
        /// Leave the run loop (`StopReason.gaveUp`) after this long without any message from
        /// a coordinator; nil: keep trying.
        public var giveUpAfter: Duration?
        /// Whether the connection uses CURVE: a coordinator that never answers is then most
        /// likely refusing this worker's key.
        public var usesCurve = false
        public var throughputInterval = Duration.seconds(5)
        public var pid: UInt32
        public var hostname: String
        public var softwareVersion: String
        /// Seeds the routing ids and back-off jitter.
        public var randomSeed: UInt64

        public init(
            workerID: String, threads: Int, credits: Int, heartbeatInterval: Duration, pid: UInt32, hostname: String,
            softwareVersion: String, randomSeed: UInt64
        ) {
            self.workerID = workerID
            self.threads = threads
            self.credits = credits
            self.heartbeatInterval = heartbeatInterval
            self.pid = pid
            self.hostname = hostname
            self.softwareVersion = softwareVersion
            self.randomSeed = randomSeed
        }
    }

    /// What the caller does, in order.
    public enum Directive: Sendable, Equatable {
        /// Close any connection, open a new DEALER with this routing id, and connect it.
        case connect(routingID: [UInt8])
        /// Close the connection; unsent messages are dropped.
        case disconnect
        case send(WireEnvelope)
        /// Run the lease on a compute thread and report with `batchFinished`.
        case compute(WorkerLease)
        /// Leave the run loop; the directives of later events are empty.
        case stop(StopReason)
    }

    public enum StopReason: Sendable, Equatable {
        /// The coordinator said SHUTDOWN.
        case shutdown(reason: String)
        /// `giveUpAfter` passed without a message from a coordinator; `refused`: the
        /// coordinator's ZAP handler refused this worker's handshake since the last one.
        case gaveUp(refused: Bool)
    }

    /// How the transport reports a failed handshake (the shell's socket monitor).
    public enum HandshakeFailure: Sendable, Equatable {
        /// The coordinator's ZAP handler refused this worker (a ZAP status code, e.g. 400):
        /// with CURVE, its public key is not among the coordinator's authorized keys.
        case refused(statusCode: UInt32)
        /// The handshake broke off or the peers disagree on the protocol (a libzmq code).
        case failed(code: UInt32)
    }

    public struct Counters: Sendable, Equatable {
        /// Messages from the coordinator that did not decode or made no sense to a worker
        /// (bad_messages_total): a HELLO or RESULT, and a TASK for a job or run this worker
        /// does not have or outside its job's points and walks (also answered with an ERROR).
        public var badMessages: UInt64 = 0
        public var batchesDone: UInt64 = 0
        public var walksDone: UInt64 = 0
        public var stepsDone: UInt64 = 0
        public var reconnects: UInt64 = 0
    }

    private enum Connection: Equatable {
        case idle
        case connected
        case backingOff(until: Duration)
        case stopped
    }

    private struct Held {
        var lease: WorkerLease
        /// The registration the lease was given under: leases of earlier ones still
        /// computing do not count against this registration's credits.
        var session: Int
        var started: Bool
    }

    public let configuration: Configuration
    public private(set) var counters = Counters()
    /// Carries `run_id` once a JOB names the run.
    private var logger: Logger
    private var random: SplitMix64

    private var connection = Connection.idle
    /// Increases with every HELLO after the first: leases belong to one registration.
    private var session = 0
    private var held: [UInt64: Held] = [:]
    /// Tickets of held leases not started yet, oldest first.
    private var queue: [UInt64] = []
    private var running = 0
    private var nextTicket: UInt64 = 0
    private var job: WorkerJob?
    /// A JOB that could not be taken, so that its TASKs are answered with the reason.
    private var failedJob: (jobID: UInt64, report: WireMessage.ErrorReport)?
    /// Empty until a JOB names the run.
    private var runID = ""
    /// RESULTs and ERRORs that finished while disconnected, sent after the next HELLO.
    private var outbox: [WireEnvelope] = []

    private var lastHeard = Duration.zero
    private var lastSent = Duration.zero
    private var lastHello = Duration.zero
    /// The last valid message from a coordinator, for `giveUpAfter`.
    private var lastContact = Duration.zero
    private var heardOnThisConnection = false
    private var failedAttempts = 0
    private var refusedSinceContact = false
    private var heartbeatSequence: UInt64 = 0
    private var lastReport = (at: Duration.zero, batches: UInt64(0), walks: UInt64(0), steps: UInt64(0))

    public init(configuration: Configuration, logger: Logger) {
        precondition(configuration.threads >= 1 && configuration.credits >= 1, "threads and credits must be at least 1")
        precondition(configuration.heartbeatInterval > .zero, "the heartbeat interval must be positive")
        self.configuration = configuration
        self.logger = logger
        random = SplitMix64(seed: configuration.randomSeed)
    }

    /// Leases held under the current registration, queued or computing.
    public var heldLeases: Int { held.values.count { $0.session == session } }
    /// Leases computing, of any registration.
    public var computing: Int { running }
    public var queuedLeases: Int { queue.count }

    // MARK: - Events

    public mutating func start(at now: Duration) -> [Directive] {
        guard connection == .idle else { return [] }
        lastContact = now
        lastReport.at = now
        return connect(at: now)
    }

    /// A message from the coordinator.
    public mutating func received(_ envelope: WireEnvelope, at now: Duration) -> [Directive] {
        guard connection == .connected else { return [] }
        lastHeard = now
        lastContact = now
        heardOnThisConnection = true
        failedAttempts = 0
        refusedSinceContact = false
        switch envelope.message {
        case .job(let job):
            return take(job, runID: envelope.runID, at: now)
        case .task(let task):
            return take(task, runID: envelope.runID, at: now)
        case .heartbeat:
            return []
        case .shutdown(let shutdown):
            logger.notice("the coordinator shut this worker down", metadata: ["reason": "\(shutdown.reason)"])
            connection = .stopped
            held = [:]
            queue = []
            outbox = []
            return [.stop(.shutdown(reason: shutdown.reason))]
        case .error(let report) where report.code == .unknownJob:
            // The coordinator does not know this worker (it dropped it, or restarted).
            // Unless a HELLO is on its way already, register again.
            guard now - lastHello >= configuration.heartbeatInterval else { return [] }
            logger.warning("the coordinator does not know this worker; sending HELLO again", metadata: ["error": "\(report.message)"])
            dropQueuedLeases()
            session += 1
            lastHello = now
            return send(hello(), at: now)
        case .error(let report):
            logger.error("the coordinator reported an error", metadata: ["code": "\(report.code)", "error": "\(report.message)"])
            return []
        case .hello, .result:
            countBadMessage("a \(envelope.message.verb) is not for a worker", at: now)
            return []
        }
    }

    /// Bytes from the coordinator that do not decode: counted, logged and dropped. They still
    /// show that the coordinator is there.
    public mutating func receivedMalformed(_ error: WireError, at now: Duration) -> [Directive] {
        guard connection == .connected else { return [] }
        lastHeard = now
        countBadMessage("\(error)", at: now)
        return []
    }

    /// The handshake of the current connection failed: reconnect after a back-off, since
    /// libzmq itself retries a refused connection never, a failed one at a fixed interval.
    public mutating func handshakeFailed(_ failure: HandshakeFailure, at now: Duration) -> [Directive] {
        guard connection == .connected else { return [] }
        switch failure {
        case .refused(let status) where configuration.usesCurve:
            refusedSinceContact = true
            logger.error(
                "the coordinator did not accept this worker's key (CURVE); check that its public key is in the coordinator's authorized keys",
                metadata: ["zap_status": "\(status)"])
        case .refused(let status):
            refusedSinceContact = true
            logger.error("the coordinator refused this worker (ZAP)", metadata: ["zap_status": "\(status)"])
        case .failed(let code) where configuration.usesCurve:
            logger.error(
                "the CURVE handshake with the coordinator failed; check the coordinator's public key (the server key) and that it runs with CURVE",
                metadata: ["code": "\(code)"])
        case .failed(let code):
            logger.error(
                "the handshake with the coordinator failed; check that the coordinator does not require CURVE",
                metadata: ["code": "\(code)"])
        }
        return reconnect(at: now)
    }

    /// A compute thread finished (or could not run) the lease with this ticket.
    public mutating func batchFinished(
        ticket: UInt64, _ result: Result<WorkerOutput, BatchFailure>, at now: Duration
    ) -> [Directive] {
        // Nothing is held after SHUTDOWN.
        guard let finished = held.removeValue(forKey: ticket) else { return [] }
        running -= 1
        let lease = finished.lease
        var directives = startQueuedLeases()
        let message: WireMessage
        switch result {
        case .success(let done):
            let output = done.output, outcome = output.outcome
            counters.batchesDone += 1
            counters.walksDone += lease.segment == nil ? UInt64(lease.walks.count) : outcome.hittingTimes.count
            counters.stepsDone += outcome.steps
            logger.debug("batch done", metadata: [
                "batch_id": "\(lease.batchID)", "walks": "\(lease.walks.count)", "steps": "\(outcome.steps)",
            ])
            message = .result(.init(
                jobID: lease.job.jobID, batchID: lease.batchID, steps: outcome.steps, hittingTime: outcome.hittingTimes,
                hardSteps: outcome.hardSteps, clustersVisited: outcome.clustersVisited, transitions: outcome.transitions,
                payload: output.payload.isEmpty ? nil : output.payload, departures: done.departures,
                segmentDigest: lease.segment.map {
                    $0.arrivals.digest(fresh: UInt64(lease.walks.lowerBound)..<UInt64(lease.walks.upperBound))
                } ?? 0))
        case .failure(let failure):
            let report = errorReport(failure, lease)
            logger.error("batch failed", metadata: ["batch_id": "\(lease.batchID)", "error": "\(report.message)"])
            message = .error(report)
        }
        directives += send(WireEnvelope(runID: lease.job.runID, message: message), at: now)
        return directives
    }

    /// Time passes: heartbeats, liveness, reconnection, giving up, the throughput line.
    /// `wallClockNanoseconds` (since the Unix epoch) goes into heartbeats.
    public mutating func tick(at now: Duration, wallClockNanoseconds: UInt64) -> [Directive] {
        if connection == .idle || connection == .stopped { return [] }
        if let giveUpAfter = configuration.giveUpAfter, now - lastContact >= giveUpAfter {
            logger.error(
                "giving up: no message from the coordinator", metadata: ["after": "\(now - lastContact)", "refused": "\(refusedSinceContact)"])
            connection = .stopped
            return [.stop(.gaveUp(refused: refusedSinceContact))]
        }
        reportThroughput(at: now)
        switch connection {
        case .backingOff(let until) where now >= until:
            return connect(at: now)
        case .connected where now - lastHeard >= configuration.heartbeatInterval * configuration.livenessIntervals:
            if configuration.usesCurve, !heardOnThisConnection, !refusedSinceContact {
                logger.error(
                    "no answer from the coordinator since connecting; with CURVE this usually means that the coordinator did not accept this worker's key: check that its public key is in the coordinator's authorized keys, and the server key")
            } else {
                logger.warning("the coordinator is silent; reconnecting", metadata: ["silent_for": "\(now - lastHeard)"])
            }
            return reconnect(at: now)
        case .connected where now - lastSent >= configuration.heartbeatInterval:
            heartbeatSequence += 1
            return send(
                WireEnvelope(runID: runID, message: .heartbeat(.init(sequence: heartbeatSequence, senderTimeNanoseconds: wallClockNanoseconds))),
                at: now)
        default:
            return []
        }
    }

    // MARK: - Messages

    private mutating func take(_ message: WireMessage.Job, runID: String, at now: Duration) -> [Directive] {
        self.runID = runID
        guard case .experiment(let specYAML, let seed) = message.source else {
            return refuse(message.jobID, .init(code: .badGraph, truncating: "job \(message.jobID): this worker takes experiment jobs only, not graph chunks"), at: now)
        }
        if let job, job.isSame(runID: runID, jobID: message.jobID, specYAML: specYAML, seed: seed) { return [] }
        let job: WorkerJob
        do {
            job = try WorkerJob(runID: runID, jobID: message.jobID, specYAML: specYAML, seed: seed)
        } catch {
            return refuse(message.jobID, .init(code: .badSpec, truncating: "job \(message.jobID): \(error)"), at: now)
        }
        dropQueuedLeases()
        self.job = job
        failedJob = nil
        logger[metadataKey: "run_id"] = "\(runID)"
        logger.info("new job", metadata: ["job_id": "\(job.jobID)", "points": "\(job.plan.points.count)"])
        return []
    }

    private mutating func refuse(_ jobID: UInt64, _ report: WireMessage.ErrorReport, at now: Duration) -> [Directive] {
        logger.error("cannot take the job", metadata: ["job_id": "\(jobID)", "error": "\(report.message)"])
        dropQueuedLeases()
        job = nil
        failedJob = (jobID, report)
        return send(WireEnvelope(runID: runID, message: .error(report)), at: now)
    }

    private mutating func take(_ task: WireMessage.TaskLease, runID: String, at now: Duration) -> [Directive] {
        func answer(_ code: WireMessage.ErrorReport.Code, _ why: String, at now: Duration) -> [Directive] {
            let report = WireMessage.ErrorReport(code: code, truncating: "batch \(task.batchID) of job \(task.jobID): \(why)")
            switch code {
            case .malformedMessage, .unknownJob:
                // No coordinator sends these (it sends the JOB before its leases, within the
                // job's points): bad messages, as the coordinator counts out-of-range batch ids.
                countBadMessage(report.message, at: now)
            default:
                logger.warning("cannot run the lease", metadata: ["batch_id": "\(task.batchID)", "error": "\(report.message)"])
            }
            return send(WireEnvelope(runID: self.runID, message: .error(report)), at: now)
        }
        guard let job, job.jobID == task.jobID, job.runID == runID else {
            if let failedJob, failedJob.jobID == task.jobID { return answer(failedJob.report.code, failedJob.report.message, at: now) }
            return answer(.unknownJob, job.map { "this worker has \($0)" } ?? "this worker has no job", at: now)
        }
        let points = job.plan.points
        let point: Int
        if let input = task.input {
            // An algorithm round: the point runs what the input asks and checks it itself.
            guard input.point < points.count, points[input.point].spec.algorithm != nil else {
                return answer(.malformedMessage, "round input for point \(input.point): the job has no such algorithm point", at: now)
            }
            guard task.walks.upperBound <= UInt64(Int32.max) else {
                return answer(.malformedMessage, "items \(task.walks) beyond any round's", at: now)
            }
            point = input.point
        } else {
            guard task.round < UInt64(points.count) else {
                return answer(.malformedMessage, "round \(task.round): the job has \(points.count) points", at: now)
            }
            point = Int(task.round)
            guard points[point].spec.algorithm == nil else {
                return answer(.malformedMessage, "a task of algorithm point \(point) without its round input", at: now)
            }
            switch (points[point].spec.shards, task.segment) {
            case (nil, nil): break
            case (let shards?, let segment?) where segment.shard < shards: break
            case (let shards?, let segment?):
                return answer(.malformedMessage, "a segment on shard \(segment.shard) of point \(point)'s \(shards)", at: now)
            case (nil, _?):
                return answer(.malformedMessage, "a segment for point \(point), which is not partitioned", at: now)
            case (_?, nil):
                return answer(.malformedMessage, "a task of partitioned point \(point) without its segment", at: now)
            }
            guard task.walks.upperBound <= UInt64(points[point].spec.walks) else {
                return answer(.malformedMessage, "walks \(task.walks) beyond point \(point)'s \(points[point].spec.walks)", at: now)
            }
        }
        let current = held.first { $0.value.lease.job === job && $0.value.lease.batchID == task.batchID }
        if let current, current.value.session == session { return [] } // a duplicate: already held
        guard heldLeases < configuration.credits else {
            return answer(.outOfResources, "over this worker's \(configuration.credits) credits", at: now)
        }
        if let current {
            // Still computing from before a reconnect: take it into this registration
            // rather than run it twice.
            held[current.key]?.session = session
            return []
        }
        let lease = WorkerLease(
            ticket: nextTicket, job: job, batchID: task.batchID, point: point,
            walks: Int(task.walks.lowerBound)..<Int(task.walks.upperBound), task: task.input?.task, segment: task.segment)
        nextTicket += 1
        held[lease.ticket] = Held(lease: lease, session: session, started: false)
        queue.append(lease.ticket)
        return startQueuedLeases()
    }

    private func errorReport(_ failure: BatchFailure, _ lease: WorkerLease) -> WireMessage.ErrorReport {
        let prefix = "batch \(lease.batchID) of job \(lease.job.jobID), point \(lease.point)"
        switch failure {
        case .preparing(let error):
            // A graph file is the one input that may differ between machines.
            if case .file = lease.job.plan.points[lease.point].spec.chain {
                return .init(code: .badGraph, truncating: "\(prefix): \(error)")
            }
            return .init(code: .badSpec, truncating: "\(prefix): \(error)")
        case .walking(let error):
            return .init(code: error.reason == .outOfMemory ? .outOfResources : .badSpec, truncating: "\(prefix): \(error)")
        case .running(let error):
            return .init(code: .badSpec, truncating: "\(prefix): \(error)")
        }
    }

    private mutating func countBadMessage(_ why: String, at now: Duration) {
        counters.badMessages += 1
        logger.warning("dropped a bad message from the coordinator", metadata: [
            "error": "\(why)", "bad_messages_total": "\(counters.badMessages)",
        ])
    }

    // MARK: - Connection

    private mutating func connect(at now: Duration) -> [Directive] {
        connection = .connected
        lastHeard = now
        lastHello = now
        heardOnThisConnection = false
        // Routing ids starting with a zero byte are libzmq's own.
        var routingID = (0..<2).flatMap { _ in withUnsafeBytes(of: random.next()) { Array($0) } }
        routingID[0] |= 0x80
        var directives = [Directive.connect(routingID: routingID)]
        directives += send(hello(), at: now)
        let pending = outbox
        outbox = []
        for envelope in pending { directives += send(envelope, at: now) }
        return directives
    }

    private mutating func reconnect(at now: Duration) -> [Directive] {
        dropQueuedLeases()
        session += 1
        let delay = backoff()
        failedAttempts += 1
        counters.reconnects += 1
        connection = .backingOff(until: now + delay)
        logger.info("reconnecting", metadata: ["delay": "\(delay)", "attempt": "\(failedAttempts)"])
        return [.disconnect]
    }

    /// A random delay between half and all of `initialBackoff` · 2^failedAttempts, capped
    /// at `maxBackoff`: workers that lost the same coordinator do not come back in step.
    private mutating func backoff() -> Duration {
        var base = configuration.initialBackoff
        for _ in 0..<min(failedAttempts, 40) where base < configuration.maxBackoff { base *= 2 }
        base = min(base, configuration.maxBackoff)
        let half = base / 2
        let jitterNanoseconds = random.next() % (UInt64(half.wholeNanoseconds) + 1)
        return half + .nanoseconds(Int64(jitterNanoseconds))
    }

    private func hello() -> WireEnvelope {
        WireEnvelope(runID: runID, message: .hello(.init(
            workerID: configuration.workerID, cores: UInt32(clamping: configuration.threads),
            credits: UInt32(clamping: configuration.credits), pid: configuration.pid, hostname: configuration.hostname,
            softwareVersion: configuration.softwareVersion)))
    }

    /// Sends now, or after the next HELLO while disconnected.
    private mutating func send(_ envelope: WireEnvelope, at now: Duration) -> [Directive] {
        switch connection {
        case .connected:
            lastSent = now
            return [.send(envelope)]
        case .backingOff:
            outbox.append(envelope)
            return []
        case .idle, .stopped:
            return []
        }
    }

    // MARK: - Leases

    private mutating func startQueuedLeases() -> [Directive] {
        var directives: [Directive] = []
        while running < configuration.threads, !queue.isEmpty {
            let ticket = queue.removeFirst()
            guard let lease = held[ticket]?.lease else { continue }
            held[ticket]?.started = true
            running += 1
            directives.append(.compute(lease))
        }
        return directives
    }

    private mutating func dropQueuedLeases() {
        guard !queue.isEmpty else { return }
        logger.info("dropping leases not started", metadata: ["count": "\(queue.count)"])
        for ticket in queue { held[ticket] = nil }
        queue = []
    }

    private mutating func reportThroughput(at now: Duration) {
        let elapsed = now - lastReport.at
        guard elapsed >= configuration.throughputInterval else { return }
        let seconds = Double(elapsed.wholeNanoseconds) / 1e9
        if job != nil || counters.batchesDone > lastReport.batches {
            logger.info("throughput", metadata: [
                "batches_done": .stringConvertible(counters.batchesDone),
                "walks_per_s": .stringConvertible((Double(counters.walksDone - lastReport.walks) / seconds).rounded()),
                "steps_per_s": .stringConvertible((Double(counters.stepsDone - lastReport.steps) / seconds).rounded()),
                "computing": .stringConvertible(running), "queued": .stringConvertible(queue.count),
            ])
        }
        lastReport = (now, counters.batchesDone, counters.walksDone, counters.stepsDone)
    }
}

extension WireMessage.ErrorReport {
    /// A report whose message fits the wire's limit: a longer one would make the
    /// coordinator drop the whole message.
    init(code: Code, truncating message: String) {
        let scalars = message.unicodeScalars
        var end = scalars.startIndex, bytes = 0
        while end < scalars.endIndex, bytes + scalars[end].utf8.count <= WireCodec.maxTextLength {
            bytes += scalars[end].utf8.count
            end = scalars.index(after: end)
        }
        self.init(code: code, message: String(scalars[..<end]))
    }
}


extension Duration {
    /// Clamped to Int64 (292 years).
    var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? (seconds < 0 ? .min : .max) : product.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}

/// A small, fast generator for routing ids and jitter (not for the walks: those use Philox).
struct SplitMix64: Sendable {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
