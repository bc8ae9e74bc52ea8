import Foundation
import Metastable
import Synchronization

/// A lease's outcome, on its way from a compute thread to the I/O thread.
struct FinishedBatch: Sendable {
    var ticket: UInt64
    var result: Result<WorkerOutput, BatchFailure>
}

/// The compute half of the worker: threads that take leases from a queue, run them, and
/// leave the outcomes for the I/O thread to collect. They never touch a socket.
final class ComputePool: Sendable {
    private let leases = LeaseQueue()
    private let finished: FinishedBatches

    /// Starts `threads` threads. Each keeps running until `close()`, and signals `wakeup`
    /// whenever it leaves an outcome.
    init(threads: Int, walkersPerThread: Int?, wakeup: WakeupPipe) {
        finished = FinishedBatches(wakeup: wakeup)
        // Each thread may work on another point; one more lets the next round's point
        // be built while the last batches of the current one run.
        let points = PointCache(capacity: threads + 1)
        for index in 0..<threads {
            let thread = Thread { [leases, finished] in
                while let lease = leases.next() {
                    let result = Result { () throws(BatchFailure) -> WorkerOutput in
                        try Self.run(lease, points, walkers: walkersPerThread)
                    }
                    finished.append(FinishedBatch(ticket: lease.ticket, result: result))
                }
            }
            thread.name = "metastable-compute-\(index)"
            thread.start()
        }
    }

    private static func run(_ lease: WorkerLease, _ points: PointCache, walkers: Int?) throws(BatchFailure) -> WorkerOutput {
        switch try points.point(lease.job, lease.point) {
        case .walks(let point):
            do throws(WalkError) {
                guard let segment = lease.segment else {
                    return WorkerOutput(RoundBatchOutput(outcome: try point.runBatch(lease.walks, walkers: walkers)))
                }
                // WorkerCore leases segments only for points with shards.
                guard case .sharded(let sharded) = point.walks else {
                    throw WalkError(.badArgument, "a segment for grid point \(point.index), which is not partitioned")
                }
                let done = try sharded.run(
                    Segment(shard: segment.shard, walks: lease.walks, arrivals: segment.arrivals), walkers: walkers)
                return WorkerOutput(
                    RoundBatchOutput(outcome: done.outcome),
                    departures: done.departures.map { WireMessage.Departure(shard: $0.shard, walks: $0.walks) })
            } catch {
                throw .walking(error)
            }
        case .algorithm(let point):
            // WorkerCore leases algorithm points only with a task.
            guard let task = lease.task else { throw .running(LearningError(.badValue, field: "task", "no round input")) }
            do { return WorkerOutput(try point.runBatch(task, batch: lease.batch, items: lease.walks)) } catch { throw .running(error) }
        }
    }

    func submit(_ lease: WorkerLease) {
        leases.push(lease)
    }

    /// The outcomes finished since the last call, in the order they finished.
    func takeFinished() -> [FinishedBatch] {
        finished.takeAll()
    }

    /// Threads take no more leases: each exits when its current batch is done (its outcome
    /// is left uncollected). Returns at once.
    func close() {
        leases.close()
    }
}

/// Leases waiting for a compute thread. Idle threads sleep on the condition.
private final class LeaseQueue: @unchecked Sendable {
    // `condition` guards the two properties below.
    private let condition = NSCondition()
    private var leases: [WorkerLease] = []
    private var closed = false

    func push(_ lease: WorkerLease) {
        condition.withLock {
            leases.append(lease)
            condition.signal()
        }
    }

    /// The oldest lease, waiting for one; nil once closed, even with leases left.
    func next() -> WorkerLease? {
        condition.withLock {
            while leases.isEmpty, !closed { condition.wait() }
            return closed ? nil : leases.removeFirst()
        }
    }

    func close() {
        condition.withLock {
            closed = true
            condition.broadcast()
        }
    }
}

private final class FinishedBatches: Sendable {
    private let batches = Mutex<[FinishedBatch]>([])
    private let wakeup: WakeupPipe

    init(wakeup: WakeupPipe) { self.wakeup = wakeup }

    func append(_ batch: FinishedBatch) {
        batches.withLock { $0.append(batch) }
        wakeup.signal()
    }

    func takeAll() -> [FinishedBatch] {
        batches.withLock { batches in
            defer { batches = [] }
            return batches
        }
    }
}

/// A grid point ready to run batches.
private enum Prepared: Sendable {
    case walks(PreparedPoint)
    case algorithm(any AlgorithmPoint)

    init(_ plan: ExperimentPlan, point: Int) throws {
        if plan.points.indices.contains(point), plan.points[point].spec.algorithm != nil {
            self = .algorithm(try AlgorithmRunner.prepare(plan, point: point))
        } else {
            self = .walks(try PreparedPoint(plan, point: point, shardRowsOnly: true))
        }
    }
}

/// Prepared grid points, shared by the compute threads: each is built once (building
/// generates or reads the chain, which can take a while) while threads that need the same
/// point wait; other points build in parallel. Failures are kept too, so a point that
/// cannot be prepared is not retried for every batch. The least recently used entries go
/// beyond `capacity`.
private final class PointCache: @unchecked Sendable {
    private enum State {
        case building
        case ready(Prepared)
        case failed(any Error)
    }

    private struct Entry {
        // Holding the job keeps its ObjectIdentifier from being reused by another.
        var job: WorkerJob
        var point: Int
        var state: State
        var lastUse: UInt64
    }

    private let capacity: Int
    // `condition` guards the two properties below.
    private let condition = NSCondition()
    private var entries: [Entry] = []
    private var uses: UInt64 = 0

    init(capacity: Int) {
        self.capacity = capacity
    }

    func point(_ job: WorkerJob, _ point: Int) throws(BatchFailure) -> Prepared {
        condition.lock()
        while let i = entries.firstIndex(where: { $0.job === job && $0.point == point }) {
            uses += 1
            entries[i].lastUse = uses
            switch entries[i].state {
            case .ready(let prepared):
                condition.unlock()
                return prepared
            case .failed(let error):
                condition.unlock()
                throw .preparing(error)
            case .building:
                condition.wait()
            }
        }
        uses += 1
        entries.append(Entry(job: job, point: point, state: .building, lastUse: uses))
        condition.unlock()

        let result = Result { try Prepared(job.plan, point: point) }

        condition.lock()
        defer { condition.unlock() }
        if let i = entries.firstIndex(where: { $0.job === job && $0.point == point }) {
            uses += 1
            entries[i].lastUse = uses
            switch result {
            case .success(let prepared): entries[i].state = .ready(prepared)
            case .failure(let error): entries[i].state = .failed(error)
            }
        }
        evict()
        condition.broadcast()
        switch result {
        case .success(let prepared): return prepared
        case .failure(let error): throw .preparing(error)
        }
    }

    /// Drops the least recently used finished entries beyond `capacity` (a point being
    /// built has threads waiting for it).
    private func evict() {
        while entries.count > capacity {
            let done = entries.indices.filter {
                if case .building = entries[$0].state { return false }
                return true
            }
            guard let oldest = done.min(by: { entries[$0].lastUse < entries[$1].lastUse }) else { return }
            entries.remove(at: oldest)
        }
    }
}
