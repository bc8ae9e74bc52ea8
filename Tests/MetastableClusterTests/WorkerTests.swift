import Foundation
import Logging
import Metastable
@testable import MetastableCluster
import Synchronization
import Testing

/// A small experiment: 11 batches of one point, a fraction of a second to run.
private let spec = """
    chain: {clusters: 3, cluster_size: 10, kernel: permutations(3), sources: 1, epsilon: 0.05, seed: 7}
    walks: 1000
    batch_size: 96
    seed: 5
    """
private let quiet = Logger(label: "metastable.worker.test", factory: { _ in SwiftLogNoOpLogHandler() })

// MARK: - The state machine, on a simulated clock

/// A `WorkerCore` and the time it lives in.
private struct Harness {
    var core: WorkerCore
    var now = Duration.zero

    init(threads: Int = 2, credits: Int = 3, configure: (inout WorkerCore.Configuration) -> Void = { _ in }) {
        var configuration = WorkerCore.Configuration(
            workerID: "w1", threads: threads, credits: credits, heartbeatInterval: .seconds(1), pid: 42,
            hostname: "host", softwareVersion: "test", randomSeed: 1)
        configure(&configuration)
        core = WorkerCore(configuration: configuration, logger: quiet)
    }

    mutating func start() -> [WorkerCore.Directive] { core.start(at: now) }

    mutating func receive(_ message: WireMessage, runID: String = "run-1") -> [WorkerCore.Directive] {
        core.received(WireEnvelope(runID: runID, message: message), at: now)
    }

    mutating func job(_ yaml: String = spec, id: UInt64 = 7, seed: UInt64 = 99) -> [WorkerCore.Directive] {
        receive(.job(.init(jobID: id, source: .experiment(specYAML: yaml, seed: seed))))
    }

    mutating func task(_ index: UInt64, job: UInt64 = 7, round: UInt64 = 0, walks: Range<UInt64>? = nil) -> [WorkerCore.Directive] {
        receive(.task(.init(jobID: job, batchID: round << 32 | index, walks: walks ?? index * 96..<(index + 1) * 96, round: round)))
    }

    mutating func finish(_ lease: WorkerLease, _ result: Result<WorkerOutput, BatchFailure>? = nil) -> [WorkerCore.Directive] {
        core.batchFinished(ticket: lease.ticket, result ?? .success(WorkerOutput(RoundBatchOutput(outcome: MonteCarloOutcome(steps: 1000)))), at: now)
    }

    mutating func tick(at time: Duration) -> [WorkerCore.Directive] {
        now = time
        return core.tick(at: now, wallClockNanoseconds: 1_700_000_000_000_000_000)
    }

    /// Ticks every millisecond from now up to `end`, with everything the core said.
    mutating func run(until end: Duration) -> [(at: Duration, directives: [WorkerCore.Directive])] {
        var log: [(Duration, [WorkerCore.Directive])] = []
        while now < end {
            let directives = tick(at: now + .milliseconds(1))
            if !directives.isEmpty { log.append((now, directives)) }
        }
        return log
    }
}

private func messages(_ directives: [WorkerCore.Directive]) -> [WireEnvelope] {
    directives.compactMap { if case .send(let envelope) = $0 { envelope } else { nil } }
}

private func leases(_ directives: [WorkerCore.Directive]) -> [WorkerLease] {
    directives.compactMap { if case .compute(let lease) = $0 { lease } else { nil } }
}

private func errorCodes(_ directives: [WorkerCore.Directive]) -> [WireMessage.ErrorReport.Code] {
    messages(directives).compactMap { if case .error(let report) = $0.message { report.code } else { nil } }
}

private func isHello(_ envelope: WireEnvelope) -> Bool {
    if case .hello = envelope.message { true } else { false }
}

@Suite("Worker: state machine")
struct WorkerCoreTests {
    @Test func helloThenJobThenLeasesWithinCredits() throws {
        var h = Harness(threads: 2, credits: 3)
        let start = h.start()
        #expect(start.count == 2)
        guard case .connect(let routingID) = start.first else { Issue.record("no connect: \(start)"); return }
        #expect(!routingID.isEmpty && routingID[0] != 0)
        #expect(messages(start) == [WireEnvelope(runID: "", message: .hello(.init(
            workerID: "w1", cores: 2, credits: 3, pid: 42, hostname: "host", softwareVersion: "test")))])

        #expect(h.job().isEmpty)
        // Two threads: two leases compute, the third waits, the fourth is over the credit.
        let first = leases(h.task(0)), second = leases(h.task(1))
        #expect(first.count == 1 && second.count == 1)
        #expect(h.task(2).isEmpty && h.core.queuedLeases == 1)
        #expect(errorCodes(h.task(3)) == [.outOfResources])
        #expect(h.core.heldLeases == 3 && h.core.computing == 2)

        let lease = try #require(first.first)
        #expect(lease.batchID == 0 && lease.point == 0 && lease.walks == 0..<96 && lease.job.jobID == 7)
        // The job's seed overrides the spec's, as `metastable run --seed` does.
        #expect(lease.job.plan.points[0].spec.seed == 99)

        // A result frees a thread for the waiting lease and a credit for the next one.
        let outcome = MonteCarloOutcome(hittingTimes: IntegerSampleAccumulator(), steps: 1234)
        let finished = h.finish(lease, .success(WorkerOutput(RoundBatchOutput(outcome: outcome))))
        #expect(leases(finished).map(\.batchID) == [2])
        #expect(messages(finished) == [WireEnvelope(runID: "run-1", message: .result(.init(
            jobID: 7, batchID: 0, steps: 1234, hittingTime: outcome.hittingTimes)))])
        #expect(h.task(4).isEmpty && h.core.heldLeases == 3)
        #expect(h.task(4).isEmpty && h.core.heldLeases == 3, "a duplicate lease is held once")
        #expect(h.core.counters.batchesDone == 1 && h.core.counters.walksDone == 96 && h.core.counters.stepsDone == 1234)
    }

    @Test func heartbeatsFillSilenceOnTheWorkersSide() throws {
        var h = Harness(threads: 1, credits: 1)
        _ = h.start()
        _ = h.job()
        let lease = try #require(leases(h.task(0)).first)
        #expect(h.tick(at: .milliseconds(999)).isEmpty)
        let beat = messages(h.tick(at: .seconds(1)))
        #expect(beat == [WireEnvelope(runID: "run-1", message: .heartbeat(.init(
            sequence: 1, senderTimeNanoseconds: 1_700_000_000_000_000_000)))])
        _ = h.receive(.heartbeat(.init(sequence: 1, senderTimeNanoseconds: 0)))
        #expect(h.tick(at: .milliseconds(1500)).isEmpty)
        // Anything sent counts: the next heartbeat is an interval after the result.
        h.now = .milliseconds(1800)
        #expect(messages(h.finish(lease)).count == 1)
        #expect(h.tick(at: .milliseconds(2799)).isEmpty)
        guard case .heartbeat(let second)? = messages(h.tick(at: .milliseconds(2800))).first?.message else {
            Issue.record("no heartbeat")
            return
        }
        #expect(second.sequence == 2)
    }

    @Test func silentCoordinatorMeansReconnectingWithBackoff() throws {
        var h = Harness(threads: 1, credits: 3) {
            $0.initialBackoff = .milliseconds(100)
            $0.maxBackoff = .milliseconds(400)
        }
        guard case .connect(let firstID) = h.start().first else { Issue.record("no connect"); return }
        _ = h.job()
        let computing = try #require(leases(h.task(0)).first)
        _ = h.task(1)
        _ = h.task(2)
        #expect(h.core.queuedLeases == 2)

        // Heartbeats at 1 s and 2 s; the coordinator has said nothing since 0.
        #expect(h.run(until: .milliseconds(2999)).map { messages($0.directives).count } == [1, 1])
        #expect(h.tick(at: .seconds(3)) == [.disconnect])
        #expect(h.core.queuedLeases == 0 && h.core.computing == 1, "queued leases are dropped, running ones finish")
        #expect(h.finish(computing).isEmpty, "kept for the next connection")

        // Back in 50...100 ms: a new routing id, HELLO with the run, then the result.
        let back = h.run(until: .milliseconds(3200))
        let reconnected = try #require(back.first)
        #expect(reconnected.at >= .milliseconds(3050) && reconnected.at <= .milliseconds(3100))
        guard case .connect(let secondID) = reconnected.directives.first else { Issue.record("no connect"); return }
        #expect(secondID != firstID && secondID[0] != 0)
        let sent = messages(reconnected.directives)
        #expect(sent.count == 2 && isHello(sent[0]) && sent[0].runID == "run-1")
        guard case .result(let result) = sent.last?.message else { Issue.record("no result"); return }
        #expect(result.batchID == 0)

        // Each silent attempt doubles the delay up to the cap: 100-200, 200-400, 200-400 ms.
        var at = reconnected.at
        for (low, high) in [(100, 200), (200, 400), (200, 400)] {
            let silence = h.run(until: at + .seconds(3) + .milliseconds(high) + .milliseconds(1))
            let disconnect = try #require(silence.first { $0.directives == [.disconnect] })
            let connect = try #require(silence.last)
            #expect(disconnect.at == at + .seconds(3))
            let delay = connect.at - disconnect.at
            #expect(delay >= .milliseconds(low) && delay <= .milliseconds(high), "\(delay)")
            at = connect.at
        }
        #expect(h.core.counters.reconnects == 4)
        // A message from the coordinator resets the back-off.
        _ = h.receive(.heartbeat(.init(sequence: 1, senderTimeNanoseconds: 0)))
        let again = h.run(until: h.now + .seconds(3) + .milliseconds(101))
        let lastDisconnect = try #require(again.first { $0.directives == [.disconnect] })
        let lastConnect = try #require(again.last)
        #expect(lastConnect.at - lastDisconnect.at <= .milliseconds(100))
    }

    @Test func unknownJobErrorMeansHelloAgain() throws {
        var h = Harness(threads: 1, credits: 2)
        _ = h.start()
        _ = h.job()
        let computing = try #require(leases(h.task(0)).first)
        _ = h.task(1)

        h.now = .seconds(2)
        let unknown = WireMessage.error(.init(code: .unknownJob, message: "who are you"))
        let hello = messages(h.receive(unknown))
        #expect(hello.count == 1 && isHello(hello[0]) && hello[0].runID == "run-1")
        #expect(h.core.queuedLeases == 0 && h.core.heldLeases == 0 && h.core.computing == 1)
        h.now = .milliseconds(2500)
        #expect(h.receive(unknown).isEmpty, "a HELLO is on its way already")

        // The coordinator leases the running batch again: it is adopted, not run twice.
        #expect(h.task(0).isEmpty && h.core.heldLeases == 1 && h.core.computing == 1)
        #expect(h.task(2).isEmpty && h.core.queuedLeases == 1)
        #expect(errorCodes(h.task(3)) == [.outOfResources])
        #expect(leases(h.finish(computing)).map(\.batchID) == [2])

        h.now = .milliseconds(3500)
        #expect(messages(h.receive(unknown)).map(isHello) == [true])
    }

    @Test func shutdownStopsAtOnce() throws {
        var h = Harness()
        _ = h.start()
        _ = h.job()
        let lease = try #require(leases(h.task(0)).first)
        #expect(h.receive(.shutdown(.init(reason: "done"))) == [.stop(.shutdown(reason: "done"))])
        #expect(h.finish(lease).isEmpty)
        #expect(h.tick(at: .seconds(10)).isEmpty)
        #expect(h.task(1).isEmpty)
    }

    @Test func badMessagesAreCountedAndDropped() {
        var h = Harness()
        _ = h.start()
        #expect(h.core.receivedMalformed(WireError(.malformed, "garbage"), at: .zero).isEmpty)
        #expect(h.receive(.hello(.init(workerID: "x", cores: 1, credits: 1, pid: 1, hostname: "", softwareVersion: ""))).isEmpty)
        #expect(h.receive(.result(.init(jobID: 7, batchID: 0, steps: 0, hittingTime: IntegerSampleAccumulator()))).isEmpty)
        #expect(h.core.counters.badMessages == 3)
        // They still show the coordinator is there.
        #expect(h.core.receivedMalformed(WireError(.unsupportedVersion, "v9"), at: .milliseconds(2500)).isEmpty)
        #expect(!h.run(until: .milliseconds(5400)).contains { $0.directives.contains(.disconnect) })
        #expect(h.tick(at: .milliseconds(5500)) == [.disconnect])
    }

    @Test func unusableJobsAndPointsAreReportedAndTheWorkerCarriesOn() throws {
        var h = Harness(threads: 1, credits: 2)
        _ = h.start()
        #expect(errorCodes(h.task(0)) == [.unknownJob], "no job yet")
        #expect(errorCodes(h.job("chain: [")) == [.badSpec])
        #expect(errorCodes(h.task(0)) == [.badSpec])
        #expect(errorCodes(h.receive(.job(.init(jobID: 8, source: .graphChunk(.init(
            data: [1], index: 0, count: 1, totalSize: 1, crc32: 0)))))) == [.badGraph])
        #expect(messages(h.tick(at: .seconds(1))).map(\.message.verb) == ["HEARTBEAT"], "still there")
        #expect(h.core.heldLeases == 0)

        // A graph file missing on this machine: the point cannot be prepared.
        #expect(h.job("chain: {graph: /nonexistent/metastable/g.mtx}\nwalks: 100", id: 9).isEmpty)
        let lease = try #require(leases(h.task(0, job: 9, walks: 0..<50)).first)
        let failure = Result { try PreparedPoint(lease.job.plan, point: lease.point) }.map { _ in WorkerOutput(RoundBatchOutput()) }
            .mapError { BatchFailure.preparing($0) }
        let answer = messages(h.finish(lease, failure))
        guard case .error(let report)? = answer.first?.message else { Issue.record("no error: \(answer)"); return }
        #expect(report.code == .badGraph && report.message.contains("/nonexistent/metastable/g.mtx"))
        #expect(h.core.heldLeases == 0)

        // However long the reason, the ERROR stays within what the coordinator decodes.
        let refusal = try #require(messages(h.job(String(repeating: "é", count: 5000) + ": 1", id: 11)).first)
        guard case .error(let long) = try WireCodec.decode(WireCodec.encode(refusal)).message else {
            Issue.record("no error: \(refusal)")
            return
        }
        #expect(long.code == .badSpec && long.message.utf8.count > 4000 && long.message.utf8.count <= WireCodec.maxTextLength)

        // A good job afterwards runs.
        #expect(h.job(id: 10).isEmpty)
        #expect(leases(h.task(0, job: 10)).count == 1)
    }

    @Test func leasesThatMakeNoSenseAreRefusedWithoutTrapping() {
        var h = Harness()
        _ = h.start()
        _ = h.job()
        #expect(errorCodes(h.task(0, round: 1)) == [.malformedMessage], "the job has one point")
        #expect(errorCodes(h.task(0, round: .max)) == [.malformedMessage])
        #expect(errorCodes(h.task(0, walks: 0..<UInt64.max)) == [.malformedMessage])
        #expect(errorCodes(h.task(0, walks: 960..<1001)) == [.malformedMessage], "1000 walks")
        #expect(errorCodes(h.task(0, job: 8)) == [.unknownJob])
        #expect(errorCodes(h.receive(.task(.init(jobID: 7, batchID: 0, walks: 0..<10)), runID: "other-run")) == [.unknownJob])
        #expect(h.core.heldLeases == 0 && h.core.counters.badMessages == 6)
        #expect(leases(h.task(10, walks: 960..<1000)).count == 1)
    }

    @Test func refusedHandshakeBacksOffThenGivesUp() {
        var h = Harness {
            $0.usesCurve = true
            $0.giveUpAfter = .seconds(2)
        }
        _ = h.start()
        h.now = .milliseconds(10)
        #expect(h.core.handshakeFailed(.refused(statusCode: 400), at: h.now) == [.disconnect])
        // Every attempt is refused at once; they come at 50-100, 100-200, 200-400, 400-800 ms...
        var attempts = 0
        while h.now < .milliseconds(1999) {
            let directives = h.tick(at: h.now + .milliseconds(1))
            guard case .connect = directives.first else { continue }
            attempts += 1
            #expect(h.core.handshakeFailed(.refused(statusCode: 400), at: h.now) == [.disconnect])
        }
        #expect((4...5).contains(attempts), "\(attempts) attempts")
        #expect(h.tick(at: .seconds(2)) == [.stop(.gaveUp(refused: true))])
        #expect(h.tick(at: .seconds(3)).isEmpty)

        // Without a refusal it is just unreachable.
        var silent = Harness { $0.giveUpAfter = .seconds(2) }
        _ = silent.start()
        #expect(silent.run(until: .milliseconds(1999)).allSatisfy { !$0.directives.contains { $0 == .stop(.gaveUp(refused: false)) } })
        #expect(silent.tick(at: .seconds(2)) == [.stop(.gaveUp(refused: false))])
    }
}

// MARK: - The worker process against a fake coordinator

/// A coordinator reduced to its socket: a ROUTER on an ephemeral loopback port and, with
/// CURVE, a ZAP handler that accepts the keys it is given. Used from one thread.
private final class FakeCoordinator {
    static let runID = "run-e2e"
    let endpoint: String
    let serverKeys: ZMQCurve.KeyPair?
    private(set) var zapRequests = 0
    private let context: ZMQContext
    private let router: ZMQSocket
    private let zap: ZMQSocket?
    private var poller = ZMQPoller()
    private let authorized: Set<ZMQCurveKey>

    init(curve: Bool = false, authorized: Set<ZMQCurveKey> = []) throws {
        context = try ZMQContext()
        router = try ZMQSocket(context, type: .router)
        self.authorized = authorized
        if curve {
            let zap = try ZMQSocket(context, type: .rep)
            try zap.bind("inproc://zeromq.zap.01")
            let keys = try ZMQCurve.keyPair()
            try router.set(.curveServer(true))
            try router.set(.curveSecretKey(keys.secretKey))
            self.zap = zap
            serverKeys = keys
        } else {
            zap = nil
            serverKeys = nil
        }
        try router.bind("tcp://127.0.0.1:0")
        endpoint = try router.lastEndpoint()
        poller.add(router)
        if let zap { poller.add(zap) }
    }

    /// The next message, or nil after `timeout`; answers ZAP requests meanwhile.
    func receive(timeout: Duration) throws -> (peer: [UInt8], envelope: WireEnvelope)? {
        let clock = ContinuousClock(), deadline = clock.now + timeout
        repeat {
            let ready = try poller.poll(timeout: clock.now.duration(to: deadline))
            if let zap, ready.count > 1, ready[1].contains(.readable), let request = try zap.receive(timeout: .zero) {
                // ZAP 1.0: version, request id, domain, address, identity, mechanism, key.
                zapRequests += 1
                let key = request.count >= 7 ? ZMQCurveKey(bytes: request[6]) : nil
                let status = key.map(authorized.contains) == true ? "200" : "400"
                try zap.send([Array("1.0".utf8), request[1], Array(status.utf8), [], [], []])
            }
            if ready[0].contains(.readable), let frames = try router.receive(timeout: .zero) {
                guard frames.count == 2 else { Issue.record("\(frames.count) frames"); continue }
                return (frames[0], try WireCodec.decode(frames[1]))
            }
        } while clock.now < deadline
        return nil
    }

    func send(_ message: WireMessage, to peer: [UInt8]) throws {
        try router.send([peer, WireCodec.encode(WireEnvelope(runID: Self.runID, message: message))], timeout: .seconds(1))
    }
}

/// `Worker.run()` on a thread of its own.
private final class WorkerThread: Sendable {
    let worker: Worker
    private let outcome = Mutex<Result<Void, any Error>?>(nil)
    private let done = DispatchSemaphore(value: 0)

    init(_ options: WorkerOptions, logger: Logger = quiet) {
        worker = Worker(options: options, logger: logger)
        Thread { [self] in
            let result = Result { try worker.run() }
            outcome.withLock { $0 = result }
            done.signal()
        }.start()
    }

    /// How `run` ended, or nil if it is still running after `timeout`.
    func wait(_ timeout: Duration) -> Result<Void, any Error>? {
        guard done.wait(timeout: .now() + .nanoseconds(Int(timeout.wholeNanoseconds))) == .success else { return nil }
        done.signal()
        return outcome.withLock { $0 }
    }

    /// Stops the worker, whatever the test did.
    func stop() {
        worker.stop()
        _ = wait(.seconds(5))
    }
}

/// Log messages, for checking what an operator would read.
private final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])
    var messages: [String] { lines.withLock { $0 } }

    var logger: Logger {
        Logger(label: "capture") { _ in Handler(capture: self) }
    }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel = Logger.Level.trace

        func log(event: LogEvent) {
            capture.lines.withLock { $0.append(event.message.description) }
        }

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
    }
}

@Suite("Worker: end to end", .serialized)
struct WorkerEndToEndTests {
    @Test func resultsMergeToTheLocalExecutorsOutcome() throws {
        let coordinator = try FakeCoordinator()
        let run = WorkerThread(WorkerOptions(endpoint: coordinator.endpoint, threads: 2, credits: 3, heartbeatInterval: .milliseconds(50)))
        defer { run.stop() }

        var plan = try ExperimentPlan.parse(yaml: spec)
        plan.points[0].spec.seed = 99
        let point = try PreparedPoint(plan, point: 0)
        var pending = Array(0..<point.batchCount)
        var leased: [UInt64: Int] = [:] // batch id -> batch
        var results: [Int: MonteCarloOutcome] = [:]
        var peer: [UInt8]?, credits = 0, hellos = 0

        func lease() throws {
            guard let peer else { return }
            while leased.count < credits, !pending.isEmpty {
                let batch = pending.removeFirst(), walks = point.batch(batch)
                leased[UInt64(batch)] = batch
                try coordinator.send(.task(.init(
                    jobID: 3, batchID: UInt64(batch), walks: UInt64(walks.lowerBound)..<UInt64(walks.upperBound), round: 0)), to: peer)
            }
        }

        let clock = ContinuousClock(), deadline = clock.now + .seconds(30)
        var lastBeat = clock.now
        while results.count < point.batchCount, clock.now < deadline {
            if let peer, lastBeat.duration(to: clock.now) >= .milliseconds(20) {
                try coordinator.send(.heartbeat(.init(sequence: 0, senderTimeNanoseconds: 0)), to: peer)
                lastBeat = clock.now
            }
            guard let message = try coordinator.receive(timeout: .milliseconds(10)) else { continue }
            let (from, envelope) = message
            switch envelope.message {
            case .hello(let hello):
                hellos += 1
                #expect(hello.cores == 2 && hello.credits == 3 && !hello.workerID.isEmpty)
                if hellos == 1 { #expect(envelope.runID.isEmpty) }
                // A new registration: what the old one held goes back to the queue.
                pending = leased.values.sorted() + pending
                leased = [:]
                peer = from
                credits = Int(hello.credits)
                try coordinator.send(.job(.init(jobID: 3, source: .experiment(specYAML: spec, seed: 99))), to: from)
                try lease()
            case .result(let result):
                #expect(envelope.runID == FakeCoordinator.runID && result.jobID == 3)
                if let batch = leased.removeValue(forKey: result.batchID) {
                    results[batch] = MonteCarloOutcome(
                        hittingTimes: result.hittingTime, steps: result.steps, hardSteps: result.hardSteps,
                        clustersVisited: result.clustersVisited, transitions: result.transitions)
                }
                try lease()
            case .heartbeat:
                break
            default:
                Issue.record("unexpected \(envelope.message)")
            }
        }
        try #require(results.count == point.batchCount)

        var merged = MonteCarloOutcome()
        for batch in 0..<point.batchCount { merged.merge(results[batch]!) }
        #expect(merged == (try LocalExecutor(threads: 1).run(point) { _ in }))
        #expect(merged.hittingTimes.count == 1000 && merged.transitions != nil)

        try coordinator.send(.shutdown(.init(reason: "done")), to: try #require(peer))
        let ended = try #require(run.wait(.seconds(5)), "run() returns after SHUTDOWN")
        #expect(throws: Never.self) { try ended.get() }
    }

    @Test func silentCoordinatorMeansANewConnectionAndHello() throws {
        let coordinator = try FakeCoordinator()
        let run = WorkerThread(WorkerOptions(
            endpoint: coordinator.endpoint, threads: 1, heartbeatInterval: .milliseconds(50), maxReconnectBackoff: .milliseconds(200)))
        defer { run.stop() }

        let first = try #require(try coordinator.receive(timeout: .seconds(5)))
        #expect(isHello(first.envelope))
        try coordinator.send(.job(.init(jobID: 1, source: .experiment(specYAML: spec, seed: 1))), to: first.peer)
        let clock = ContinuousClock(), silentSince = clock.now
        // Say nothing more: heartbeats arrive, then a HELLO from a new routing id.
        var heartbeats = 0
        var second: (peer: [UInt8], envelope: WireEnvelope)?
        while second == nil, clock.now < silentSince + .seconds(5) {
            guard let message = try coordinator.receive(timeout: .milliseconds(100)) else { continue }
            if isHello(message.envelope) { second = message } else { heartbeats += 1 }
        }
        let hello = try #require(second)
        let silence = silentSince.duration(to: clock.now)
        #expect(hello.peer != first.peer)
        #expect(hello.envelope.runID == FakeCoordinator.runID, "the worker knows the run now")
        #expect(silence >= .milliseconds(150) && heartbeats >= 2, "\(silence), \(heartbeats) heartbeats")

        try coordinator.send(.shutdown(.init(reason: "done")), to: hello.peer)
        let ended = try #require(run.wait(.seconds(5)))
        #expect(throws: Never.self) { try ended.get() }
    }

    @Test func curveWorkerWithAnAuthorizedKeyIsServed() throws {
        let workerKeys = try ZMQCurve.keyPair()
        let coordinator = try FakeCoordinator(curve: true, authorized: [workerKeys.publicKey])
        let curve = WorkerOptions.Curve(
            secretKey: workerKeys.secretKey, publicKey: workerKeys.publicKey, serverKey: try #require(coordinator.serverKeys).publicKey)
        let run = WorkerThread(WorkerOptions(endpoint: coordinator.endpoint, threads: 1, heartbeatInterval: .milliseconds(50), curve: curve))
        defer { run.stop() }

        let hello = try #require(try coordinator.receive(timeout: .seconds(5)))
        #expect(isHello(hello.envelope) && coordinator.zapRequests == 1)
        try coordinator.send(.shutdown(.init(reason: "done")), to: hello.peer)
        let ended = try #require(run.wait(.seconds(5)))
        #expect(throws: Never.self) { try ended.get() }
    }

    @Test func curveWorkerWithAnUnknownKeyIsToldWhyAndGivesUp() throws {
        let coordinator = try FakeCoordinator(curve: true, authorized: [])
        let workerKeys = try ZMQCurve.keyPair()
        let curve = WorkerOptions.Curve(
            secretKey: workerKeys.secretKey, publicKey: workerKeys.publicKey, serverKey: try #require(coordinator.serverKeys).publicKey)
        let logs = LogCapture()
        let run = WorkerThread(
            WorkerOptions(endpoint: coordinator.endpoint, threads: 1, heartbeatInterval: .milliseconds(50), curve: curve, giveUpAfter: .milliseconds(600)),
            logger: logs.logger)
        defer { run.stop() }

        // Serve ZAP (refusing) until the worker gives up.
        var ended: Result<Void, any Error>?
        let clock = ContinuousClock(), deadline = clock.now + .seconds(5)
        while ended == nil, clock.now < deadline {
            if let message = try coordinator.receive(timeout: .milliseconds(20)) {
                Issue.record("a message got through: \(message.envelope)")
            }
            ended = run.wait(.zero)
        }
        let result = try #require(ended)
        #expect(throws: WorkerError.refused(after: .milliseconds(600))) { try result.get() }
        // libzmq never retries a refused connection; the worker does, with back-off.
        #expect(coordinator.zapRequests >= 2 && coordinator.zapRequests <= 8, "\(coordinator.zapRequests) attempts")
        #expect(logs.messages.contains {
            $0.contains("did not accept this worker's key (CURVE); check that its public key is in the coordinator's authorized keys")
        })
    }

    @Test func curveWorkerWithTheWrongServerKeyIsToldWhy() throws {
        let coordinator = try FakeCoordinator(curve: true)
        let workerKeys = try ZMQCurve.keyPair(), impostor = try ZMQCurve.keyPair()
        let curve = WorkerOptions.Curve(secretKey: workerKeys.secretKey, publicKey: workerKeys.publicKey, serverKey: impostor.publicKey)
        let logs = LogCapture()
        let run = WorkerThread(
            WorkerOptions(endpoint: coordinator.endpoint, threads: 1, heartbeatInterval: .milliseconds(50), curve: curve, giveUpAfter: .milliseconds(300)),
            logger: logs.logger)
        defer { run.stop() }

        var ended: Result<Void, any Error>?
        let clock = ContinuousClock(), deadline = clock.now + .seconds(5)
        while ended == nil, clock.now < deadline {
            if let message = try coordinator.receive(timeout: .milliseconds(20)) {
                Issue.record("a message got through: \(message.envelope)")
            }
            ended = run.wait(.zero)
        }
        #expect(throws: WorkerError.unreachable(after: .milliseconds(300))) { try #require(ended).get() }
        #expect(coordinator.zapRequests == 0, "the handshake fails before authentication")
        #expect(logs.messages.contains { $0.contains("check the coordinator's public key (the server key)") })
    }

    @Test func stopMakesRunReturn() throws {
        // Nobody listens on port 1: the worker keeps trying until stopped.
        let run = WorkerThread(WorkerOptions(endpoint: "tcp://127.0.0.1:1", threads: 1, heartbeatInterval: .milliseconds(50)))
        #expect(run.wait(.milliseconds(200)) == nil)
        run.worker.stop()
        let ended = try #require(run.wait(.seconds(1)))
        #expect(throws: Never.self) { try ended.get() }
    }

    @Test func badOptionsAndEndpointsThrow() {
        #expect(throws: WorkerError.invalidOptions("threads must be at least 1, got 0")) {
            try Worker(options: WorkerOptions(endpoint: "tcp://127.0.0.1:1", threads: 0), logger: quiet).run()
        }
        #expect(throws: WorkerError.self) {
            try Worker(options: WorkerOptions(endpoint: "tcp://127.0.0.1:1", threads: 1, credits: 0), logger: quiet).run()
        }
        #expect(throws: WorkerError.self) {
            try Worker(options: WorkerOptions(endpoint: "tcp://127.0.0.1:1", threads: 1, workerID: ""), logger: quiet).run()
        }
        #expect(throws: ZMQError.self) {
            try Worker(options: WorkerOptions(endpoint: "not an endpoint", threads: 1), logger: quiet).run()
        }
    }
}
