import Foundation
import Metastable

/// Drives the real `CoordinatorCore` with many simulated workers on a simulated clock, to
/// show how the design behaves far beyond the machines at hand: message rates, coordinator
/// CPU per worker, requeue storms after deaths, and whether the statistics survive them.
///
/// Workers compute real batches (`PreparedPoint.runBatch` of a small experiment), so the
/// run's merged outcome is compared, bit for bit, with the same experiment run undisturbed
/// on one thread. Every random choice comes from one `WalkRandom` stream seeded by
/// `Config.seed`, and the core's directives depend on the events alone, so a run is
/// reproducible: only the CPU and wall-clock times change.
///
/// What can go wrong, and how it is modelled:
/// - killed workers stop at a random time and send nothing more; some come back later as
///   new processes (a new routing id) and HELLO;
/// - slow workers take `slowFactor` times as long per batch;
/// - flaky workers lose some heartbeats, send some results twice (the copy late), and lose
///   their connection for a while: every message either way is lost until the link is back.
///   They notice the silence, reconnect and HELLO again (half of them with a new routing
///   id), and deliver the results of batches they kept computing meanwhile: late results,
///   for batches the coordinator has requeued. (ZeroMQ over TCP loses messages only with a
///   connection, so losses always come with a reconnect; a live link loses no result.)
/// - the network delays each message by a random latency, in order on each link;
/// - optionally the coordinator crashes and restarts from its last checkpoint (`--resume`).
public enum ClusterSimulation {
    public struct Config: Sendable {
        public var workers = 1000
        /// Of the workers, killed at random times.
        public var killFraction = 0.1
        /// Of the killed workers, restarted later as new processes.
        public var rejoinFraction = 0.5
        public var slowFraction = 0.1
        public var flakyFraction = 0.05
        /// Batches per round.
        public var batches = 3000
        public var walksPerBatch = 4
        public var rounds = 2
        public var seed: UInt64 = 1
        /// Each worker offers a random number of credits in this range.
        public var credits: ClosedRange<UInt32> = 1...2
        /// Simulated seconds a normal worker takes per batch (±20 %).
        public var batchSeconds = 0.5
        public var slowFactor = 8.0
        /// One-way network latency: `latency` plus up to `latencyJitter`, in seconds.
        public var latency = 0.000_2
        public var latencyJitter = 0.002
        /// Workers start over this many seconds; deaths and lost connections happen in the
        /// `troubleWindow` seconds after that.
        public var joinWindow = 1.0
        public var troubleWindow = 4.0
        /// Coordinator crashes, each followed by a restart from the last checkpoint.
        public var coordinatorRestarts = 0
        public var coordinatorDowntime = 1.0
        /// `coordinator.minWorkers` is set to this fraction of `workers`.
        public var minWorkersFraction = 0.5
        /// Partition the experiment's chain into this many shards (nil: every worker holds
        /// it whole): segments go to their shards' owners, and walks migrate in results.
        public var shards: Int?
        public var coordinator = CoordinatorConfig()
        /// The experiment; `walks` and `batch_size` are set from `batches`, `walksPerBatch`
        /// and `rounds` (round r runs the r-th block of walks).
        public var experimentYAML = """
            name: cluster-simulation
            chain:
              clusters: 3
              cluster_size: 8
              kernel: uniform
              topology: chain
              epsilon: 0.05
            start: 0
            target: {cluster: last}
            seed: 7
            exact: false
            """
        /// A run still going after this many simulated seconds is stopped and reported as not
        /// matching.
        public var maxSimulatedSeconds = 600.0

        public init() {}
    }

    public struct Report: Sendable, Codable, Equatable {
        public struct Seconds: Sendable, Codable, Equatable {
            public var count: Int
            public var min: Double
            public var mean: Double
            public var max: Double
        }

        public var workers: Int
        public var killed: Int
        public var rejoined: Int
        public var slow: Int
        public var flaky: Int
        public var coordinatorRestarts: Int
        public var rounds: Int
        /// Over all rounds.
        public var batches: Int
        /// RESULT messages that reached the coordinator, duplicates and late ones included.
        public var resultsDelivered: Int
        public var duplicatesIgnored: Int
        public var requeued: Int
        public var workersDropped: Int
        /// Messages (and undecodable frames) the core handled; ticks are not counted.
        public var messagesHandled: Int
        public var ticks: Int
        public var checkpoints: Int
        /// Thread CPU time inside `CoordinatorCore.handle`, `startRound` and `finish`
        /// (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)` around each call), less the cost of the
        /// clock reads themselves.
        public var coreCPUSeconds: Double
        /// What one pair of clock reads costs, subtracted from each measurement.
        public var clockReadNanoseconds: Double
        public var messagesPerCPUSecond: Double
        public var coreCPUMicrosecondsPerResult: Double
        /// Walks that moved between shards (a partitioned chain), and the segments that ran.
        public var migrations: Int
        public var segments: Int
        /// From a worker's death to each of its batches being leased again.
        public var deathToRelease: Seconds?
        public var simulatedSeconds: Double
        public var wallSeconds: Double
        public var matchesUndisturbedRun: Bool

        /// A readable summary.
        public var text: String {
            func f(_ x: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", x) }
            var lines = [
                "cluster simulation: \(workers) workers (\(killed) killed, \(rejoined) rejoined, \(slow) slow, \(flaky) flaky), "
                    + "\(rounds) rounds, \(batches) batches"
                    + (coordinatorRestarts > 0 ? ", \(coordinatorRestarts) coordinator restarts" : ""),
                "  simulated time     \(f(simulatedSeconds)) s (\(f(wallSeconds)) s of wall-clock time)",
                "  results            \(resultsDelivered) delivered, \(duplicatesIgnored) duplicates ignored; "
                    + "\(workersDropped) workers dropped, \(requeued) batches requeued; \(checkpoints) checkpoints",
                "  coordinator core   \(messagesHandled) messages and \(ticks) ticks in \(f(coreCPUSeconds, 3)) s of CPU: "
                    + "\(Int(messagesPerCPUSecond.rounded())) messages per CPU second, \(f(coreCPUMicrosecondsPerResult, 1)) µs per result "
                    + "(less \(Int(clockReadNanoseconds)) ns per clock read pair)",
            ]
            if migrations > 0 {
                lines.append("  partitioned        \(migrations) migrations between shards in \(segments) segments beyond the start batches")
            }
            if let d = deathToRelease {
                lines.append("  death to re-lease  min \(f(d.min)) s, mean \(f(d.mean)) s, max \(f(d.max)) s over \(d.count) batches")
            } else {
                lines.append("  death to re-lease  no killed worker held a lease")
            }
            lines.append("  statistics         " + (matchesUndisturbedRun ? "identical to the undisturbed run" : "DIFFER from the undisturbed run"))
            return lines.joined(separator: "\n")
        }
    }

    /// Runs the simulation to the end of the last round (or `maxSimulatedSeconds`).
    ///
    /// - Throws: when the experiment does not parse or build, or a batch fails to run.
    public static func run(_ config: Config) throws -> Report {
        let started = ContinuousClock.now
        var plan = try ExperimentPlan.parse(yaml: config.experimentYAML)
        let perRound = max(0, config.batches), walksPerBatch = max(1, config.walksPerBatch), rounds = max(1, config.rounds)
        plan.points[0].spec.walks = rounds * perRound * walksPerBatch
        plan.points[0].spec.batchSize = walksPerBatch
        plan.points[0].spec.shards = config.shards
        let point = try PreparedPoint(plan, point: 0)

        var engine = try SimulationEngine(config: config, point: point, rounds: rounds, batchesPerRound: perRound, walksPerBatch: walksPerBatch)
        try engine.run()

        // The reference: the same walks on one thread, batched as `metastable run` does.
        let undisturbed = try LocalExecutor(threads: 1).run(point) { _ in }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var report = engine.report()
        if let merged = engine.mergedOutcome {
            report.matchesUndisturbedRun = try merged == undisturbed && encoder.encode(merged) == encoder.encode(undisturbed)
        }
        let elapsed = ContinuousClock.now - started
        report.wallSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return report
    }
}
