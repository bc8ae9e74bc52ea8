import MetastableCluster
import Testing

@Suite("ClusterSimulation")
struct ClusterSimulationTests {
    static func config(workers: Int, batches: Int, seed: UInt64) -> ClusterSimulation.Config {
        var config = ClusterSimulation.Config()
        config.workers = workers
        config.batches = batches
        config.seed = seed
        return config
    }

    @Test("50 workers, 20 % killed, slow and flaky ones: the same statistics as an undisturbed run")
    func smallCluster() throws {
        var config = Self.config(workers: 50, batches: 300, seed: 11)
        config.killFraction = 0.2
        config.slowFraction = 0.2
        config.flakyFraction = 0.2
        let report = try ClusterSimulation.run(config)
        #expect(report.matchesUndisturbedRun, "\(report.text)")
        #expect(report.killed == 10 && report.slow == 10 && report.flaky == 10)
        #expect(report.requeued > 0 && report.duplicatesIgnored > 0 && report.resultsDelivered > report.batches)
        // Dropped at most 3.1 s after its death (3 s of silence, a tick), then leased at once:
        // requeued batches come first.
        #expect(report.deathToRelease.map { $0.min > 0 && $0.max < 3.5 } ?? false, "\(report.text)")
    }

    @Test("the same seed gives the same run")
    func reproducible() throws {
        let config = Self.config(workers: 40, batches: 100, seed: 5)
        var first = try ClusterSimulation.run(config), second = try ClusterSimulation.run(config)
        first.coreCPUSeconds = 0
        first.clockReadNanoseconds = 0
        first.messagesPerCPUSecond = 0
        first.coreCPUMicrosecondsPerResult = 0
        first.wallSeconds = 0
        second.coreCPUSeconds = 0
        second.clockReadNanoseconds = 0
        second.messagesPerCPUSecond = 0
        second.coreCPUMicrosecondsPerResult = 0
        second.wallSeconds = 0
        #expect(first == second)
    }

    @Test("a coordinator restarted from its checkpoint gets its workers back and finishes with the same statistics")
    func coordinatorRestart() throws {
        var config = Self.config(workers: 60, batches: 400, seed: 3)
        config.coordinatorRestarts = 2
        config.rounds = 3
        let report = try ClusterSimulation.run(config)
        #expect(report.matchesUndisturbedRun, "\(report.text)")
        #expect(report.coordinatorRestarts == 2)
    }

    @Test("1000 workers, 10 % killed: the same statistics as an undisturbed run")
    func thousandWorkers() throws {
        var config = Self.config(workers: 1000, batches: 2000, seed: 1)
        config.rounds = 2
        let report = try ClusterSimulation.run(config)
        #expect(report.matchesUndisturbedRun, "\(report.text)")
        #expect(report.killed == 100 && report.requeued > 0)
        #expect(report.deathToRelease != nil)
        print(report.text)
    }

    @Test("a partitioned chain: 300 workers owning 3 shards, kills, flaky links and a coordinator restart; every walk ends once, with the undisturbed statistics")
    func partitioned() throws {
        var config = Self.config(workers: 300, batches: 600, seed: 9)
        config.shards = 3
        config.killFraction = 0.2
        config.flakyFraction = 0.1
        config.coordinatorRestarts = 1
        let report = try ClusterSimulation.run(config)
        #expect(report.matchesUndisturbedRun, "\(report.text)")
        #expect(report.migrations > 1000 && report.segments > 0 && report.requeued > 0, "\(report.text)")
        print(report.text)
    }
}
