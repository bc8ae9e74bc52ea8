import Foundation
import Metastable
import MetastableCluster
import Testing

/// A core on a simulated clock, and the messages workers send it.
private struct Harness {
    static let runID = "run-test"
    static let job = WireMessage.Job(jobID: 5, source: .experiment(specYAML: "name: test", seed: 9))
    static let second: UInt64 = 1_000_000_000

    var core: CoordinatorCore
    var now: UInt64 = 0

    init(minWorkers: Int = 1, maxCredits: UInt32 = 64) {
        var config = CoordinatorConfig()
        config.minWorkers = minWorkers
        config.maxCreditsPerWorker = maxCredits
        core = CoordinatorCore(runID: Self.runID, job: Self.job, config: config)
    }

    /// Batch i covers walks 10i..<10i+10.
    static func batches(_ count: Int, walks: UInt64 = 10) -> [Range<UInt64>] {
        (0..<UInt64(count)).map { $0 * walks..<($0 + 1) * walks }
    }

    mutating func startRound(_ round: Int, batches: Int) -> [CoordinatorDirective] {
        core.startRound(round, batches: Self.batches(batches), policyVersion: UInt64(round) + 100, at: now)
    }

    mutating func advance(seconds: Double) {
        now += UInt64(seconds * 1e9)
    }

    mutating func receive(_ message: WireMessage, from peer: PeerID, runID: String = Harness.runID) -> [CoordinatorDirective] {
        core.handle(.message(from: peer, WireEnvelope(runID: runID, message: message), at: now))
    }

    mutating func hello(_ peer: PeerID, credits: UInt32) -> [CoordinatorDirective] {
        receive(.hello(.init(workerID: "\(peer)", cores: credits, credits: credits, pid: 1, hostname: "h", softwareVersion: "t")), from: peer, runID: "")
    }

    mutating func heartbeat(_ peer: PeerID) -> [CoordinatorDirective] {
        receive(.heartbeat(.init(sequence: 1, senderTimeNanoseconds: now)), from: peer)
    }

    mutating func result(_ peer: PeerID, batch index: Int, round: Int = 0, walks: Int = 10) -> [CoordinatorDirective] {
        receive(.result(Self.result(batchID: UInt64(round) << 32 | UInt64(index), walks: walks)), from: peer)
    }

    mutating func tick() -> [CoordinatorDirective] {
        core.handle(.tick(at: now))
    }

    /// A consistent result of `walks` walks with hitting times seeded by the batch id.
    static func result(batchID: UInt64, walks: Int, jobID: UInt64 = Harness.job.jobID) -> WireMessage.BatchResult {
        var times = IntegerSampleAccumulator()
        var random = WalkRandom(seed: batchID, index: 0)
        for _ in 0..<walks { times.record(random.next(below: 1000)) }
        return .init(jobID: jobID, batchID: batchID, steps: UInt64(times.sum), hittingTime: times)
    }
}

private let a = PeerID(Array("worker-a".utf8)), b = PeerID(Array("worker-b".utf8)), c = PeerID(Array("worker-c".utf8))

/// (peer, batch index) of the leases among `directives`.
private func leases(_ directives: [CoordinatorDirective]) -> [(PeerID, UInt64)] {
    directives.compactMap {
        if case .send(let peer, .task(let lease)) = $0 { return (peer, lease.batchID & 0xFFFF_FFFF) }
        return nil
    }
}

private func leased(_ directives: [CoordinatorDirective], to peer: PeerID) -> [UInt64] {
    leases(directives).filter { $0.0 == peer }.map(\.1)
}

private func logs(_ directives: [CoordinatorDirective]) -> [CoordinatorLogEvent] {
    directives.compactMap {
        if case .log(let event) = $0 { return event }
        return nil
    }
}

private func isRejected(_ directives: [CoordinatorDirective]) -> Bool {
    logs(directives).contains {
        if case .rejected = $0 { return true }
        return false
    }
}

@Suite("CoordinatorCore")
struct CoordinatorCoreTests {
    @Test("HELLO registers a worker, sends JOB, then leases lowest batches first up to its credits")
    func joinAndLease() {
        var h = Harness(maxCredits: 4)
        #expect(h.startRound(0, batches: 10).isEmpty) // nobody to lease to yet
        let joined = h.hello(a, credits: 3)
        #expect(joined.first == .log(.workerJoined(a, .init(workerID: "worker-a", cores: 3, credits: 3, pid: 1, hostname: "h", softwareVersion: "t"))))
        #expect(joined[1] == .send(to: a, .job(Harness.job)))
        let expected: [CoordinatorDirective] = [0, 1, 2].map { (i: UInt64) in
            .send(to: a, .task(.init(jobID: 5, batchID: i, walks: i * 10..<i * 10 + 10, round: 0, policyVersion: 100)))
        }
        #expect(Array(joined.dropFirst(2)) == expected)
        // Credits are capped.
        #expect(leased(h.hello(b, credits: 1000), to: b) == [3, 4, 5, 6])
        let statistics = h.core.statistics
        #expect(statistics.workersLive == 2 && statistics.batchesLeased == 7 && statistics.batchesTotal == 10)
        #expect(h.core.invariantViolations().isEmpty)
    }

    @Test("a HELLO with no credits gets an ERROR and is not registered")
    func zeroCredits() {
        var h = Harness()
        _ = h.startRound(0, batches: 3)
        let reply = h.hello(a, credits: 0)
        #expect(isRejected(reply))
        #expect(reply.contains(.send(to: a, .error(.init(code: .malformedMessage, message: "hello offers 0 credits: take at least one task")))))
        #expect(leases(reply).isEmpty && h.core.statistics.workersLive == 0 && h.core.statistics.badMessagesTotal == 1)
    }

    @Test("a RESULT returns the credit and brings the next lease")
    func resultReturnsCredit() {
        var h = Harness()
        _ = h.startRound(0, batches: 5)
        _ = h.hello(a, credits: 2)
        h.advance(seconds: 0.5)
        let next = h.result(a, batch: 1)
        #expect(leased(next, to: a) == [2])
        #expect(!next.contains(.checkpoint)) // not due yet
        #expect(h.core.statistics.batchesDone == 1 && h.core.statistics.resultsTotal == 1)
        #expect(h.core.invariantViolations().isEmpty)
    }

    @Test("a silent worker is dropped after three intervals and its batches go to another at once")
    func silentWorkerDropped() {
        var h = Harness()
        _ = h.startRound(0, batches: 4)
        #expect(leased(h.hello(a, credits: 2), to: a) == [0, 1])
        #expect(leased(h.hello(b, credits: 2), to: b) == [2, 3])
        _ = h.result(b, batch: 2) // b now has a spare credit
        for _ in 0..<30 {
            h.advance(seconds: 0.1)
            _ = h.tick()
            if h.now % Harness.second == 0 { _ = h.heartbeat(b) }
        }
        #expect(h.core.statistics.workersLive == 2) // 3.0 s of silence is not more than 3 intervals
        h.advance(seconds: 0.1)
        let dropped = h.tick()
        #expect(logs(dropped).contains(.workerDropped(a, requeued: [0, 1])))
        #expect(leased(dropped, to: b) == [0]) // lowest first, up to b's credit
        #expect(h.core.statistics.workersLive == 1 && h.core.statistics.requeuedTotal == 2)
        #expect(leased(h.result(b, batch: 3), to: b) == [1])
        #expect(h.core.invariantViolations().isEmpty)
    }

    @Test("heartbeats go to workers that have been sent nothing for an interval; incoming ones get no reply")
    func heartbeats() {
        var h = Harness()
        _ = h.hello(a, credits: 1) // JOB at t = 0
        h.advance(seconds: 0.5)
        #expect(h.tick().isEmpty)
        #expect(h.heartbeat(a).isEmpty)
        h.advance(seconds: 0.5)
        let first = h.tick()
        guard case .send(a, .heartbeat(let heartbeat))? = first.first, first.count == 1 else {
            Issue.record("expected one heartbeat, got \(first)")
            return
        }
        #expect(heartbeat.sequence == 1 && heartbeat.senderTimeNanoseconds == h.now)
        h.advance(seconds: 0.5)
        #expect(h.tick().isEmpty)
        h.advance(seconds: 0.5)
        #expect(h.tick().count == 1)
    }

    @Test("duplicate results, late results and results of earlier rounds are ignored and counted")
    func duplicatesAndLateResults() {
        var h = Harness()
        _ = h.startRound(0, batches: 3)
        _ = h.hello(a, credits: 1) // batch 0
        _ = h.hello(b, credits: 1) // batch 1
        _ = h.result(a, batch: 0) // a gets batch 2
        let duplicate = h.result(a, batch: 0)
        #expect(logs(duplicate) == [.duplicateResult(a, batchID: 0)] && leases(duplicate).isEmpty)
        // a goes silent holding batch 2; b's result of 1 leaves b idle; a is dropped, b gets 2.
        _ = h.result(b, batch: 1)
        h.advance(seconds: 3.5)
        _ = h.heartbeat(b)
        #expect(leased(h.tick(), to: b) == [2])
        // a's late result is still good (results are deterministic per batch) and completes the round.
        let late = h.result(a, batch: 2)
        guard case .roundComplete(0, let results)? = late.first(where: { if case .roundComplete = $0 { true } else { false } }) else {
            Issue.record("no round completion in \(late)")
            return
        }
        #expect(results.map(\.batchID) == [0, 1, 2])
        #expect(logs(h.result(b, batch: 2)) == [.duplicateResult(b, batchID: 2)])
        _ = h.core.startRound(1, batches: Harness.batches(2), policyVersion: 101, at: h.now)
        #expect(logs(h.result(b, batch: 0, round: 0)) == [.duplicateResult(b, batchID: 0)])
        #expect(h.core.statistics.duplicatesTotal == 3 && h.core.statistics.badMessagesTotal == 0)
        #expect(h.core.invariantViolations().isEmpty)
    }

    @Test("a known peer's HELLO resets it: its leases are requeued and leased again")
    func reHello() {
        var h = Harness()
        _ = h.startRound(0, batches: 5)
        _ = h.hello(a, credits: 2) // 0, 1
        _ = h.hello(b, credits: 1) // 2
        _ = h.result(a, batch: 0) // a: 1, 3
        let again = h.hello(a, credits: 2)
        #expect(logs(again).prefix(2) == [.workerDropped(a, requeued: [1, 3]), .workerJoined(a, .init(
            workerID: "worker-a", cores: 2, credits: 2, pid: 1, hostname: "h", softwareVersion: "t"))])
        #expect(leased(again, to: a) == [1, 3])
        #expect(h.core.statistics.workersLive == 2 && h.core.statistics.requeuedTotal == 2)
        #expect(h.core.invariantViolations().isEmpty)
    }

    @Test("messages from unregistered peers: heartbeats get ERROR unknown job, other runs and coordinator verbs are rejected")
    func unknownPeers() {
        var h = Harness()
        _ = h.startRound(0, batches: 2)
        #expect(h.heartbeat(c) == [
            .log(.unknownPeer(c)), .send(to: c, .error(.init(code: .unknownJob, message: "not registered: send hello"))),
        ])
        #expect(h.core.statistics.badMessagesTotal == 0)
        _ = h.hello(a, credits: 1)
        let otherRun = h.receive(.heartbeat(.init(sequence: 1, senderTimeNanoseconds: 0)), from: a, runID: "another-run")
        #expect(isRejected(otherRun) && otherRun.count == 1)
        #expect(isRejected(h.receive(.task(.init(jobID: 5, batchID: 0, walks: 0..<1)), from: a)))
        #expect(isRejected(h.receive(.shutdown(.init(reason: "no")), from: c)))
        var envelope = WireEnvelope(runID: Harness.runID, message: .heartbeat(.init(sequence: 1, senderTimeNanoseconds: 0)))
        envelope.version = 2
        #expect(isRejected(h.core.handle(.message(from: a, envelope, at: h.now))))
        #expect(h.core.handle(.malformed(from: c, reason: "not protobuf", at: h.now)) == [.log(.rejected(c, reason: "not protobuf"))])
        #expect(h.core.statistics.badMessagesTotal == 5)
        // An error from a worker drops it; none goes back.
        let failed = h.receive(.error(.init(code: .badSpec, message: "no")), from: a)
        #expect(logs(failed) == [.workerError(a, .init(code: .badSpec, message: "no")), .workerDropped(a, requeued: [0])])
        #expect(h.receive(.error(.init(code: .badSpec, message: "no")), from: c).count == 1)
        #expect(h.core.invariantViolations().isEmpty)
    }

    @Test("invalid results are rejected and never stored; a worker botching its own lease is dropped")
    func invalidResults() {
        var h = Harness()
        _ = h.startRound(0, batches: 3)
        _ = h.hello(a, credits: 1) // 0
        _ = h.hello(b, credits: 1) // 1
        var wrongCount = Harness.result(batchID: 2, walks: 9)
        var wrongSteps = Harness.result(batchID: 2, walks: 10)
        wrongSteps.steps += 1
        var wrongObservers = Harness.result(batchID: 2, walks: 10)
        wrongObservers.transitions = TransitionCounts(clusterCount: 2)
        let bad: [WireMessage.BatchResult] = [
            Harness.result(batchID: 2, walks: 10, jobID: 6), // another job
            Harness.result(batchID: 3, walks: 10), // no batch 3
            Harness.result(batchID: 1 << 32 | 2, walks: 10), // a round not started
            wrongCount, wrongSteps,
        ]
        for result in bad {
            #expect(isRejected(h.receive(.result(result), from: c)))
        }
        _ = h.result(c, batch: 0) // the round's results now have no observers
        #expect(isRejected(h.receive(.result(wrongObservers), from: c)))
        #expect(h.core.statistics.badMessagesTotal == 6 && h.core.statistics.batchesDone == 1)
        wrongCount.batchID = 1
        let botched = h.receive(.result(wrongCount), from: b)
        #expect(logs(botched).contains(.workerDropped(b, requeued: [1])))
        #expect(leases(botched).isEmpty) // a is busy with batch 2
        #expect(leased(h.result(a, batch: 2), to: a) == [1])
        #expect(h.core.invariantViolations().isEmpty)
    }

    @Test("an algorithm round: leases carry its input, results pass its validator, and a batch its lease holders botch three times fails the run")
    func algorithmRound() {
        var h = Harness()
        let input = WireMessage.RoundInput(point: 1, task: RoundTask(round: 4, stage: 2, input: RoundPayload(reals: [0.5], counts: [3])))
        h.core.resultValidator = { result, _ in result.payload?.counts == [1, 2] ? nil : "payload \(String(describing: result.payload))" }
        _ = h.core.startRound(0, batches: Harness.batches(2), policyVersion: 0, input: input, at: h.now)
        let sent = h.hello(a, credits: 2)
        let inputs = sent.compactMap { directive -> WireMessage.RoundInput? in
            if case .send(_, .task(let lease)) = directive { return lease.input }
            return nil
        }
        #expect(inputs == [input, input])
        // Items need not be walks: a result without hitting times and with other steps is fine.
        func result(_ index: UInt64, counts: [UInt64]) -> WireMessage.BatchResult {
            .init(jobID: 5, batchID: index, steps: 77, hittingTime: IntegerSampleAccumulator(), payload: RoundPayload(counts: counts))
        }
        _ = h.receive(.result(result(0, counts: [1, 2])), from: a)
        #expect(h.core.statistics.batchesDone == 1 && h.core.failure == nil)
        // Bad results from a peer that holds no lease are refused but do not count.
        for _ in 1...5 { #expect(isRejected(h.receive(.result(result(1, counts: [9])), from: c))) }
        #expect(h.core.failure == nil)
        for attempt in 1...3 {
            _ = h.hello(a, credits: 2)
            #expect(isRejected(h.receive(.result(result(1, counts: [9])), from: a)))
            #expect((h.core.failure != nil) == (attempt == 3))
        }
        #expect(h.core.failure?.contains("batch 1 of round 0: 3 results refused") == true)
        #expect(h.core.invariantViolations().isEmpty)
    }

    @Test("a round completes with every result in batch order, then a checkpoint; the next round follows")
    func roundCompletion() {
        var h = Harness()
        _ = h.startRound(0, batches: 4)
        _ = h.hello(a, credits: 4)
        var last: [CoordinatorDirective] = []
        for index in [3, 1, 0, 2] { last = h.result(a, batch: index) }
        #expect(last == [
            .roundComplete(round: 0, results: (0..<4).map { Harness.result(batchID: UInt64($0), walks: 10) }),
            .checkpoint,
        ])
        #expect(h.core.isRoundComplete && h.core.roundResults?.count == 4)
        let next = h.core.startRound(1, batches: Harness.batches(2), policyVersion: 7, at: h.now)
        let expected: [CoordinatorDirective] = [0, 1].map { (i: UInt64) in
            .send(to: a, .task(.init(jobID: 5, batchID: 1 << 32 | i, walks: i * 10..<i * 10 + 10, round: 1, policyVersion: 7)))
        }
        #expect(next == expected)
        // A round without batches is complete at once.
        _ = h.result(a, batch: 0, round: 1)
        _ = h.result(a, batch: 1, round: 1)
        #expect(h.core.startRound(2, batches: [], policyVersion: 8, at: h.now) == [.roundComplete(round: 2, results: []), .checkpoint])
    }

    @Test("no lease before minWorkers have joined; afterwards leasing goes on with fewer")
    func minWorkersGate() {
        var h = Harness(minWorkers: 3)
        _ = h.startRound(0, batches: 8)
        #expect(leases(h.hello(a, credits: 2)).isEmpty)
        #expect(leases(h.hello(b, credits: 2)).isEmpty)
        let open = h.hello(c, credits: 2)
        #expect(leases(open).map { "\($0.0):\($0.1)" } == ["worker-a:0", "worker-a:1", "worker-b:2", "worker-b:3", "worker-c:4", "worker-c:5"])
        _ = h.receive(.error(.init(code: .outOfResources, message: "")), from: a)
        _ = h.receive(.error(.init(code: .outOfResources, message: "")), from: b)
        #expect(leased(h.result(c, batch: 4), to: c) == [0])
        #expect(h.core.invariantViolations().isEmpty)
    }

    @Test("checkpoints come at most every checkpointInterval while results arrive, on a tick too")
    func checkpointCadence() {
        var h = Harness()
        _ = h.startRound(0, batches: 10)
        _ = h.hello(a, credits: 10)
        h.advance(seconds: 0.5)
        #expect(!h.result(a, batch: 0).contains(.checkpoint))
        h.advance(seconds: 1.5)
        #expect(h.result(a, batch: 1).contains(.checkpoint)) // 2 s after the round started
        h.advance(seconds: 0.5)
        #expect(!h.result(a, batch: 2).contains(.checkpoint))
        h.advance(seconds: 1.5)
        _ = h.heartbeat(a)
        #expect(h.tick().contains(.checkpoint)) // a result waits to be saved
        h.advance(seconds: 2.5)
        _ = h.heartbeat(a)
        #expect(!h.tick().contains(.checkpoint)) // nothing new
    }

    @Test("a snapshot survives a checkpoint file, and the restored core re-runs only batches not done")
    func snapshotAndRestore() throws {
        var h = Harness()
        _ = h.startRound(3, batches: 6)
        _ = h.hello(a, credits: 3) // 0, 1, 2
        for index in [0, 2] { _ = h.result(a, batch: index, round: 3) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coordinator-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("checkpoint.json").path
        #expect(try CheckpointFile.read(CoordinatorSnapshot.self, from: path) == nil)
        try CheckpointFile.write(h.core.snapshot, to: path)
        try CheckpointFile.write(h.core.snapshot, to: path) // replaces
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["checkpoint.json"])
        let snapshot = try #require(try CheckpointFile.read(CoordinatorSnapshot.self, from: path))
        #expect(snapshot == h.core.snapshot && snapshot.round == 3 && snapshot.policyVersion == 103)

        var restored = Harness()
        restored.core = CoordinatorCore(restoring: snapshot, config: CoordinatorConfig())
        #expect(restored.core.runID == Harness.runID && restored.core.currentRound == 3)
        let statistics = restored.core.statistics
        #expect(statistics.batchesDone == 2 && statistics.batchesLeased == 0 && statistics.workersLive == 0)
        // The old workers are told to HELLO, and get the batches not done, lowest first.
        #expect(logs(restored.heartbeat(a)) == [.unknownPeer(a)])
        #expect(leased(restored.hello(a, credits: 3), to: a) == [1, 3, 4])
        #expect(leased(restored.hello(b, credits: 3), to: b) == [5])
        var last: [CoordinatorDirective] = []
        for index in [1, 3, 4, 5] { last = restored.result(index == 5 ? b : a, batch: index, round: 3) }
        #expect(last.first == .roundComplete(round: 3, results: (0..<6).map { Harness.result(batchID: 3 << 32 | UInt64($0), walks: 10) }))

        // Restored at a round's end, the results are there for the shell to reduce.
        let atEnd = CoordinatorCore(restoring: restored.core.snapshot, config: CoordinatorConfig())
        #expect(atEnd.isRoundComplete && atEnd.roundResults == restored.core.roundResults)
    }

    @Test("a corrupt or inconsistent checkpoint is an error naming the file")
    func corruptCheckpoint() throws {
        var h = Harness()
        _ = h.startRound(0, batches: 2)
        _ = h.hello(a, credits: 2)
        _ = h.result(a, batch: 1)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coordinator-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("checkpoint.json").path
        try CheckpointFile.write(h.core.snapshot, to: path)
        let json = try String(contentsOfFile: path, encoding: .utf8)
        #expect(json.contains("\"batches\":[[0,10],[10,20]]")) // sorted keys, compact
        // One walk fewer in the batch than the result has.
        try json.replacingOccurrences(of: "[10,20]", with: "[10,19]").write(toFile: path, atomically: false, encoding: .utf8)
        #expect(throws: CheckpointError.self) { try CheckpointFile.read(CoordinatorSnapshot.self, from: path) }
        try "{\"formatVersion\":1,".write(toFile: path, atomically: false, encoding: .utf8)
        do {
            _ = try CheckpointFile.read(CoordinatorSnapshot.self, from: path)
            Issue.record("a truncated checkpoint decoded")
        } catch let error as CheckpointError {
            #expect(error.path == path && "\(error)".hasPrefix(path))
        }
    }

    @Test("finish sends SHUTDOWN to every worker; afterwards other peers get one SHUTDOWN and nothing else happens")
    func finish() {
        var h = Harness()
        _ = h.startRound(0, batches: 4)
        _ = h.hello(a, credits: 1)
        _ = h.hello(b, credits: 1)
        let shutdown = WireMessage.shutdown(.init(reason: "done"))
        #expect(h.core.finish(reason: "done") == [.send(to: a, shutdown), .send(to: b, shutdown)])
        #expect(h.core.finish(reason: "again").isEmpty)
        #expect(h.heartbeat(a).isEmpty)
        #expect(h.hello(c, credits: 1) == [.send(to: c, shutdown)])
        #expect(h.result(c, batch: 2).isEmpty)
        h.advance(seconds: 10)
        #expect(h.tick().isEmpty)
        #expect(h.core.statistics.workersLive == 0)
    }

    @Test("thousands of random events never break the bookkeeping")
    func randomEvents() throws {
        var random = WalkRandom(seed: 2026, index: 0)
        var config = CoordinatorConfig()
        config.minWorkers = 2
        config.maxCreditsPerWorker = 3
        var core = CoordinatorCore(runID: Harness.runID, job: Harness.job, config: config)
        let peers = (0..<8).map { PeerID([0, UInt8($0)]) }
        var now: UInt64 = 0
        var round = 0
        var walks = Harness.batches(20)
        var done: [Int: WireMessage.BatchResult] = [:]
        var completions = 0
        _ = core.startRound(round, batches: walks, policyVersion: 0, at: now)

        for step in 0..<20_000 {
            now += random.next(below: 400_000_000)
            let peer = peers[random.next(below: peers.count)]
            let runID = random.next(below: 20) == 0 ? "other" : Harness.runID
            let roll = random.next(below: 100)
            let directives: [CoordinatorDirective]
            if step == 19_500 {
                directives = core.finish(reason: "end")
            } else if roll < 8 {
                let credits = UInt32(random.next(below: 6))
                directives = core.handle(.message(from: peer, .init(runID: "", message: .hello(.init(
                    workerID: "w", cores: 1, credits: credits, pid: 0, hostname: "", softwareVersion: ""))), at: now))
            } else if roll < 30 {
                directives = core.handle(.message(from: peer, .init(runID: runID, message: .heartbeat(.init(
                    sequence: random.next(), senderTimeNanoseconds: random.next()))), at: now))
            } else if roll < 70 {
                // Mostly results of batches of this round, some of other rounds or garbage.
                let index = random.next(below: walks.count + 2)
                let resultRound = random.next(below: 10) == 0 ? random.next(below: UInt64(round) + 2) : UInt64(round)
                let count = index < walks.count ? Int(walks[index].count) : 5
                var result = Harness.result(batchID: resultRound << 32 | UInt64(index), walks: count)
                switch random.next(below: 10) {
                case 0: result.steps = random.next()
                case 1: result.jobID = random.next(below: 8)
                case 2: result.hittingTime.record(1)
                default: break
                }
                directives = core.handle(.message(from: peer, .init(runID: runID, message: .result(result)), at: now))
            } else if roll < 75 {
                let code = WireMessage.ErrorReport.Code.allCases[random.next(below: 7)]
                directives = core.handle(.message(from: peer, .init(runID: runID, message: .error(.init(code: code, message: "x"))), at: now))
            } else if roll < 78 {
                let messages: [WireMessage] = [
                    .job(Harness.job), .task(.init(jobID: random.next(), batchID: random.next(), walks: 0..<random.next())),
                    .shutdown(.init(reason: "")),
                ]
                var envelope = WireEnvelope(runID: runID, message: messages[random.next(below: 3)])
                envelope.version = UInt32(random.next(below: 3))
                directives = core.handle(.message(from: peer, envelope, at: now))
            } else if roll < 80 {
                directives = core.handle(.malformed(from: peer, reason: "junk", at: now))
            } else if core.isRoundComplete, roll < 85 {
                round += 1 + random.next(below: 3)
                walks = (0..<random.next(below: 30)).map { UInt64($0) * 7..<UInt64($0) * 7 + random.next(below: 7) }
                done = [:]
                directives = core.startRound(round, batches: walks, policyVersion: UInt64(round), at: now)
            } else {
                directives = core.handle(.tick(at: now))
            }

            let violations = core.invariantViolations()
            #expect(violations.isEmpty, "step \(step): \(violations)")
            if !violations.isEmpty { return }
            for case .roundComplete(let number, let results) in directives {
                #expect(number == round && results.map(\.batchID) == (0..<UInt64(walks.count)).map { UInt64(round) << 32 | $0 })
                completions += 1
            }
            // Done batches never change.
            for (index, result) in core.snapshot.results.enumerated() where core.currentRound == round {
                guard let result else { continue }
                #expect(result.batchID == UInt64(round) << 32 | UInt64(index))
                if let before = done[index] { #expect(before == result) } else { done[index] = result }
            }
        }
        let statistics = core.statistics
        #expect(completions > 5 && statistics.workersLive == 0)
        #expect(statistics.requeuedTotal > 0 && statistics.duplicatesTotal > 0 && statistics.badMessagesTotal > 0)
    }
}
