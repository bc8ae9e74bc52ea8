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
        #expect(h.core.shardOwnership == [a, b])
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
        #expect(h.core.shardOwnership == [a, b, a, b])
        #expect(Set(first.filter { $0.peer == b }.map { $0.lease.segment!.shard }) == [1, 3])
        // b goes silent: a takes its shards and its leases.
        h.now += 10 * Self.second
        _ = h.receive(.heartbeat(.init(sequence: 1, senderTimeNanoseconds: h.now)), from: a)
        let dropped = h.core.handle(.tick(at: h.now))
        #expect(h.core.shardOwnership == [a, a, a, a])
        #expect(h.core.invariantViolations().isEmpty)
        #expect(Self.leases(dropped).isEmpty) // a has no credit left
        // a's next lease is the lowest batch of the four shards it now owns: b's batch 1.
        let next = Self.leases(h.receive(.result(Self.result(for: first[0].lease, ended: 10)), from: a))
        #expect(next.map(\.peer) == [a])
        #expect(next.map { $0.lease.batchID } == [1])
        // c joins: it takes two shards from a.
        _ = h.hello(c)
        #expect(h.core.shardOwnership.filter { $0 == c }.count == 2)
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
}
