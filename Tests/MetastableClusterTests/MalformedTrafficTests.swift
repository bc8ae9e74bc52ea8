import Foundation
import Metastable
import MetastableCluster
import Testing

// The acceptance test "bad input" of distributed runs, on real processes: more than 10,000
// malformed frames to a running coordinator and to a running worker; neither crashes, each bad
// frame is counted and logged, and a job run afterwards gives the correct result.

// MARK: - Bad messages

/// One message sent to the process under test, and what it must make of it.
private struct BadMessage {
    var kind: String
    /// The frames after the routing id: one, except for the multi-frame kind.
    var frames: [[UInt8]]
    /// Adds one to bad_messages_total and logs one warning.
    var counted = true
    /// The worker answers it with an ERROR (a lease or job it cannot take).
    var answered = false
}

/// Bad messages of every kind, drawn from a seeded stream so that a failure replays.
private struct BadMessages {
    private var random: WalkRandom
    /// The run id of the process under test: messages of "another run" use others.
    let runID: String

    init(seed: UInt64, runID: String) {
        random = WalkRandom(seed: seed, index: 0)
        self.runID = runID
    }

    mutating func below(_ bound: Int) -> Int { random.next(below: bound) }
    mutating func next() -> UInt64 { random.next() }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
    mutating func shuffle<T>(_ items: inout [T]) { random.shuffle(&items) }

    /// `count` messages from `build`, with a check that each decodes or does not, as its kind
    /// says: the counts the test expects depend on it.
    mutating func make(
        _ kind: String, _ count: Int, decodes: Bool, answered: Bool = false, counted: Bool = true,
        _ build: (inout BadMessages) -> [[UInt8]]
    ) -> [BadMessage] {
        (0..<count).map { _ in
            let frames = build(&self)
            if frames.count == 1, Self.decodes(frames[0]) != decodes {
                Issue.record("a \(kind) message that \(decodes ? "does not decode" : "decodes"): \(frames[0].prefix(64))")
            }
            return BadMessage(kind: kind, frames: frames, counted: counted, answered: answered)
        }
    }

    static func decodes(_ bytes: [UInt8]) -> Bool { (try? WireCodec.decode(bytes)) != nil }

    func encode(_ message: WireMessage, runID: String? = nil, version: UInt32 = WireEnvelope.currentVersion) -> [UInt8] {
        WireCodec.encode(WireEnvelope(version: version, runID: runID ?? self.runID, message: message))
    }

    /// Random bytes of a random length, 0 included.
    mutating func randomBytes() -> [UInt8] {
        let count = below(40) == 0 ? 0 : 1 + below(400)
        for _ in 0..<100 {
            let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
            if !Self.decodes(bytes) { return bytes }
        }
        return []
    }

    /// A valid message cut short: every strict prefix is refused, since the verb comes last.
    mutating func truncated(_ message: WireMessage) -> [UInt8] {
        let bytes = encode(message)
        return Array(bytes[..<below(bytes.count)])
    }

    /// A valid message of another protocol version (0: none at all).
    mutating func wrongVersion(_ message: WireMessage) -> [UInt8] {
        encode(message, version: pick([0, 2, 2, 2, 3, 1000, UInt32.max]))
    }

    /// Only the version (08 01), or a run id too, or a verb of a later version (fields 10+).
    mutating func noVerb() -> [UInt8] {
        switch below(3) {
        case 0: return [0x08, 0x01]
        case 1: return ProtoWriter.envelope { _ in }
        default:
            let field = 10 + below(6)
            return ProtoWriter.envelope { $0.message(field) { $0.varint(1, 1) } }
        }
    }

    mutating func otherRunID() -> String {
        pick(["", "other-run", runID + "-old", String(runID.reversed()), String(repeating: "r", count: 256)])
    }

    static func hello(credits: UInt32 = 4, cores: UInt32 = 2, workerID: String = "fuzzer") -> WireMessage {
        .hello(.init(workerID: workerID, cores: cores, credits: credits, pid: 1, hostname: "fuzz", softwareVersion: "fuzz"))
    }

    /// A RESULT whose hitting times are `walks` samples 1, 2, ..., with `extraSteps` more
    /// steps than they add up to.
    static func result(job: UInt64, batch: UInt64, walks: Int, extraSteps: UInt64 = 0) -> WireMessage {
        var times = IntegerSampleAccumulator()
        for t in 0..<walks { times.record(UInt64(t % 50 + 1)) }
        return .result(.init(jobID: job, batchID: batch, steps: UInt64(times.sum) + extraSteps, hittingTime: times))
    }

    static let heartbeat = WireMessage.heartbeat(.init(sequence: 1, senderTimeNanoseconds: 2))
}

/// Asks `done` every `step` until it says yes or `timeout` has passed; its last answer.
private func waitUntil(_ timeout: Duration, step: Duration = .milliseconds(20), _ done: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try done() { return true }
        usleep(useconds_t(step / .microseconds(1)))
    }
    return try done()
}

/// How many times `needle` occurs in `text`.
private func occurrences(of needle: String, in text: String) -> Int {
    text.components(separatedBy: needle).count - 1
}

private func seconds(since start: ContinuousClock.Instant) -> String {
    let elapsed = ContinuousClock.now - start
    return String(format: "%.2f s", Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
}

private func tally(_ messages: [BadMessage]) -> String {
    var counts: [String: Int] = [:]
    for message in messages { counts[message.kind, default: 0] += 1 }
    return counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
}

/// 64 MiB + 1: above ZMQ_MAXMSGSIZE, so libzmq drops the connection on reading the frame's
/// header, and the application never sees it.
private let oversized = [UInt8](repeating: 0x5A, count: WireCodec.maxMessageSize + 1)

// MARK: - The tests

/// `processTestSpec` with a tenth of the walks, so that the run after the bad messages takes a
/// second: two grid points (rounds 0 and 1) of 10 batches of 400 walks, job 1.
private let coordinatorSpec = """
    name: fuzz-test
    chain: {clusters: 4, cluster_size: 16, kernel: permutations(3), epsilon: 0.002, seed: 3}
    target: {cluster: last}
    walks: 4000
    batch_size: 400
    seed: 77
    grid:
      epsilon: [0.002, 0.004]

    """
private let batches = 10, batchSize = 400

@Suite("Malformed traffic against real processes", .serialized)
struct MalformedTrafficTests {
    /// The coordinator's log line for each bad message it drops.
    static let coordinatorWarning = "\"message\":\"bad message\""
    static let workerWarning = "\"message\":\"dropped a bad message from the coordinator\""

    @Test func aCoordinatorCountsAndLogsEveryBadFrameAndStillRunsTheJob() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try coordinatorSpec.write(to: directory.appendingPathComponent("spec.yaml"), atomically: true, encoding: .utf8)
        // The reference runs meanwhile, in process.
        let reference = try ChildProcess(
            ["run", "spec.yaml", "--in-process", "--workers", "2", "--out", "reference", "--quiet"], in: directory, name: "reference")
        defer { reference.killHard() }
        let endpoint = "ipc://\(directory.path)/c.sock"
        // At info, not warning: the summary record is an info one.
        let coordinator = try ChildProcess(
            ["coordinator", "spec.yaml", "--bind", endpoint, "--out", "fuzzed", "--heartbeat-ms", "100", "--log-level", "info"],
            in: directory, name: "coordinator")
        defer { coordinator.killHard() }
        let start = ContinuousClock.now

        let context = try ZMQContext()
        var connections = 0
        /// A DEALER like a worker's, and a monitor that says when the coordinator drops it.
        func connect() throws -> (dealer: ZMQSocket, monitor: ZMQMonitor) {
            connections += 1
            let dealer = try ZMQSocket(context, type: .dealer)
            let monitor = try ZMQMonitor(context, watching: dealer, events: .disconnected, endpoint: "inproc://fuzz-monitor-\(connections)")
            try dealer.connect(endpoint)
            return (dealer, monitor)
        }
        var connection = try connect()
        var sent = 0, oversizedSent = 0
        func send(_ message: BadMessage) throws {
            try connection.dealer.send(message.frames, timeout: .seconds(10))
            sent += 1
        }
        /// Until every bad message sent so far has its warning.
        func allLogged() -> Bool {
            waitUntil(.seconds(60), step: .milliseconds(50)) { occurrences(of: Self.coordinatorWarning, in: coordinator.stderr) >= sent }
        }

        // Random bytes first: their warnings carry the run id, which the other messages need.
        var bad = BadMessages(seed: 2026, runID: "")
        for message in bad.make("random bytes", 20, decodes: false, { [$0.randomBytes()] }) { try send(message) }
        try #require(allLogged(), "\(coordinator.stderr.suffix(2000))")
        let runID = try #require(coordinator.logRecords.first { ($0["message"] as? String) == "bad message" }?["run_id"] as? String)

        // While these arrive the coordinator is in round 0, waiting for a worker.
        bad = BadMessages(seed: 2027, runID: runID)
        let job = WireMessage.job(.init(jobID: 1, source: .experiment(specYAML: coordinatorSpec, seed: 77)))
        let task = WireMessage.task(.init(jobID: 1, batchID: 3, walks: 1200..<1600))
        let valid = [BadMessages.hello(), BadMessages.result(job: 1, batch: 3, walks: batchSize), BadMessages.heartbeat, task, job,
                     .error(.init(code: .badSpec, message: "no"))]
        var messages = bad.make("random bytes", 3000, decodes: false) { [$0.randomBytes()] }
        messages += bad.make("truncated", 2000, decodes: false) { [$0.truncated($0.pick(valid))] }
        messages += bad.make("wrong version", 1000, decodes: false) { [$0.wrongVersion($0.pick(valid))] }
        messages += bad.make("no verb", 500, decodes: false) { [$0.noVerb()] }
        messages += bad.make("hello with 0 credits", 600, decodes: false) { [$0.encode(BadMessages.hello(credits: 0))] }
        messages += bad.make("invalid field", 400, decodes: false) { b in
            [b.pick([
                b.encode(BadMessages.hello(cores: 0)), b.encode(BadMessages.hello(workerID: "")),
                b.encode(BadMessages.heartbeat, runID: String(repeating: "x", count: 257)),
                ProtoWriter.envelope { $0.message(6) { $0.varint(1, 1) } }, // a RESULT without hitting times
                ProtoWriter.envelope { $0.message(9) { $0.string(2, "no code") } },
            ])]
        }
        messages += bad.make("multi-frame", 500, decodes: false) { b in
            // A DEALER's frames arrive after the routing id: 3 to 5 frames where 2 are expected.
            // A valid HELLO among them must not register a worker.
            (0..<(2 + b.below(3))).map { _ in
                b.pick([b.encode(BadMessages.hello()), [], b.randomBytes(), b.encode(BadMessages.heartbeat)])
            }
        }
        messages += bad.make("another run", 800, decodes: true) { b in
            let message = b.pick([
                BadMessages.heartbeat, BadMessages.result(job: 1, batch: 0, walks: batchSize),
                .error(.init(code: .internalError, message: "x")),
            ])
            return [b.encode(message, runID: b.otherRunID())]
        }
        messages += bad.make("result for another job", 500, decodes: true) { b in
            [b.encode(BadMessages.result(job: b.pick([0, 2, 77, .max]), batch: UInt64(b.below(batches)), walks: batchSize))]
        }
        messages += bad.make("result for no such batch", 400, decodes: true) { b in
            let index = b.pick([UInt64(batches), UInt64(batches) + 1, 1000, 0xFFFF_FFFF, UInt64(batches) + b.next() % 0xFFFF_FF00])
            return [b.encode(BadMessages.result(job: 1, batch: index, walks: batchSize))]
        }
        messages += bad.make("result of a later round", 400, decodes: true) { b in
            let round = b.pick([1, 2, 0xFFFF_FFFF, 1 + b.next() % 0xFFFF_FFFE])
            return [b.encode(BadMessages.result(job: 1, batch: round << 32 | UInt64(b.below(batches)), walks: batchSize))]
        }
        messages += bad.make("result with the wrong walk count", 300, decodes: true) { b in
            [b.encode(BadMessages.result(job: 1, batch: UInt64(b.below(batches)), walks: b.below(batchSize)))]
        }
        messages += bad.make("result with the wrong step count", 100, decodes: true) { b in
            [b.encode(BadMessages.result(job: 1, batch: UInt64(b.below(batches)), walks: batchSize, extraSteps: 1 + b.next() % 1000))]
        }
        messages += bad.make("task, job or shutdown from a worker", 600, decodes: true) { b in
            [b.encode(b.pick([task, job, .shutdown(.init(reason: "no"))]))]
        }
        bad.shuffle(&messages)

        // Oversized frames at three points: each after all earlier messages are in (they would
        // be lost with the connection otherwise), then a new connection.
        let breaks = [messages.count / 4, messages.count / 2, 3 * messages.count / 4]
        for (index, message) in messages.enumerated() {
            if breaks.contains(index) {
                try #require(allLogged(), "\(coordinator.stderr.suffix(2000))")
                try connection.dealer.send([oversized], timeout: .seconds(10))
                oversizedSent += 1
                let dropped = try connection.monitor.receive(timeout: .seconds(30))
                #expect(dropped?.kind == .disconnected, "the coordinator kept a connection that sent \(oversized.count) bytes")
                connection.dealer.close()
                connection.monitor.close()
                connection = try connect()
            }
            try send(message)
        }
        try #require(allLogged(), "\(coordinator.stderr.suffix(2000))")
        let fuzzed = seconds(since: start)
        // Nothing more: the oversized frames were not counted, nothing was counted twice.
        Thread.sleep(forTimeInterval: 0.3)
        #expect(occurrences(of: Self.coordinatorWarning, in: coordinator.stderr) == sent)
        #expect(coordinator.process.isRunning)

        let worker = try ChildProcess(
            ["worker", "--connect", endpoint, "--heartbeat-ms", "100", "--threads", "2"], in: directory, name: "worker")
        defer { worker.killHard() }
        #expect(coordinator.wait() == 0, "\(coordinator.stderr.suffix(3000))")
        #expect(worker.wait(timeout: .seconds(10)) == 0, "\(worker.stderr.suffix(2000))")
        #expect(reference.wait() == 0, "\(reference.stderr)")
        let expected = try Data(contentsOf: directory.appendingPathComponent("reference/results.json"))
        #expect(try Data(contentsOf: directory.appendingPathComponent("fuzzed/results.json")) == expected)

        let records = coordinator.logRecords
        let summary = records.last { ($0["event"] as? String) == "summary" }
        #expect(summary?["bad_messages_total"] as? Int == sent, "\(summary ?? [:])")
        #expect(records.count { ($0["message"] as? String) == "bad message" && ($0["level"] as? String) == "warning" } == sent)
        #expect(sent >= 10_000 && oversizedSent == 3)
        print("""
            coordinator: \(sent) bad messages counted (20 + \(tally(messages))), \(oversizedSent) oversized not counted; \
            fuzzed in \(fuzzed), whole test \(seconds(since: start))
            """)
    }

    @Test func aWorkerCountsAndLogsEveryBadFrameAndStillRunsItsLeases() throws {
        // 11 batches of one grid point. Everything that takes time is done before the worker
        // starts: it reconnects after 1.2 s without a message (3 heartbeats of 400 ms; long enough
        // that a loaded machine running other tests in parallel does not trigger it).
        let spec = """
            chain: {clusters: 3, cluster_size: 10, kernel: permutations(3), sources: 1, epsilon: 0.05, seed: 7}
            walks: 1000
            batch_size: 96
            seed: 5
            """
        let jobID: UInt64 = 3, seed: UInt64 = 99
        var plan = try ExperimentPlan.parse(yaml: spec)
        plan.points[0].spec.seed = seed // the job's seed, as the worker applies it
        let point = try PreparedPoint(plan, point: 0)
        let expected = try LocalExecutor(threads: 1).run(point) { _ in }
        let job = WireMessage.job(.init(jobID: jobID, source: .experiment(specYAML: spec, seed: seed)))
        let lease = WireMessage.task(.init(jobID: jobID, batchID: 0, walks: 0..<96))
        let runID = FuzzingCoordinator.runID
        var bad = BadMessages(seed: 2028, runID: runID)
        let valid = [job, lease, .shutdown(.init(reason: "done")), BadMessages.heartbeat, .error(.init(code: .badSpec, message: "no"))]

        /// What no worker takes, whether it has a job or not: dropped and counted.
        func neverTaken(_ scale: Int) -> [BadMessage] {
            var messages = bad.make("random bytes", 250 * scale, decodes: false) { [$0.randomBytes()] }
            messages += bad.make("truncated", 200 * scale, decodes: false) { [$0.truncated($0.pick(valid))] }
            // A SHUTDOWN among them: the worker must not stop for it.
            messages += bad.make("wrong version", 100 * scale, decodes: false) { [$0.wrongVersion($0.pick(valid))] }
            messages += bad.make("no verb", 50 * scale, decodes: false) { [$0.noVerb()] }
            messages += bad.make("invalid field", 50 * scale, decodes: false) { b in
                [b.pick([
                    b.encode(.shutdown(.init(reason: String(repeating: "x", count: 4097)))),
                    b.encode(.shutdown(.init(reason: "done")), runID: String(repeating: "r", count: 257)),
                    b.encode(.job(.init(jobID: jobID, source: .experiment(specYAML: "", seed: 1)))),
                    ProtoWriter.envelope { $0.message(5) { $0.varint(3, 100); $0.varint(4, 99) } }, // walks 100..<99
                    ProtoWriter.envelope { $0.message(9) { $0.string(2, "no code") } },
                ])]
            }
            messages += bad.make("multi-frame", 60 * scale, decodes: false) { b in
                (0..<(2 + b.below(3))).map { _ in b.pick([b.encode(.shutdown(.init(reason: "done"))), b.encode(lease), [], b.randomBytes()]) }
            }
            messages += bad.make("hello or result to a worker", 60 * scale, decodes: true) { b in
                [b.encode(b.pick([BadMessages.hello(), BadMessages.result(job: jobID, batch: 0, walks: 96)]), runID: b.pick([runID, ""]))]
            }
            return messages
        }

        // Before any JOB: leases for no job, and jobs that cannot be taken (id 66, which no
        // lease names: a lease of a failed job is answered with the job's error, not counted).
        var before = neverTaken(3)
        before += bad.make("task before a job", 500, decodes: true, answered: true) { b in
            [b.encode(.task(.init(jobID: b.pick([jobID, 1, 7, 1000 + b.next() % 1000]), batchID: UInt64(b.below(11)), walks: 0..<96)))]
        }
        let unparsable = ["chain: [", "walks: [1", "- - ]\n\t:", "chain: {clusters: 3\nwalks: 10", "{" + String(repeating: "[", count: 40)]
        for yaml in unparsable { #expect(throws: (any Error).self) { try ExperimentPlan.parse(yaml: yaml) } }
        before += bad.make("job that cannot be taken", 100, decodes: true, answered: true, counted: false) { b in
            [b.encode(.job(.init(jobID: 66, source: .experiment(specYAML: b.pick(unparsable), seed: 1))))]
        }
        bad.shuffle(&before)
        // After the JOB: leases outside it (a round past its one point, walks past its 1000,
        // another job, another run).
        var after = neverTaken(8)
        after += bad.make("task outside the job", 2000, decodes: true, answered: true) { b in
            let walks = UInt64(b.below(1000))..<UInt64(1001 + b.below(5000))
            return [b.pick([
                b.encode(.task(.init(jobID: jobID, batchID: 1, walks: 0..<96, round: b.pick([1, 2, .max, 1 + b.next() % 1000])))),
                b.encode(.task(.init(jobID: jobID, batchID: 2, walks: b.pick([walks, 0..<UInt64.max, 960..<1001])))),
                b.encode(.task(.init(jobID: b.pick([1, 4, .max]), batchID: 3, walks: 0..<96))),
                b.encode(.task(.init(jobID: jobID, batchID: 4, walks: 0..<96)), runID: b.otherRunID()),
            ])]
        }
        bad.shuffle(&after)

        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let coordinator = try FuzzingCoordinator()
        let worker = try ChildProcess(
            ["worker", "--connect", coordinator.endpoint, "--threads", "1", "--heartbeat-ms", "400"], in: directory, name: "worker")
        defer { worker.killHard() }
        let start = ContinuousClock.now
        let hello = try #require(try coordinator.awaitHello(timeout: .seconds(60)), "\(worker.stderr.suffix(2000))")
        let credits = Int(hello.credits)
        var counted = 0, answered = 0, oversizedSent = 0
        /// Until the worker has logged every bad message and answered every bad lease so far.
        func allLogged() throws -> Bool {
            try waitUntil(.seconds(60), step: .milliseconds(50)) {
                try coordinator.pump(for: .zero)
                return coordinator.errors >= answered && occurrences(of: Self.workerWarning, in: worker.stderr) >= counted
            }
        }
        func send(_ messages: [BadMessage], oversizedAt breaks: [Int] = []) throws {
            for (index, message) in messages.enumerated() {
                if breaks.contains(index) {
                    try #require(try allLogged(), "\(worker.stderr.suffix(2000))")
                    // The worker's libzmq drops the connection; the worker hears nothing, so it
                    // reconnects (a new routing id) and says HELLO; it is sent the JOB again.
                    let hellos = coordinator.hellos
                    try coordinator.send([oversized])
                    oversizedSent += 1
                    #expect(try coordinator.awaitHello(timeout: .seconds(30)) != nil && coordinator.hellos == hellos + 1)
                    try coordinator.send(job)
                }
                try coordinator.send(message.frames)
                counted += message.counted ? 1 : 0
                answered += message.answered ? 1 : 0
                // Keep-alives among them, and the worker's answers read as they come.
                if index % 50 == 0 { try coordinator.send(BadMessages.heartbeat) }
                if index % 100 == 0 { try coordinator.pump(for: .zero) }
            }
        }
        try send(before)
        try coordinator.send(job)
        try send(after, oversizedAt: [after.count / 3, 2 * after.count / 3])
        try #require(try allLogged(), "\(worker.stderr.suffix(2000))")
        let fuzzed = seconds(since: start)
        try coordinator.pump(for: .milliseconds(300))
        #expect(occurrences(of: Self.workerWarning, in: worker.stderr) == counted)
        #expect(coordinator.errors == answered, "\(coordinator.errorCodes)")
        #expect(coordinator.hellos == 1 + oversizedSent, "the worker reconnected only after the oversized frames")

        // Now the job's leases, as credits allow; the outcomes merge to the local run's.
        var pending = Array(0..<point.batchCount), leased: [UInt64: Int] = [:], outcomes: [Int: MonteCarloOutcome] = [:]
        var hellos = coordinator.hellos
        let deadline = ContinuousClock.now + .seconds(60)
        while outcomes.count < point.batchCount, ContinuousClock.now < deadline {
            if coordinator.hellos > hellos {
                // Reconnected after all (a stall): what it held is lost, as a coordinator would see it.
                hellos = coordinator.hellos
                pending = leased.values.sorted() + pending
                leased = [:]
                try coordinator.send(job)
            }
            while leased.count < credits, !pending.isEmpty {
                let batch = pending.removeFirst(), walks = point.batch(batch)
                leased[UInt64(batch)] = batch
                try coordinator.send(.task(.init(jobID: jobID, batchID: UInt64(batch), walks: UInt64(walks.lowerBound)..<UInt64(walks.upperBound))))
            }
            try coordinator.pump(for: .milliseconds(10))
            for result in coordinator.takeResults() {
                #expect(result.jobID == jobID)
                if let batch = leased.removeValue(forKey: result.batchID) { outcomes[batch] = result.outcome }
            }
        }
        try #require(outcomes.count == point.batchCount, "\(worker.stderr.suffix(2000))")
        var merged = MonteCarloOutcome()
        for batch in 0..<point.batchCount { merged.merge(outcomes[batch]!) }
        #expect(merged == expected)
        #expect(coordinator.errors == answered, "no lease of the job was refused: \(coordinator.errorCodes)")

        try coordinator.send(.shutdown(.init(reason: "done")))
        #expect(worker.wait(timeout: .seconds(10)) == 0, "\(worker.stderr.suffix(2000))")
        let records = worker.logRecords
        let warnings = records.filter { ($0["message"] as? String) == "dropped a bad message from the coordinator" }
        #expect(warnings.count == counted && warnings.allSatisfy { ($0["level"] as? String) == "warning" })
        #expect(warnings.last?["bad_messages_total"] as? String == "\(counted)")
        let summary = records.last { ($0["event"] as? String) == "summary" }
        #expect(summary?["bad_messages_total"] as? Int == counted, "\(summary ?? [:])")
        #expect(summary?["batches_done"] as? Int == point.batchCount)
        #expect(summary?["reconnects"] as? Int == oversizedSent)
        #expect(records.count { ($0["message"] as? String) == "cannot take the job" } == 100)
        #expect(counted >= 10_000 && oversizedSent == 2)
        print("""
            worker: \(before.count + after.count) bad messages (\(tally(before + after))), \(counted) counted, \
            \(answered) answered with an ERROR (\(coordinator.errorCodes)), \(oversizedSent) oversized not counted; \
            fuzzed in \(fuzzed), whole test \(seconds(since: start))
            """)
    }
}

/// The coordinator's side of the socket, reduced to what the worker test needs: a ROUTER on
/// an ephemeral loopback port that talks to the one worker, answers its HELLOs' routing ids
/// and keeps it from going silent while the test waits. Used from one thread.
private final class FuzzingCoordinator {
    static let runID = "run-fuzz"
    let endpoint: String
    private(set) var hellos = 0
    private(set) var errorCodes: [String: Int] = [:]
    var errors: Int { errorCodes.values.reduce(0, +) }
    private var results: [WireMessage.BatchResult] = []
    private let context: ZMQContext
    private let router: ZMQSocket
    private var peer: [UInt8]?
    private var lastHello: WireMessage.Hello?
    private var lastSent = ContinuousClock.now

    init() throws {
        context = try ZMQContext()
        router = try ZMQSocket(context, type: .router)
        // A send to a worker that went away throws instead of vanishing.
        try router.set(.routerMandatory(true))
        try router.bind("tcp://127.0.0.1:0")
        endpoint = try router.lastEndpoint()
    }

    func send(_ frames: [[UInt8]]) throws {
        guard let peer else { throw ZMQError(code: EHOSTUNREACH, operation: "no worker yet") }
        try router.send([peer] + frames, timeout: .seconds(10))
        lastSent = ContinuousClock.now
    }

    func send(_ message: WireMessage) throws {
        try send([WireCodec.encode(WireEnvelope(runID: Self.runID, message: message))])
    }

    /// Waits for the next HELLO and takes its routing id, meanwhile only reading: a worker
    /// that just lost its connection must hear nothing, so that it reconnects.
    func awaitHello(timeout: Duration) throws -> WireMessage.Hello? {
        let before = hellos, deadline = ContinuousClock.now + timeout
        while hellos == before, ContinuousClock.now < deadline {
            _ = try receive(timeout: .milliseconds(10))
        }
        return hellos > before ? lastHello : nil
    }

    /// Reads what the worker sent for `duration` (zero: what is there now), with a HEARTBEAT
    /// whenever it has been sent nothing for 20 ms.
    func pump(for duration: Duration) throws {
        let deadline = ContinuousClock.now + duration
        repeat {
            if peer != nil, ContinuousClock.now - lastSent >= .milliseconds(20) { try send(BadMessages.heartbeat) }
            while try receive(timeout: duration == .zero ? .zero : .milliseconds(5)) {}
        } while ContinuousClock.now < deadline
    }

    func takeResults() -> [WireMessage.BatchResult] {
        defer { results = [] }
        return results
    }

    /// Handles one message from the worker; false when none came within `timeout`.
    private func receive(timeout: Duration) throws -> Bool {
        guard let frames = try router.receive(timeout: timeout) else { return false }
        guard frames.count == 2, let envelope = try? WireCodec.decode(frames[1]) else {
            Issue.record("the worker sent \(frames.count) frames that do not decode")
            return true
        }
        switch envelope.message {
        case .hello(let hello):
            hellos += 1
            lastHello = hello
            peer = frames[0]
        case .error(let report):
            errorCodes["\(report.code)", default: 0] += 1
        case .result(let result):
            results.append(result)
        case .heartbeat:
            break
        default:
            Issue.record("the worker sent \(envelope.message.verb)")
        }
        return true
    }
}
