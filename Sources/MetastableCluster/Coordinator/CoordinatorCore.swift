import Metastable

/// The coordinator's decisions as a value with no I/O: which worker holds which batch,
/// when a silent worker is dropped and its batches requeued, which results are kept, when a
/// round is complete and when to checkpoint.
///
/// A shell feeds it `CoordinatorEvent`s (messages, undecodable frames, clock ticks) and
/// carries out the `CoordinatorDirective`s it returns. It reads no clock and draws no random
/// number, and walks over workers in join order, never in dictionary order, so the same
/// events give the same directives; tests and `ClusterSimulation` drive it with a simulated
/// clock.
///
/// The protocol (the ZeroMQ Guide's Paranoid Pirate, with credit-based flow control):
/// - HELLO registers a worker with `min(credits, maxCreditsPerWorker)` credits (a known
///   peer's HELLO resets it, requeueing its leases); it gets JOB, then leases up to its credits.
/// - A worker never holds more leases than its credits; a RESULT returns the credit and
///   brings the next lease. Batches go out lowest index first, requeued ones included.
/// - Any message from a registered worker shows it is alive. One silent for more than
///   `livenessIntervals` heartbeat intervals is dropped and its leases requeued. A worker
///   sent nothing for a heartbeat interval is sent a HEARTBEAT.
/// - A valid result for a batch not yet done is kept, whoever sends it: results are
///   deterministic per batch. Duplicates and results of earlier rounds are counted and
///   ignored; invalid ones are counted as bad and never kept.
/// - On a partitioned chain every shard has an owner and every worker owns a shard, and a
///   worker is leased segments of the shards it owns only: with fewer workers than shards
///   each owns several, with more each owns one and shards have several owners (see
///   `assignShards`). A dropped worker's shards move to the others, and a joining one
///   takes shards from the busiest or joins the least-owned. Walks that leave a segment
///   travel in the result and go out in a segment of their new shard.
public struct CoordinatorCore: Sendable {
    public let runID: String
    /// Sent to every worker on HELLO.
    public let job: WireMessage.Job
    public let config: CoordinatorConfig

    private var round: CoordinatorRound?
    private var table = WorkerTable()
    /// On a partitioned chain, how many workers own each shard (each worker lists its own).
    private var ownerCounts: [Int] = []
    /// Set once `minWorkers` have joined; leasing then goes on whoever is left.
    private var leasingOpen = false
    private var shutdownReason: String?
    /// Peers sent a SHUTDOWN since `finish`, so that each gets one.
    private var toldToShutDown: Set<PeerID> = []
    private var lastCheckpoint: UInt64?
    private var resultsSinceCheckpoint = false
    private var counters = CoordinatorStatistics()
    /// Refused results per batch of the current round.
    private var refusals: [Int: Int] = [:]
    /// Why the run cannot finish: a batch whose results were refused too often.
    public private(set) var failure: String?
    /// Checks what a result carries beyond walk statistics (an algorithm's payload) before
    /// it is kept: a reason to reject it, or nil. Set by the shell for each round; not part
    /// of a snapshot.
    public var resultValidator: (@Sendable (WireMessage.BatchResult, _ batch: Int) -> String?)?

    public init(runID: String, job: WireMessage.Job, config: CoordinatorConfig) {
        self.runID = runID
        self.job = job
        self.config = config
    }

    /// Restores a checkpointed state: done batches stay done, nothing is leased, no worker
    /// is known. Workers that were connected get "not registered" and HELLO again.
    public init(restoring snapshot: CoordinatorSnapshot, config: CoordinatorConfig) {
        self.init(runID: snapshot.runID, job: snapshot.job, config: config)
        round = snapshot.restoredRound()
        ownerCounts = Array(repeating: 0, count: round?.shardCount ?? 0)
    }

    /// The round started last, nil before the first.
    public var currentRound: Int? { round?.number }

    public var isRoundComplete: Bool { round?.isComplete ?? false }

    /// The current round's results in batch order once all are done, as `.roundComplete`
    /// gave them: for a shell resuming from a checkpoint written at a round's end.
    public var roundResults: [WireMessage.BatchResult]? {
        guard let round, round.isComplete else { return nil }
        return round.results.compactMap { $0 }
    }

    // MARK: - Commands from the shell

    /// Starts round `number` with these batches (batch `i` covers `batches[i]`) and returns
    /// the leases that can go out now. Batch `i`'s id on the wire is `number << 32 | i`.
    ///
    /// With `shards`, the chain is partitioned: batch b runs on shard b mod `shards`, and the
    /// walks that leave it come back as segments of other shards.
    ///
    /// - Precondition: `number` fits in 32 bits and is above the previous round's, which is
    ///   complete; fewer than 2^32 batches. Does nothing after `finish`.
    public mutating func startRound(
        _ number: Int, batches: [Range<UInt64>], policyVersion: UInt64, input: WireMessage.RoundInput? = nil,
        shards: Int? = nil, at now: UInt64
    ) -> [CoordinatorDirective] {
        guard shutdownReason == nil else { return [] }
        precondition(number >= 0 && number <= UInt32.max, "round \(number) does not fit a batch id")
        precondition(batches.count <= 1 << 32, "\(batches.count) batches do not fit a batch id")
        if let round {
            precondition(round.isComplete, "round \(round.number) is not complete")
            precondition(number > round.number, "round \(number) does not follow round \(round.number)")
        }
        round = CoordinatorRound(number: number, policyVersion: policyVersion, input: input, walks: batches, shards: shards)
        var out: [CoordinatorDirective] = []
        if ownerCounts.count != shards ?? 0 {
            ownerCounts = Array(repeating: 0, count: shards ?? 0)
            for slot in table.workers.indices { table.workers[slot].shards = [] }
            assignShards(into: &out)
        }
        refusals = [:]
        lastCheckpoint = now
        if batches.isEmpty { completeRound(at: now, into: &out) }
        leaseToAll(at: now, into: &out)
        return out
    }

    public mutating func handle(_ event: CoordinatorEvent) -> [CoordinatorDirective] {
        var out: [CoordinatorDirective] = []
        switch event {
        case .message(let peer, let envelope, let now):
            if let reason = shutdownReason {
                if toldToShutDown.insert(peer).inserted { out.append(.send(to: peer, .shutdown(.init(reason: reason)))) }
            } else {
                receive(envelope, from: peer, at: now, into: &out)
            }
        case .malformed(let peer, let reason, _):
            counters.badMessagesTotal += 1
            if shutdownReason == nil { out.append(.log(.rejected(peer, reason: reason))) }
        case .tick(let now):
            if shutdownReason == nil { tick(at: now, into: &out) }
        }
        return out
    }

    /// SHUTDOWN to every known worker. Afterwards a message from any other peer gets one
    /// SHUTDOWN, and nothing else happens.
    public mutating func finish(reason: String) -> [CoordinatorDirective] {
        guard shutdownReason == nil else { return [] }
        shutdownReason = reason
        let peers = table.workers.map(\.peer)
        for index in table.workers.flatMap(\.leases) { round?.requeue(index) }
        table = WorkerTable()
        ownerCounts = ownerCounts.map { _ in 0 }
        toldToShutDown = Set(peers)
        return peers.map { .send(to: $0, .shutdown(.init(reason: reason))) }
    }

    // MARK: - State for the shell

    public var snapshot: CoordinatorSnapshot {
        CoordinatorSnapshot(
            runID: runID, job: job, round: round?.number, policyVersion: round?.policyVersion ?? 0,
            input: round?.input, batches: round.map { Array($0.walks.prefix($0.startBatchCount)) } ?? [],
            shards: round?.shardCount, segments: round?.segments ?? [], results: round?.results ?? [])
    }

    public var statistics: CoordinatorStatistics {
        var statistics = counters
        statistics.workersLive = table.workers.count
        statistics.batchesDone = round?.doneCount ?? 0
        statistics.batchesLeased = round?.leasedCount ?? 0
        statistics.batchesTotal = round?.walks.count ?? 0
        return statistics
    }

    /// Who owns each shard of a partitioned chain, in join order (empty otherwise).
    public var shardOwnership: [[PeerID]] {
        ownerCounts.indices.map { s in table.workers.filter { $0.shards.contains(s) }.map(\.peer) }
    }

    // MARK: - Events

    private mutating func receive(_ envelope: WireEnvelope, from peer: PeerID, at now: UInt64, into out: inout [CoordinatorDirective]) {
        guard envelope.version == WireEnvelope.currentVersion else {
            return reject(peer, "protocol version \(envelope.version), this coordinator speaks \(WireEnvelope.currentVersion)", into: &out)
        }
        if case .hello(let hello) = envelope.message {
            return join(peer, hello, at: now, into: &out)
        }
        let slot = table.slot(of: peer)
        // A worker that has sent HELLO but not yet read the JOB heartbeats with no run id.
        let heartbeatBeforeJob = envelope.runID.isEmpty && slot != nil && envelope.message.verb == "HEARTBEAT"
        guard envelope.runID == runID || heartbeatBeforeJob else {
            // No reply: a worker of another run finds out by hearing nothing, and HELLOs.
            return reject(peer, "run '\(envelope.runID)' is not this coordinator's '\(runID)'", into: &out)
        }
        if let slot { table.workers[slot].lastHeard = max(table.workers[slot].lastHeard, now) }
        switch envelope.message {
        case .result(let result):
            accept(result, from: peer, at: now, into: &out)
        case .heartbeat:
            if slot == nil { tellToRejoin(peer, into: &out) }
        case .error(let report):
            // Its leases must not wait for a worker that failed; HELLOing again may go better.
            // Never answered: errors answering errors could go back and forth for ever.
            out.append(.log(.workerError(peer, report)))
            if slot != nil {
                drop(peer, into: &out)
                leaseToAll(at: now, into: &out)
            }
        case .hello, .job, .task, .shutdown:
            reject(peer, "a worker does not send \(envelope.message.verb)", into: &out)
        }
    }

    private mutating func join(_ peer: PeerID, _ hello: WireMessage.Hello, at now: UInt64, into out: inout [CoordinatorDirective]) {
        // A known peer saying HELLO again has restarted: whatever it held is lost.
        let rejoined = drop(peer, into: &out)
        guard hello.credits > 0 else {
            reject(peer, "hello offers 0 credits", into: &out)
            out.append(.send(to: peer, .error(.init(code: .malformedMessage, message: "hello offers 0 credits: take at least one task"))))
            if rejoined { leaseToAll(at: now, into: &out) }
            return
        }
        let credits = Int(min(hello.credits, config.maxCreditsPerWorker))
        let slot = table.add(Worker(peer: peer, credits: credits, lastHeard: now, lastSent: now))
        out.append(.log(.workerJoined(peer, hello)))
        assignShards(into: &out)
        send(.job(job), toWorkerAt: slot, at: now, into: &out)
        if !leasingOpen, table.workers.count >= config.minWorkers {
            leasingOpen = true
            leaseToAll(at: now, into: &out)
        } else if rejoined {
            leaseToAll(at: now, into: &out)
        } else {
            fillCredits(ofWorkerAt: slot, at: now, into: &out)
        }
    }

    private mutating func accept(_ result: WireMessage.BatchResult, from peer: PeerID, at now: UInt64, into out: inout [CoordinatorDirective]) {
        guard result.jobID == job.jobID else {
            return reject(peer, "result for job \(result.jobID), this run's is \(job.jobID)", into: &out)
        }
        // `round?.` throughout, never a local copy: one alive while `round` mutates would
        // copy its arrays.
        guard let number = round?.number, let count = round?.walks.count else {
            return reject(peer, "result for batch \(result.batchID) before any round", into: &out)
        }
        let resultRound = result.batchID >> 32, index = Int(result.batchID & 0xFFFF_FFFF)
        if resultRound < UInt64(number) {
            return ignoreDuplicate(result.batchID, from: peer, into: &out)
        }
        guard resultRound == UInt64(number), index < count else {
            return reject(peer, "no batch \(result.batchID) in round \(number) of \(count) batches", into: &out)
        }
        if let problem = round?.problem(with: result, at: index) ?? resultValidator?(result, index) {
            reject(peer, problem, into: &out)
            // A worker that botches its own lease would hold the batch for ever. Only these
            // refusals count towards failing the run: any peer can send a bad result, but
            // only lease holders computed one.
            if round?.batches[index] == .leased(peer) {
                refusals[index, default: 0] += 1
                if refusals[index]! >= config.maxRefusalsPerBatch, failure == nil {
                    failure = "batch \(index) of round \(number): \(refusals[index]!) results refused, the last because \(problem)"
                }
                drop(peer, into: &out)
                leaseToAll(at: now, into: &out)
            }
            return
        }
        guard round?.batches[index] != .done else {
            return ignoreDuplicate(result.batchID, from: peer, into: &out)
        }
        let holder = round?.complete(index, with: result)
        counters.resultsTotal += 1
        counters.migrationsTotal += result.departures.reduce(0) { $0 + $1.walks.count }
        resultsSinceCheckpoint = true
        // The holder may be another worker than the sender (the batch was requeued): either
        // way its credit comes back.
        if let holder, let slot = table.slot(of: holder) {
            table.workers[slot].leases.removeAll { $0 == index }
            fillCredits(ofWorkerAt: slot, at: now, into: &out)
        }
        // Walks that left went into segments of their new shards.
        if !result.departures.isEmpty { leaseToAll(at: now, into: &out) }
        if isRoundComplete {
            completeRound(at: now, into: &out)
        } else {
            checkpointIfDue(at: now, into: &out)
        }
    }

    private mutating func tick(at now: UInt64, into out: inout [CoordinatorDirective]) {
        let limit = config.silenceLimit
        let silent = table.workers.filter { elapsed(since: $0.lastHeard, at: now) > limit }.map(\.peer)
        for peer in silent { drop(peer, into: &out) }
        if !silent.isEmpty { leaseToAll(at: now, into: &out) }
        for slot in table.workers.indices where elapsed(since: table.workers[slot].lastSent, at: now) >= config.heartbeatInterval {
            table.workers[slot].heartbeatsSent += 1
            let heartbeat = WireMessage.Heartbeat(sequence: table.workers[slot].heartbeatsSent, senderTimeNanoseconds: now)
            send(.heartbeat(heartbeat), toWorkerAt: slot, at: now, into: &out)
        }
        checkpointIfDue(at: now, into: &out)
    }

    // MARK: - Leases

    /// Leases the lowest queued batches to the worker until its credits are used.
    private mutating func fillCredits(ofWorkerAt slot: Int, at now: UInt64, into out: inout [CoordinatorDirective]) {
        guard leasingOpen else { return }
        let peer = table.workers[slot].peer
        let shards = table.workers[slot].shards
        while table.workers[slot].leases.count < table.workers[slot].credits,
            let index = round?.leaseNext(to: peer, shards: shards)
        {
            table.workers[slot].leases.append(index)
            if let lease = round?.lease(index, jobID: job.jobID) {
                send(.task(lease), toWorkerAt: slot, at: now, into: &out)
            }
        }
    }

    /// `fillCredits` for every worker, in join order, while batches are queued.
    private mutating func leaseToAll(at now: UInt64, into out: inout [CoordinatorDirective]) {
        for slot in table.workers.indices {
            guard let queued = round?.queuedCount, queued > 0 else { return }
            fillCredits(ofWorkerAt: slot, at: now, into: &out)
        }
    }

    /// Forgets `peer` and requeues its leases; false if it was not registered. The caller
    /// leases the requeued batches out again.
    @discardableResult
    private mutating func drop(_ peer: PeerID, into out: inout [CoordinatorDirective]) -> Bool {
        guard let worker = table.remove(peer) else { return false }
        for s in worker.shards { ownerCounts[s] -= 1 }
        assignShards(into: &out)
        let requeued = worker.leases.sorted()
        for index in requeued { round?.requeue(index) }
        counters.requeuedTotal += requeued.count
        out.append(.log(.workerDropped(peer, requeued: requeued.compactMap { round?.batchID($0) })))
        return true
    }

    /// Keeps every shard owned and every worker busy, moving as few shards as it can, in
    /// join order so that the same events give the same owners:
    /// 1. a shard without an owner goes to the worker holding the fewest shards;
    /// 2. a worker holding none takes a shard from the busiest worker when that one holds
    ///    two or more, else becomes one more owner of the shard with the fewest owners;
    /// 3. shards move from the busiest worker to the idlest while they differ by two or
    ///    more, and owners from the most-owned shard to the least-owned while those do.
    /// So with fewer workers than shards each worker runs several, and with more, shards
    /// have several owners, each running one. The caller leases afterwards.
    private mutating func assignShards(into out: inout [CoordinatorDirective]) {
        guard !ownerCounts.isEmpty, !table.workers.isEmpty else { return }
        func held(_ w: Int) -> Int { table.workers[w].shards.count }
        func give(_ s: Int, to w: Int) {
            table.workers[w].shards.append(s)
            ownerCounts[s] += 1
            out.append(.log(.shardAssigned(shard: s, to: table.workers[w].peer)))
        }
        func take(_ s: Int, from w: Int) {
            table.workers[w].shards.removeAll { $0 == s }
            ownerCounts[s] -= 1
        }
        // Lowest count, earliest first; highest count, earliest first.
        func fewest(_ count: Int, _ of: (Int) -> Int) -> Int { (0..<count).min { (of($0), $0) < (of($1), $1) }! }
        func most(_ count: Int, _ of: (Int) -> Int) -> Int { (0..<count).max { (of($0), -$0) < (of($1), -$1) }! }
        let workers = table.workers.count, shards = ownerCounts.count
        for s in 0..<shards where ownerCounts[s] == 0 { give(s, to: fewest(workers, held)) }
        for w in 0..<workers where held(w) == 0 {
            let busiest = most(workers, held)
            if held(busiest) >= 2 {
                let s = table.workers[busiest].shards.max()!
                take(s, from: busiest)
                give(s, to: w)
            } else {
                give(fewest(shards) { self.ownerCounts[$0] }, to: w)
            }
        }
        while true {
            let busiest = most(workers, held), idlest = fewest(workers, held)
            guard held(busiest) - held(idlest) >= 2 else { break }
            let s = table.workers[busiest].shards.filter { !table.workers[idlest].shards.contains($0) }.max()!
            take(s, from: busiest)
            give(s, to: idlest)
        }
        // Every worker holds one shard here if any shard has two owners.
        while true {
            let crowded = most(shards) { self.ownerCounts[$0] }, lonely = fewest(shards) { self.ownerCounts[$0] }
            guard ownerCounts[crowded] - ownerCounts[lonely] >= 2,
                let w = table.workers.indices.last(where: {
                    table.workers[$0].shards.contains(crowded) && !table.workers[$0].shards.contains(lonely)
                })
            else { return }
            take(crowded, from: w)
            give(lonely, to: w)
        }
    }

    // MARK: - Helpers

    private mutating func completeRound(at now: UInt64, into out: inout [CoordinatorDirective]) {
        guard let round else { return }
        out.append(.roundComplete(round: round.number, results: round.results.compactMap { $0 }))
        out.append(.checkpoint)
        lastCheckpoint = now
        resultsSinceCheckpoint = false
    }

    private mutating func checkpointIfDue(at now: UInt64, into out: inout [CoordinatorDirective]) {
        guard resultsSinceCheckpoint, lastCheckpoint.map({ elapsed(since: $0, at: now) >= config.checkpointInterval }) ?? true else {
            return
        }
        out.append(.checkpoint)
        lastCheckpoint = now
        resultsSinceCheckpoint = false
    }

    private mutating func send(_ message: WireMessage, toWorkerAt slot: Int, at now: UInt64, into out: inout [CoordinatorDirective]) {
        table.workers[slot].lastSent = now
        out.append(.send(to: table.workers[slot].peer, message))
    }

    private mutating func reject(_ peer: PeerID, _ reason: String, into out: inout [CoordinatorDirective]) {
        counters.badMessagesTotal += 1
        out.append(.log(.rejected(peer, reason: reason)))
    }

    private mutating func ignoreDuplicate(_ batchID: UInt64, from peer: PeerID, into out: inout [CoordinatorDirective]) {
        counters.duplicatesTotal += 1
        out.append(.log(.duplicateResult(peer, batchID: batchID)))
    }

    /// How a worker that was dropped, or a coordinator restarted with `--resume`, gets its
    /// workers back: they HELLO again when told.
    private func tellToRejoin(_ peer: PeerID, into out: inout [CoordinatorDirective]) {
        out.append(.log(.unknownPeer(peer)))
        out.append(.send(to: peer, .error(.init(code: .unknownJob, message: "not registered: send hello"))))
    }

    /// Time since `then`; 0 if the clock went back, which it should not.
    private func elapsed(since then: UInt64, at now: UInt64) -> UInt64 {
        now >= then ? now - then : 0
    }

    /// Checks the bookkeeping: no worker over its credits, every batch done, queued or
    /// leased to exactly one worker, and no credit left unused while batches are queued.
    package func invariantViolations() -> [String] {
        var problems = [String]()
        for worker in table.workers where worker.leases.count > worker.credits {
            problems.append("\(worker.peer) holds \(worker.leases.count) leases on \(worker.credits) credits")
        }
        guard let round else {
            if table.workers.contains(where: { !$0.leases.isEmpty }) { problems.append("leases without a round") }
            return problems
        }
        problems += round.invariantViolations(leases: table.workers.map { ($0.peer, $0.leases) })
        for worker in table.workers where leasingOpen && worker.leases.count < worker.credits {
            let shards = round.shardCount == nil ? [0] : worker.shards
            if shards.contains(where: { round.hasQueued(onShard: $0) }) {
                problems.append("\(worker.peer) has unused credit while batches it may run are queued")
            }
        }
        if round.shardCount != nil, !table.workers.isEmpty {
            let counted = ownerCounts.indices.map { s in table.workers.count { $0.shards.contains(s) } }
            if counted != ownerCounts || ownerCounts.contains(0) {
                problems.append("shard owners \(counted), counted \(ownerCounts): a shard without an owner, or a miscount")
            }
            if let idle = table.workers.first(where: { $0.shards.isEmpty }) { problems.append("\(idle.peer) owns no shard") }
        }
        return problems
    }
}

extension CoordinatorCore {
    /// A registered worker, as the coordinator sees it.
    struct Worker: Sendable {
        let peer: PeerID
        let credits: Int
        /// Batch indices of the current round, in the order leased.
        var leases: [Int] = []
        var lastHeard: UInt64
        var lastSent: UInt64
        var heartbeatsSent: UInt64 = 0
        /// On a partitioned chain, the shards it owns, in the order it got them.
        var shards: [Int] = []
    }

    /// The registered workers in join order, and where each peer sits in that order.
    struct WorkerTable: Sendable {
        var workers: [Worker] = []
        private var slots: [PeerID: Int] = [:]

        func slot(of peer: PeerID) -> Int? { slots[peer] }

        mutating func add(_ worker: Worker) -> Int {
            workers.append(worker)
            slots[worker.peer] = workers.count - 1
            return workers.count - 1
        }

        mutating func remove(_ peer: PeerID) -> Worker? {
            guard let slot = slots.removeValue(forKey: peer) else { return nil }
            let worker = workers.remove(at: slot)
            for later in slot..<workers.count { slots[workers[later].peer] = later }
            return worker
        }
    }
}
