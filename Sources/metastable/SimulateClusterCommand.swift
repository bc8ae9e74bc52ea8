import ArgumentParser
import Foundation
import Metastable
import MetastableCluster

struct SimulateClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate-cluster",
        abstract: "Drive the coordinator's state machine with simulated workers and a simulated clock.",
        discussion: """
            The same CoordinatorCore that runs behind `metastable coordinator`, with thousands of \
            simulated workers in one process: random deaths, slow and flaky workers, late \
            duplicates. Workers compute real batch results, and the merged statistics are \
            compared with an undisturbed run. Reports messages per second, coordinator CPU \
            time per result, and the time from a death to its batches being leased again.
            """
    )

    @Option(name: .long, help: "Simulated workers.")
    var workers: Int = 1000

    @Option(name: .long, help: "Fraction of workers killed at random times.")
    var killFraction: Double = 0.1

    @Option(name: .long, help: "Fraction of slow workers.")
    var slowFraction: Double = 0.1

    @Option(name: .long, help: "Fraction of flaky workers (lost connections, duplicate and late results).")
    var flakyFraction: Double = 0.05

    @Option(name: .long, help: "Batches per round.")
    var batches: Int = 3000

    @Option(name: .long, help: "Rounds.")
    var rounds: Int = 2

    @Option(name: .long, help: "Partition the chain into this many shards (default: none); walks migrate between their owners.")
    var shards: Int?

    @Option(name: .long, help: "Times the coordinator is killed and restored from its checkpoint.")
    var coordinatorRestarts: Int = 0

    @Option(name: .long, help: "Seed of the simulation.")
    var seed: UInt64 = 1

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        guard workers >= 1 else { throw ValidationError("--workers must be at least 1") }
        guard batches >= 1, rounds >= 1 else { throw ValidationError("--batches and --rounds must be at least 1") }
        for (name, f) in [("--kill-fraction", killFraction), ("--slow-fraction", slowFraction), ("--flaky-fraction", flakyFraction)]
        where !(0...1).contains(f) {
            throw ValidationError("\(name) must be in [0, 1], got \(f)")
        }
        guard coordinatorRestarts >= 0 else { throw ValidationError("--coordinator-restarts must be non-negative") }
    }

    func run() throws {
        var config = ClusterSimulation.Config()
        config.workers = workers
        config.killFraction = killFraction
        config.slowFraction = slowFraction
        config.flakyFraction = flakyFraction
        config.batches = batches
        config.rounds = rounds
        config.coordinatorRestarts = coordinatorRestarts
        config.shards = shards
        config.seed = seed
        let report = try ClusterSimulation.run(config)
        emit(json ? try jsonString(report) : report.text)
        guard report.matchesUndisturbedRun else {
            throw InternalFailure("the disturbed run's statistics differ from the undisturbed run's")
        }
    }
}
