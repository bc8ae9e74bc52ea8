import Foundation
import Metastable
import MetastableCluster

/// The cluster path's costs, measured end to end with real worker processes on this
/// machine: the coordinator's throughput in batch results per second, the speed-up of two
/// workers over one, and the cluster path's overhead against the in-process path.
enum ClusterBenchmark {
    struct Measurement: Codable {
        var name: String
        var value: Double
        var unit: String
        var detail: String
    }

    /// Walks that start in their target: every batch is trivial, so the coordinator's
    /// message handling is all that is measured.
    static let trivialSpec = """
        name: bench-trivial
        chain: {clusters: 2, cluster_size: 4, epsilon: 0.1}
        start: 7
        target: {cluster: last}
        walks: 100000
        batch_size: 2
        exact: false

        """

    /// A long job: 2.6 G steps of the quickstart's largest point.
    static let longSpec = """
        name: bench-long
        chain: {clusters: 5, cluster_size: 32, kernel: permutations(4), epsilon: 0.001, seed: 1}
        target: {cluster: last}
        walks: 20000
        batch_size: 500
        exact: false

        """

    static func run(log: (String) -> Void) throws -> [Measurement] {
        var out = [Measurement]()
        let (trivialSeconds, trivialBatches) = try timeCluster(trivialSpec, workers: 2, credits: 256)
        let throughput = Double(trivialBatches) / trivialSeconds
        out.append(Measurement(
            name: "coordinator throughput", value: throughput, unit: "results/s",
            detail: "\(trivialBatches) trivial batches, 2 workers, 256 credits each, \(String(format: "%.2f", trivialSeconds)) s"))
        log("coordinator throughput: \(Int(throughput)) results/s")

        let (one, _) = try timeCluster(longSpec, workers: 1, credits: nil)
        let (two, _) = try timeCluster(longSpec, workers: 2, credits: nil)
        out.append(Measurement(
            name: "speed-up of 2 workers over 1", value: one / two, unit: "x",
            detail: "long job: \(String(format: "%.2f", one)) s with 1 worker, \(String(format: "%.2f", two)) s with 2"))
        log("speed-up 2 over 1 workers: \(String(format: "%.2f", one / two))x")

        let plan = try ExperimentPlan.parse(yaml: longSpec)
        let clock = ContinuousClock()
        let start = clock.now
        _ = try ExperimentRunner(threads: 2).run(plan)
        let inProcess = (clock.now - start).seconds
        out.append(Measurement(
            name: "cluster overhead vs in-process", value: (two / inProcess - 1) * 100, unit: "%",
            detail: "long job: \(String(format: "%.2f", two)) s with 2 worker processes, \(String(format: "%.2f", inProcess)) s with 2 threads"))
        log("cluster overhead: \(String(format: "%+.1f", (two / inProcess - 1) * 100))%")
        return out
    }

    /// Seconds to run `spec` on `workers` local worker processes (after they joined), and the batch count.
    private static func timeCluster(_ spec: String, workers: Int, credits: Int?) throws -> (Double, Int) {
        let plan = try ExperimentPlan.parse(yaml: spec)
        let socket = "/tmp/metastable-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        defer { try? FileManager.default.removeItem(atPath: socket) }
        var options = CoordinatorOptions(bind: "ipc://\(socket)", progressInterval: .seconds(3600))
        options.config.minWorkers = workers
        let executor = try ClusterExecutor(specYAML: spec, seed: plan.runSeed, options: options, checkpointPath: nil)
        let local = LocalWorkers(
            executable: LocalWorkers.currentExecutable, endpoint: executor.coordinator.endpoint, count: workers, threads: 1,
            logLevel: "error", credits: credits)
        try local.start()
        defer { local.wait(timeout: .seconds(5)) }
        executor.abort = { local.allExited ? "every local worker process has exited" : nil }
        let clock = ContinuousClock()
        let start = clock.now
        _ = try ExperimentRunner(executor: executor).run(plan)
        let seconds = (clock.now - start).seconds
        try executor.coordinator.finish(reason: "benchmark done")
        return (seconds, plan.points.reduce(0) { $0 + ($1.spec.walks + $1.spec.batchSize - 1) / $1.spec.batchSize })
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
