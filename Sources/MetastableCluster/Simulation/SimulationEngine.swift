import Foundation
import Metastable

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The simulated world around one `CoordinatorCore`: workers, links, a clock and a queue of
/// events in time order. It plays the shell's part too: events in, directives carried out.
struct SimulationEngine {
    private enum Event {
        case startWorker(Int)
        /// A worker's heartbeat timer: heartbeat, or reconnect after hearing nothing.
        case workerTimer(Int)
        case batchDone(Int, WireMessage.TaskLease)
        /// A flaky worker's late copy of a message.
        case resend(Int, WireMessage)
        case kill(Int)
        case linkDown(Int)
        case linkUp(Int)
        case toCore(PeerID, WireEnvelope)
        /// Addressed to the connection `PeerID`: lost if the worker has reconnected since.
        case toWorker(Int, PeerID, WireMessage)
        case tick(generation: Int)
        case startRound(Int)
        case crash
        case restart
    }

    private struct SimWorker {
        enum Kind { case normal, slow, flaky }
        enum State { case waiting, running, dead, shutDown }

        var peer: PeerID
        let kind: Kind
        let credits: UInt32
        var state = State.waiting
        var linkUp = true
        var lastHeard: UInt64 = 0
        var diedAt: UInt64?
        /// Messages on a link arrive in order: the earliest the next may arrive, each way.
        var nextToCore: UInt64 = 0
        var nextToWorker: UInt64 = 0
        var heartbeats: UInt64 = 0
    }

    private let config: ClusterSimulation.Config
    private let coreConfig: CoordinatorConfig
    private let point: PreparedPoint
    private let rounds: Int
    private let batchesPerRound: Int
    private let walksPerBatch: Int
    private let runID: String
    private let job: WireMessage.Job

    private var random: WalkRandom
    private var now: UInt64 = 0
    private var events = EventQueue<Event>()
    private var workers: [SimWorker] = []
    private var workerByPeer: [PeerID: Int] = [:]
    private var nextPeerNumber: UInt32 = 0

    private var core: CoordinatorCore
    private var coreUp = true
    private var tickGeneration = 0
    private var lastCheckpoint: CoordinatorSnapshot?
    private var finishedAt: UInt64?
    /// Results of the current round's batches, by first walk: computed once, sent by anyone.
    private var resultCache: [UInt64: MonteCarloOutcome] = [:]
    /// Results of segments (a partitioned chain), by batch id and digest: a segment rebuilt
    /// after a coordinator restart may reuse an id with other walks.
    private var segmentCache: [SegmentKey: WireMessage.BatchResult] = [:]
    private struct SegmentKey: Hashable {
        var batchID: UInt64
        var digest: UInt64
    }
    private var segmentsRun = 0
    private var roundOutcomes: [MonteCarloOutcome?]
    /// The point's outcome of no walks: what rounds merge into, as the local executor does.
    private let emptyOutcome: MonteCarloOutcome
    private var roundsConsistent = true

    // What the report counts.
    private var killed = 0, rejoined = 0, slow = 0, flaky = 0, restarts = 0
    private var resultsDelivered = 0, messagesHandled = 0, ticks = 0, checkpoints = 0, workersDropped = 0
    private var coreCPU = CPUMeter()
    /// Statistics of cores that crashed, added up.
    private var retired = CoordinatorStatistics()
    /// Requeued batches of killed workers, with the time of the death, until leased again.
    private var awaitingRelease: [UInt64: UInt64] = [:]
    private var releaseDelays: [UInt64] = []

    init(config: ClusterSimulation.Config, point: PreparedPoint, rounds: Int, batchesPerRound: Int, walksPerBatch: Int) throws {
        self.config = config
        var coreConfig = config.coordinator
        coreConfig.minWorkers = max(1, Int(config.minWorkersFraction * Double(config.workers)))
        self.coreConfig = coreConfig
        self.point = point
        self.rounds = rounds
        self.batchesPerRound = batchesPerRound
        self.walksPerBatch = walksPerBatch
        runID = "simulation-\(config.seed)"
        job = WireMessage.Job(jobID: 1, source: .experiment(specYAML: config.experimentYAML, seed: point.spec.seed))
        random = WalkRandom(seed: config.seed, index: 0)
        core = CoordinatorCore(runID: runID, job: job, config: coreConfig)
        roundOutcomes = Array(repeating: nil, count: rounds)
        if case .sharded(let sharded) = point.walks {
            emptyOutcome = try sharded.run(Segment(shard: 0)).outcome
        } else {
            emptyOutcome = try point.runBatch(0..<0)
        }
    }

    /// The outcome of all rounds merged in order, if every round completed consistently.
    private(set) var mergedOutcome: MonteCarloOutcome?

    // MARK: - Running

    mutating func run() throws {
        let workerCount = max(0, config.workers)
        let order = shuffled(workerCount)
        slow = min(workerCount, Int((config.slowFraction * Double(workerCount)).rounded()))
        flaky = min(workerCount - slow, Int((config.flakyFraction * Double(workerCount)).rounded()))
        var kinds = [SimWorker.Kind](repeating: .normal, count: workerCount)
        for w in order.prefix(slow) { kinds[w] = .slow }
        for w in order.dropFirst(slow).prefix(flaky) { kinds[w] = .flaky }
        for kind in kinds {
            let w = addWorker(kind)
            schedule(.startWorker(w), after: uniform(0, config.joinWindow))
            if kind == .flaky { schedule(.linkDown(w), after: troubleTime()) }
        }
        killed = min(workerCount, Int((config.killFraction * Double(workerCount)).rounded()))
        for w in shuffled(workerCount).prefix(killed) { schedule(.kill(w), after: troubleTime()) }
        // One crash in each equal slice of the trouble window, each restart before the next crash.
        let crashes = max(0, config.coordinatorRestarts)
        let slice = config.troubleWindow / Double(max(1, crashes))
        for i in 0..<crashes {
            schedule(.crash, after: config.joinWindow + slice * Double(i) + uniform(0, max(0, slice - config.coordinatorDowntime)))
        }
        schedule(.tick(generation: tickGeneration), after: 0)
        schedule(.startRound(0), after: 0)

        let limit = seconds(config.maxSimulatedSeconds)
        while let (time, event) = events.pop(), time <= limit {
            now = time
            if let finishedAt, now > finishedAt + seconds(1) { break }
            try handle(event)
        }
        if finishedAt != nil, roundsConsistent {
            var merged = emptyOutcome
            for outcome in roundOutcomes {
                guard let outcome else { return }
                merged.merge(outcome)
            }
            mergedOutcome = merged
        }
    }

    private mutating func handle(_ event: Event) throws {
        switch event {
        case .startWorker(let w):
            workers[w].state = .running
            workers[w].lastHeard = now
            sendHello(w)
            schedule(.workerTimer(w), after: interval)
        case .workerTimer(let w):
            guard workers[w].state == .running else { return }
            if now - workers[w].lastHeard > liveness {
                reconnect(w)
            } else if workers[w].kind != .flaky || random.nextDouble() >= 0.25 {
                workers[w].heartbeats += 1
                send(.heartbeat(.init(sequence: workers[w].heartbeats, senderTimeNanoseconds: now)), from: w)
            }
            schedule(.workerTimer(w), after: interval)
        case .batchDone(let w, let lease):
            guard workers[w].state == .running else { return }
            let result = try lease.segment.map { try segmentResult(lease, $0) }
                ?? WireMessage.BatchResult(jobID: lease.jobID, batchID: lease.batchID, outcome: try outcome(of: lease.walks))
            send(.result(result), from: w)
            if workers[w].kind == .flaky, random.nextDouble() < 0.3 {
                schedule(.resend(w, .result(result)), after: uniform(0.5, 3))
            }
        case .resend(let w, let message):
            if workers[w].state == .running { send(message, from: w) }
        case .kill(let w):
            workers[w].state = .dead
            workers[w].diedAt = now
            if random.nextDouble() < config.rejoinFraction {
                rejoined += 1
                let newcomer = addWorker(.normal)
                schedule(.startWorker(newcomer), after: uniform(2, 6))
            }
        case .linkDown(let w):
            workers[w].linkUp = false
            schedule(.linkUp(w), after: uniform(1.5, 2.5) * Double(liveness) * 1e-9)
        case .linkUp(let w):
            workers[w].linkUp = true
        case .toCore(let peer, let envelope):
            guard coreUp else { return }
            messagesHandled += 1
            if case .result = envelope.message { resultsDelivered += 1 }
            coreHandle(.message(from: peer, envelope, at: now))
        case .toWorker(let w, let peer, let message):
            guard workers[w].peer == peer, workers[w].linkUp, workers[w].state == .running else { return }
            workers[w].lastHeard = now
            switch message {
            case .task(let lease):
                let factor = workers[w].kind == .slow ? config.slowFactor : 1
                schedule(.batchDone(w, lease), after: config.batchSeconds * factor * uniform(0.8, 1.2))
            case .error(let report) where report.code == .unknownJob:
                sendHello(w)
            case .shutdown:
                workers[w].state = .shutDown
            default:
                break
            }
        case .tick(let generation):
            guard coreUp, generation == tickGeneration, finishedAt == nil else { return }
            ticks += 1
            coreHandle(.tick(at: now))
            schedule(.tick(generation: generation), after: 0.1)
        case .startRound(let round):
            guard coreUp, finishedAt == nil, (core.currentRound ?? -1) < round else { return }
            let base = UInt64(round * batchesPerRound * walksPerBatch), size = UInt64(walksPerBatch)
            let batches = (0..<UInt64(batchesPerRound)).map { base + $0 * size..<base + ($0 + 1) * size }
            let started = threadCPUTime()
            let directives = core.startRound(round, batches: batches, policyVersion: UInt64(round), shards: config.shards, at: now)
            coreCPU.add(since: started)
            apply(directives)
        case .crash:
            guard coreUp, finishedAt == nil else { return }
            coreUp = false
            restarts += 1
            add(core.statistics, to: &retired)
            schedule(.restart, after: config.coordinatorDowntime)
        case .restart:
            // As `--resume` would: from the checkpoint file's bytes.
            if let snapshot = lastCheckpoint {
                let bytes = try JSONEncoder().encode(snapshot)
                core = CoordinatorCore(restoring: try JSONDecoder().decode(CoordinatorSnapshot.self, from: bytes), config: coreConfig)
            } else {
                core = CoordinatorCore(runID: runID, job: job, config: coreConfig)
            }
            coreUp = true
            tickGeneration += 1
            schedule(.tick(generation: tickGeneration), after: 0)
            // Restored at a round's end, or before the first: start the next round again.
            if let round = core.currentRound, let results = core.roundResults {
                record(round, results)
                advance(after: round)
            } else if core.currentRound == nil {
                schedule(.startRound(0), after: 0)
            }
        }
    }

    // MARK: - The shell's part

    private mutating func coreHandle(_ event: CoordinatorEvent) {
        let started = threadCPUTime()
        let directives = core.handle(event)
        coreCPU.add(since: started)
        apply(directives)
    }

    private mutating func apply(_ directives: [CoordinatorDirective]) {
        for directive in directives {
            switch directive {
            case .send(let peer, let message):
                if case .task(let lease) = message, let died = awaitingRelease.removeValue(forKey: lease.batchID) {
                    releaseDelays.append(now - died)
                }
                // A ROUTER drops what it cannot route.
                if let w = workerByPeer[peer] { send(message, to: w, at: peer) }
            case .roundComplete(let round, let results):
                record(round, results)
                advance(after: round)
            case .checkpoint:
                checkpoints += 1
                lastCheckpoint = core.snapshot
            case .log(.workerDropped(let peer, let requeued)):
                workersDropped += 1
                if let w = workerByPeer[peer], let died = workers[w].diedAt {
                    for batchID in requeued { awaitingRelease[batchID] = died }
                }
            case .log:
                break
            }
        }
    }

    /// Merges the round's results in batch order (on a partitioned chain the start batches
    /// are followed by the segments of walks that moved, and every walk ends once).
    private mutating func record(_ round: Int, _ results: [WireMessage.BatchResult]) {
        guard round < rounds, roundOutcomes[round] == nil else { return }
        var outcome = emptyOutcome
        for (index, result) in results.enumerated() {
            if result.batchID != UInt64(round) << 32 | UInt64(index) { roundsConsistent = false }
            outcome.merge(result.outcome)
        }
        if config.shards == nil ? results.count != batchesPerRound : results.count < batchesPerRound { roundsConsistent = false }
        if outcome.hittingTimes.count != UInt64(batchesPerRound * walksPerBatch) { roundsConsistent = false }
        if config.shards != nil { segmentsRun += results.count - batchesPerRound }
        roundOutcomes[round] = outcome
        resultCache.removeAll()
        segmentCache.removeAll()
    }

    /// A segment's result, computed for real the first time anyone needs it.
    private mutating func segmentResult(_ lease: WireMessage.TaskLease, _ segment: WireMessage.SegmentLease) throws -> WireMessage.BatchResult {
        let digest = segment.arrivals.digest(fresh: lease.walks)
        let key = SegmentKey(batchID: lease.batchID, digest: digest)
        if let cached = segmentCache[key] { return cached }
        guard case .sharded(let sharded) = point.walks else { throw CoordinatorError("a segment for a point that is not partitioned") }
        let done = try sharded.run(Segment(
            shard: segment.shard, walks: Int(lease.walks.lowerBound)..<Int(lease.walks.upperBound), arrivals: segment.arrivals))
        var result = WireMessage.BatchResult(jobID: lease.jobID, batchID: lease.batchID, outcome: done.outcome)
        result.departures = done.departures.map { WireMessage.Departure(shard: $0.shard, walks: $0.walks) }
        result.segmentDigest = digest
        segmentCache[key] = result
        return result
    }

    /// Starts the round after `round`, or finishes after the last.
    private mutating func advance(after round: Int) {
        if round + 1 < rounds {
            schedule(.startRound(round + 1), after: 0)
        } else if finishedAt == nil {
            finishedAt = now
            let started = threadCPUTime()
            let directives = core.finish(reason: "the run is complete")
            coreCPU.add(since: started)
            apply(directives)
        }
    }

    // MARK: - Workers and links

    private mutating func addWorker(_ kind: SimWorker.Kind) -> Int {
        let credits = config.credits.lowerBound + UInt32(random.next(below: UInt64(config.credits.count)))
        workers.append(SimWorker(peer: newPeer(), kind: kind, credits: credits))
        workerByPeer[workers[workers.count - 1].peer] = workers.count - 1
        return workers.count - 1
    }

    /// Like ZeroMQ's generated routing ids: a zero byte and a counter.
    private mutating func newPeer() -> PeerID {
        nextPeerNumber += 1
        return PeerID([0] + withUnsafeBytes(of: nextPeerNumber.bigEndian, Array.init))
    }

    private mutating func sendHello(_ w: Int) {
        let hello = WireMessage.Hello(
            workerID: "sim-\(w)", cores: workers[w].credits, credits: workers[w].credits, pid: UInt32(w),
            hostname: "simulated", softwareVersion: "cluster simulation")
        send(.hello(hello), from: w)
    }

    /// After hearing nothing for the liveness period: a new socket (for half the flaky
    /// workers a new routing id), and HELLO. Batches in progress go on.
    private mutating func reconnect(_ w: Int) {
        if workers[w].kind == .flaky, random.nextDouble() < 0.5 {
            workerByPeer[workers[w].peer] = nil
            workers[w].peer = newPeer()
            workerByPeer[workers[w].peer] = w
        }
        workers[w].lastHeard = now // back off: try again after another liveness period
        sendHello(w)
    }

    private mutating func send(_ message: WireMessage, from w: Int) {
        guard workers[w].linkUp else { return }
        let arrival = max(now + latency(), workers[w].nextToCore)
        workers[w].nextToCore = arrival + 1
        events.push(.toCore(workers[w].peer, WireEnvelope(runID: runID, message: message)), at: arrival)
    }

    private mutating func send(_ message: WireMessage, to w: Int, at peer: PeerID) {
        guard workers[w].linkUp else { return }
        let arrival = max(now + latency(), workers[w].nextToWorker)
        workers[w].nextToWorker = arrival + 1
        events.push(.toWorker(w, peer, message), at: arrival)
    }

    /// The batch's statistics, computed for real the first time anyone needs them.
    private mutating func outcome(of walks: Range<UInt64>) throws -> MonteCarloOutcome {
        if let cached = resultCache[walks.lowerBound] { return cached }
        let outcome = try point.runBatch(Int(walks.lowerBound)..<Int(walks.upperBound))
        resultCache[walks.lowerBound] = outcome
        return outcome
    }

    // MARK: - Time and chance

    private var interval: Double { Double(coreConfig.heartbeatInterval) * 1e-9 }
    private var liveness: UInt64 { coreConfig.heartbeatInterval * coreConfig.livenessIntervals }

    private func seconds(_ s: Double) -> UInt64 { UInt64(max(0, s) * 1e9) }

    private mutating func schedule(_ event: Event, after delay: Double) {
        events.push(event, at: now + seconds(delay))
    }

    private mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * random.nextDouble()
    }

    private mutating func latency() -> UInt64 {
        seconds(config.latency + config.latencyJitter * random.nextDouble())
    }

    private mutating func troubleTime() -> Double {
        config.joinWindow + uniform(0, config.troubleWindow)
    }

    private mutating func shuffled(_ count: Int) -> [Int] {
        var order = Array(0..<count)
        random.shuffle(&order)
        return order
    }

    // MARK: - The report

    func report() -> ClusterSimulation.Report {
        var statistics = retired
        add(core.statistics, to: &statistics)
        let cpu = Double(coreCPU.total) * 1e-9
        let delays = releaseDelays.map { Double($0) * 1e-9 }
        return .init(
            workers: max(0, config.workers), killed: killed, rejoined: rejoined, slow: slow, flaky: flaky,
            coordinatorRestarts: restarts, rounds: rounds, batches: rounds * batchesPerRound,
            resultsDelivered: resultsDelivered, duplicatesIgnored: statistics.duplicatesTotal,
            requeued: statistics.requeuedTotal, workersDropped: workersDropped, messagesHandled: messagesHandled,
            ticks: ticks, checkpoints: checkpoints, coreCPUSeconds: cpu, clockReadNanoseconds: Double(coreCPU.clockRead),
            messagesPerCPUSecond: cpu > 0 ? Double(messagesHandled) / cpu : 0,
            coreCPUMicrosecondsPerResult: statistics.resultsTotal > 0 ? cpu * 1e6 / Double(statistics.resultsTotal) : 0,
            migrations: statistics.migrationsTotal, segments: segmentsRun,
            deathToRelease: delays.isEmpty ? nil : .init(
                count: delays.count, min: delays.min() ?? 0, mean: delays.reduce(0, +) / Double(delays.count),
                max: delays.max() ?? 0),
            simulatedSeconds: Double(finishedAt ?? now) * 1e-9, wallSeconds: 0,
            matchesUndisturbedRun: false)
    }

    private func add(_ statistics: CoordinatorStatistics, to total: inout CoordinatorStatistics) {
        total.requeuedTotal += statistics.requeuedTotal
        total.duplicatesTotal += statistics.duplicatesTotal
        total.badMessagesTotal += statistics.badMessagesTotal
        total.resultsTotal += statistics.resultsTotal
        total.migrationsTotal += statistics.migrationsTotal
    }
}

/// Thread CPU time spent between pairs of clock reads, less what reading the clock costs:
/// a system call of a few hundred nanoseconds, about a quarter of what the core spends on a
/// message, so it would skew the numbers.
private struct CPUMeter {
    /// CPU time an empty pair of reads measures, averaged over many.
    let clockRead: UInt64
    private(set) var total: UInt64 = 0

    init() {
        let pairs: UInt64 = 10_000
        var measured: UInt64 = 0
        for _ in 0..<pairs {
            let started = threadCPUTime()
            measured += threadCPUTime() - started
        }
        clockRead = measured / pairs
    }

    mutating func add(since started: UInt64) {
        let elapsed = threadCPUTime() - started
        total += elapsed > clockRead ? elapsed - clockRead : 0
    }
}

/// CPU time of the calling thread, in nanoseconds.
private func threadCPUTime() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// Events by time, then in the order they were scheduled: a binary min-heap.
private struct EventQueue<Event> {
    private var heap: [(time: UInt64, sequence: UInt64, event: Event)] = []
    private var scheduled: UInt64 = 0

    mutating func push(_ event: Event, at time: UInt64) {
        scheduled += 1
        heap.append((time, scheduled, event))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.earlier(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (UInt64, Event)? {
        guard let last = heap.popLast() else { return nil }
        guard !heap.isEmpty else { return (last.time, last.event) }
        let top = heap[0]
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var first = parent
            if left < heap.count, Self.earlier(heap[left], heap[first]) { first = left }
            if right < heap.count, Self.earlier(heap[right], heap[first]) { first = right }
            guard first != parent else { break }
            heap.swapAt(parent, first)
            parent = first
        }
        return (top.time, top.event)
    }

    private static func earlier(_ a: (time: UInt64, sequence: UInt64, event: Event), _ b: (time: UInt64, sequence: UInt64, event: Event)) -> Bool {
        (a.time, a.sequence) < (b.time, b.sequence)
    }
}
