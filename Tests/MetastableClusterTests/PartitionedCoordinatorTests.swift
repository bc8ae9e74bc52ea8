import Foundation
import Metastable
import MetastableCluster
import Testing

/// The coordinator's side of partitioned chains, on a simulated clock: shards and their
/// owners, segments made of departing walks, and snapshots that hold them.
@Suite("Partitioned coordinator")
struct PartitionedCoordinatorTests {
    static let runID = "run-shards"
    static let job = WireMessage.Job(jobID: 5, source: .experiment(specYAML: "name: test", seed: 9))
    static let second: UInt64 = 1_000_000_000
    let a = PeerID(Array("worker-a".utf8)), b = PeerID(Array("worker-b".utf8)), c = PeerID(Array("worker-c".utf8))

    struct Harness {
        var core = CoordinatorCore(runID: PartitionedCoordinatorTests.runID, job: PartitionedCoordinatorTests.job, config: CoordinatorConfig())
        var now: UInt64 = 0

        mutating func receive(_ message: WireMessage, from peer: PeerID, runID: String = PartitionedCoordinatorTests.runID) -> [CoordinatorDirective] {
            core.handle(.message(from: peer, WireEnvelope(runID: runID, message: message), at: now))
        }

        mutating func hello(_ peer: PeerID, credits: UInt32 = 4) -> [CoordinatorDirective] {
            receive(.hello(.init(workerID: "\(peer)", cores: 1, credits: credits, pid: 1, hostname: "h", softwareVersion: "t")), from: peer, runID: "")
        }
    }

    /// Walks leaving for another shard: `count` walks with indices from `first`, at state 7.
    static func migrants(_ count: Int, first: UInt64 = 0) throws -> Migrants {
        var words = [UInt64]()
        for i in 0..<UInt64(count) { words += [first + i, 7, 1, 2, 3, 4, 100, 0] }
        return try Migrants(words: words)
    }

    /// A result for `lease`: `ended` of its walks end (hitting time 5 each), the rest leave by `departures`.
    static func result(for lease: WireMessage.TaskLease, ended: Int, departures: [WireMessage.Departure] = []) -> WireMessage.BatchResult {
        var times = IntegerSampleAccumulator()
        for _ in 0..<ended { times.record(5) }
        let segment = lease.segment!
        return .init(
            jobID: lease.jobID, batchID: lease.batchID, steps: UInt64(5 * ended), hittingTime: times, departures: departures,
            segmentDigest: segment.arrivals.digest(fresh: lease.walks))
    }

    static func leases(_ directives: [CoordinatorDirective]) -> [(peer: PeerID, lease: WireMessage.TaskLease)] {
        directives.compactMap {
            if case .send(let peer, .task(let lease)) = $0 { return (peer, lease) }
            return nil
        }
    }

    static func rejections(_ directives: [CoordinatorDirective]) -> [String] {
        directives.compactMap {
            if case .log(.rejected(_, let reason)) = $0 { return reason }
            return nil
        }
    }

    @Test("segments go to their shard's owner; departing walks become segments of their new shard; the round ends when every walk has")
    func segmentsFollowTheirShards() throws {
        var h = Harness()
        _ = h.hello(a)
        _ = h.hello(b)
        #expect(h.core.shardOwnership.isEmpty)
        let start = h.core.startRound(0, batches: [0..<10, 10..<20, 20..<30, 30..<40], policyVersion: 0, shards: 2, at: h.now)
        #expect(h.core.shardOwnership == [[a], [b]])
        let first = Self.leases(start)
        #expect(first.map(\.peer) == [a, a, b, b])
        #expect(first.map { $0.lease.segment?.shard } == [0, 0, 1, 1])
        #expect(first.map { $0.lease.batchID } == [0, 2, 1, 3])
        #expect(h.core.invariantViolations().isEmpty)

        // Batch 0 (shard 0): 6 walks end, 4 leave for shard 1.
        let lease0 = first[0].lease
        let out = h.receive(.result(Self.result(for: lease0, ended: 6, departures: [.init(shard: 1, walks: try Self.migrants(4))])), from: a)
        #expect(Self.rejections(out).isEmpty)
        #expect(h.core.statistics.migrationsTotal == 4)
        #expect(h.core.statistics.batchesTotal == 5)
        // b holds two leases of its four credits: the new segment goes to it, not to a.
        let segment = try #require(Self.leases(out).first { $0.lease.batchID == 4 })
        #expect(segment.peer == b)
        #expect(segment.lease.segment == WireMessage.SegmentLease(shard: 1, arrivals: try Self.migrants(4)))
        #expect(segment.lease.walks.isEmpty)
        #expect(h.core.invariantViolations().isEmpty)

        for (peer, lease) in first.dropFirst() {
            _ = h.receive(.result(Self.result(for: lease, ended: 10)), from: peer)
        }
        #expect(!h.core.isRoundComplete) // the 4 walks of segment 4 are still out
        let done = h.receive(.result(Self.result(for: segment.lease, ended: 4)), from: b)
        #expect(h.core.isRoundComplete)
        let results = try #require(done.lazy.compactMap { directive -> [WireMessage.BatchResult]? in
            if case .roundComplete(_, let results) = directive { return results }
            return nil
        }.first)
        #expect(results.count == 5)
        #expect(results.reduce(0) { $0 + $1.hittingTime.count } == 40)
    }

    @Test("results that do not fit their segment are refused by what is wrong")
    func badDeparturesAreRefused() throws {
        var h = Harness()
        _ = h.hello(a)
        let lease = try #require(Self.leases(h.core.startRound(0, batches: [0..<10, 10..<20], policyVersion: 0, shards: 2, at: h.now)).first).lease
        let cases: [(WireMessage.BatchResult, String)] = [
            (Self.result(for: lease, ended: 6, departures: [.init(shard: 0, walks: try Self.migrants(4))]), "not another"),
            (Self.result(for: lease, ended: 6, departures: [.init(shard: 5, walks: try Self.migrants(4))]), "not another"),
            (Self.result(for: lease, ended: 0, departures: [.init(shard: 1, walks: try Self.migrants(11))]), "departed"),
            (Self.result(for: lease, ended: 6, departures: [.init(shard: 1, walks: try Self.migrants(4, first: 900))]), "not a running walk"),
            (Self.result(for: lease, ended: 7, departures: [.init(shard: 1, walks: try Self.migrants(4))]), "hitting_time has 7 walks"),
        ]
        for (result, needle) in cases {
            let reasons = Self.rejections(h.receive(.result(result), from: a))
            #expect(reasons.contains { $0.contains(needle) }, "\(reasons) should say \(needle)")
            _ = h.hello(a) // refusals of its own lease drop it; it comes back
        }
        var stale = Self.result(for: lease, ended: 10)
        stale.segmentDigest &+= 1
        #expect(Self.rejections(h.receive(.result(stale), from: a)).contains { $0.contains("another version") })
    }

    @Test("a dropped owner's shards move to a live worker with their segments; a joining worker takes shards from the busiest")
    func shardsMoveWithWorkers() throws {
        var h = Harness()
        _ = h.hello(a)
        _ = h.hello(b)
        let first = Self.leases(h.core.startRound(0, batches: (0..<8).map { UInt64($0 * 10)..<UInt64($0 * 10 + 10) }, policyVersion: 0, shards: 4, at: h.now))
        #expect(h.core.shardOwnership == [[a], [b], [a], [b]])
        #expect(Set(first.filter { $0.peer == b }.map { $0.lease.segment!.shard }) == [1, 3])
        // b goes silent: a takes its shards and its leases.
        h.now += 10 * Self.second
        _ = h.receive(.heartbeat(.init(sequence: 1, senderTimeNanoseconds: h.now)), from: a)
        let dropped = h.core.handle(.tick(at: h.now))
        #expect(h.core.shardOwnership == [[a], [a], [a], [a]])
        #expect(h.core.invariantViolations().isEmpty)
        #expect(Self.leases(dropped).isEmpty) // a has no credit left
        // a's next lease is the lowest batch of the four shards it now owns: b's batch 1.
        let next = Self.leases(h.receive(.result(Self.result(for: first[0].lease, ended: 10)), from: a))
        #expect(next.map(\.peer) == [a])
        #expect(next.map { $0.lease.batchID } == [1])
        // c joins: it takes two shards from a.
        _ = h.hello(c)
        #expect(h.core.shardOwnership.filter { $0 == [c] }.count == 2)
        #expect(h.core.invariantViolations().isEmpty)
    }

    @Test("with more workers than shards every worker owns one, and a shard's segments go to any of its owners")
    func shardsWithSeveralOwners() throws {
        var h = Harness()
        let peers = (0..<5).map { PeerID([2, UInt8($0)]) }
        for p in peers { _ = h.hello(p, credits: 1) }
        let first = Self.leases(h.core.startRound(0, batches: (0..<8).map { UInt64($0 * 10)..<UInt64($0 * 10 + 10) }, policyVersion: 0, shards: 2, at: h.now))
        // Owners alternate: shard 0 gets the 1st, 3rd and 5th worker, shard 1 the 2nd and 4th.
        #expect(h.core.shardOwnership == [[peers[0], peers[2], peers[4]], [peers[1], peers[3]]])
        #expect(first.count == 5)
        for (peer, lease) in first {
            #expect(h.core.shardOwnership[lease.segment!.shard].contains(peer))
        }
        #expect(h.core.invariantViolations().isEmpty)
        // Shard 1 loses an owner: the most-owned shard gives it one (3 and 1 owners become 2 and 2);
        // then it loses the other, and keeps the one it was given.
        for p in [peers[1], peers[3]] { _ = h.hello(p, credits: 0) } // a HELLO with no credits unregisters it
        #expect(h.core.shardOwnership == [[peers[0], peers[2]], [peers[4]]])
        #expect(h.core.invariantViolations().isEmpty)
    }

    @Test("a snapshot holds the segments: the restored core leases them again and finishes the round")
    func snapshotsKeepSegments() throws {
        var h = Harness()
        _ = h.hello(a, credits: 8)
        let first = Self.leases(h.core.startRound(3, batches: [0..<10, 10..<20], policyVersion: 0, shards: 2, at: h.now))
        let out = h.receive(.result(Self.result(for: first[0].lease, ended: 7, departures: [.init(shard: 1, walks: try Self.migrants(3))])), from: a)
        let segment = try #require(Self.leases(out).first { $0.lease.batchID & 0xFFFF_FFFF == 2 }).lease
        let data = try JSONEncoder().encode(h.core.snapshot)
        let snapshot = try JSONDecoder().decode(CoordinatorSnapshot.self, from: data)
        #expect(snapshot == h.core.snapshot)
        #expect(snapshot.segments.count == 1)

        var restored = Harness(core: CoordinatorCore(restoring: snapshot, config: CoordinatorConfig()))
        let again = Self.leases(restored.hello(b, credits: 8))
        #expect(Set(again.map { $0.lease.batchID & 0xFFFF_FFFF }) == [1, 2])
        #expect(again.first { $0.lease.batchID == segment.batchID }?.lease == segment)
        for (_, lease) in again {
            _ = restored.receive(.result(Self.result(for: lease, ended: lease.walks.count + lease.segment!.arrivals.count)), from: b)
        }
        #expect(restored.core.isRoundComplete)

        // A snapshot whose segments do not hold the walks that left is refused.
        var text = String(decoding: data, as: UTF8.self)
        let words = try #require(text.range(of: #""arrivals":"[^"]*""#, options: .regularExpression))
        text.replaceSubrange(words, with: #""arrivals":"""#)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(CoordinatorSnapshot.self, from: Data(text.utf8)) }
    }

    /// A worker's answer to `lease`, decided by the batch id alone (as a real worker's is):
    /// each walk ends (hitting time 1) or leaves for another shard.
    static func deterministicResult(for lease: WireMessage.TaskLease, shards: Int) throws -> WireMessage.BatchResult {
        var random = WalkRandom(seed: lease.batchID, index: 7)
        let segment = lease.segment!
        let indices = Array(lease.walks) + segment.arrivals.walks.map(\.index)
        var times = IntegerSampleAccumulator()
        var leaving = [Int: [UInt64]]()
        for index in indices {
            if shards > 1, random.next(below: 3) == 0 {
                let shard = (segment.shard + 1 + Int(random.next(below: UInt64(shards - 1)))) % shards
                leaving[shard, default: []] += [index, 9, 1, 2, 3, 4, 50, 0]
            } else {
                times.record(1)
            }
        }
        let departures = try leaving.keys.sorted().map { WireMessage.Departure(shard: $0, walks: try Migrants(words: leaving[$0]!)) }
        return .init(
            jobID: lease.jobID, batchID: lease.batchID, steps: times.count, hittingTime: times, departures: departures,
            segmentDigest: segment.arrivals.digest(fresh: lease.walks))
    }

    @Test("thousands of random events, restarts from snapshots included, never lose or double a walk")
    func randomEventsKeepEveryWalk() throws {
        var random = WalkRandom(seed: 77, index: 0)
        var config = CoordinatorConfig()
        config.maxCreditsPerWorker = 3
        var core = CoordinatorCore(runID: Self.runID, job: Self.job, config: config)
        let peers = (0..<6).map { PeerID([1, UInt8($0)]) }
        var now: UInt64 = 0, round = 0, shards = 3, rounds = 0, migrations = 0, requeued = 0, restarts = 0
        var batches: [Range<UInt64>] = (0..<UInt64(12)).map { i -> Range<UInt64> in i * 10..<i * 10 + 10 }
        var leases = [UInt64: WireMessage.TaskLease]()
        func take(_ directives: [CoordinatorDirective]) throws {
            for directive in directives {
                if case .send(_, .task(let lease)) = directive { leases[lease.batchID] = lease }
                if case .roundComplete(let number, let results) = directive {
                    #expect(number == round)
                    // Every walk of the round ended exactly once, wherever it went.
                    let ended: UInt64 = results.reduce(0) { $0 + $1.hittingTime.count }
                    let started: UInt64 = batches.reduce(0) { $0 + ($1.upperBound - $1.lowerBound) }
                    #expect(ended == started)
                    rounds += 1
                }
            }
        }
        try take(core.startRound(round, batches: batches, policyVersion: 0, shards: shards, at: now))
        for step in 0..<20_000 {
            now += random.next(below: 300_000_000)
            let peer = peers[Int(random.next(below: UInt64(peers.count)))]
            let roll = random.next(below: 100)
            var directives = [CoordinatorDirective]()
            if roll < 6 {
                directives = core.handle(.message(from: peer, .init(runID: "", message: .hello(.init(
                    workerID: "w", cores: 1, credits: UInt32(1 + random.next(below: 4)), pid: 0, hostname: "", softwareVersion: ""))), at: now))
            } else if roll < 25 {
                directives = core.handle(.message(from: peer, .init(runID: Self.runID, message: .heartbeat(.init(
                    sequence: 1, senderTimeNanoseconds: now))), at: now))
            } else if roll < 70, !leases.isEmpty {
                // A result for some lease of this round, from whoever: late and duplicate ones included.
                let ids = leases.keys.filter { $0 >> 32 == UInt64(round) }.sorted()
                if let id = ids.isEmpty ? nil : ids[Int(random.next(below: UInt64(ids.count)))] {
                    var result = try Self.deterministicResult(for: leases[id]!, shards: shards)
                    if random.next(below: 20) == 0 { result.segmentDigest &+= 1 } // a stale version
                    directives = core.handle(.message(from: peer, .init(runID: Self.runID, message: .result(result)), at: now))
                }
            } else if roll < 72 {
                // The coordinator restarts from its snapshot: leases are forgotten, workers HELLO again.
                (migrations, requeued, restarts) = (migrations + core.statistics.migrationsTotal, requeued + core.statistics.requeuedTotal, restarts + 1)
                let data = try JSONEncoder().encode(core.snapshot)
                core = CoordinatorCore(restoring: try JSONDecoder().decode(CoordinatorSnapshot.self, from: data), config: config)
            } else if core.isRoundComplete, roll < 80 {
                round += 1
                shards = 1 + Int(random.next(below: 4))
                let count: UInt64 = 1 + random.next(below: UInt64(15))
                batches = (0..<count).map { i -> Range<UInt64> in i * 10..<i * 10 + random.next(below: UInt64(11)) }
                directives = core.startRound(round, batches: batches, policyVersion: 0, shards: shards, at: now)
            } else {
                directives = core.handle(.tick(at: now))
            }
            try take(directives)
            let violations = core.invariantViolations()
            #expect(violations.isEmpty, "step \(step): \(violations)")
            if !violations.isEmpty { return }
        }
        migrations += core.statistics.migrationsTotal
        requeued += core.statistics.requeuedTotal
        #expect(rounds > 5 && restarts > 100)
        #expect(migrations > 1000 && requeued > 0, "\(migrations) migrations, \(requeued) requeued")
    }
}
