import Foundation
import Metastable
import MetastableCluster
import Testing

/// Scaled-down specs of every algorithm experiment, small enough to run in a second or two.
enum AlgorithmSpecs {
    static let all: [(algorithm: String, yaml: String)] = [
        ("pretraining", """
            name: pretraining-small
            chain: {clusters: 3, cluster_size: 6, kernel: uniform, topology: chain, sources: 1, epsilon: 0.05, decoys: 1, seed: 2}
            start: 0
            target: {cluster: last}
            walks: 500
            batch_size: 100
            seed: 3
            algorithm: {name: pretraining, stage1_steps: 300, stage2_steps: 200, checkpoint_interval: 100, steps_per_batch: 7}

            """),
        ("search", """
            name: search-small
            chain: {clusters: 4, cluster_size: 8, kernel: uniform, topology: chain, sources: 1, epsilon: 0.05, decoys: 2, seed: 3}
            start: 0
            target: {cluster: last}
            seed: 11
            algorithm: {name: search, repetitions: 12, rollouts_per_batch: 5}

            """),
        ("prm", """
            name: prm-small
            chain: {clusters: 4, cluster_size: 10, kernel: uniform, topology: chain, sources: 1, epsilon: 0.001, decoys: 2, seed: 5}
            start: 0
            target: {cluster: last}
            walks: 300
            batch_size: 50
            seed: 7
            algorithm: {name: prm, epsilon_max: 0.05}

            """),
        ("ppo", rl("name: ppo, epsilon_max: 0.3, rollouts: 128, rollouts_per_batch: 16, horizon: 256, iterations: 40")),
        ("reinforce", rl("name: reinforce, rollouts: 48, rollouts_per_batch: 8, horizon: 256, iterations: 6, evaluate_every: 3, learning_rate: 4")),
        ("distill", """
            name: distill-small
            chain: {clusters: 3, cluster_size: 8, kernel: permutations(3), topology: chain, sources: 1, epsilon: 0.01, seed: 5}
            start: 0
            target: {cluster: last}
            seed: 9
            algorithm:
              name: distill
              data_walks: [8, 24]
              walks_per_batch: 3
              evaluation_walks: 2500
            grid:
              epsilon: [0.01, 0.002]

            """),
        ("local-limit", """
            name: local-limit-small
            chain: {clusters: 2, cluster_size: 64, kernel: permutations(3), topology: chain, sources: 1, decoys: 2, epsilon: 0.05}
            seed: 17
            algorithm: {name: local-limit, tasks: 30, tasks_per_batch: 4}
            grid:
              clusters: [3, 4]

            """),
        ("comparison", """
            name: comparison-small
            chain: {clusters: 3, cluster_size: 8, kernel: uniform, topology: chain, epsilon: 0.05, seed: 2}
            target: {cluster: last}
            walks: 2000
            batch_size: 100
            seed: 5
            algorithm: {name: comparison}
            grid:
              epsilon: [0.05, 0.1]

            """),
    ]

    static func rl(_ algorithm: String) -> String {
        """
        name: rl-small
        chain: {clusters: 4, cluster_size: 8, kernel: permutations(3), topology: chain, epsilon: 0.01, seed: 5}
        start: 0
        target: {cluster: last}
        walks: 4000
        batch_size: 1000
        seed: 11
        algorithm: {\(algorithm)}

        """
    }

    /// The spec with the most rounds: for the kill and resume tests.
    static var longest: String { all.first { $0.algorithm == "ppo" }!.yaml }
}

@Suite("Algorithm experiments on the cluster", .serialized)
struct AlgorithmClusterTests {
    @Test func everyRegisteredAlgorithmHasAClusterTest() {
        let tested = Set(AlgorithmSpecs.all.map(\.algorithm))
        for type in AlgorithmRegistry.all {
            #expect(tested.contains(type.name), "no scaled-down spec of '\(type.name)' in AlgorithmSpecs.all")
        }
    }

    /// The same results.json, byte for byte, from threads of one process and from 1 and 3
    /// worker processes.
    @Test(arguments: AlgorithmSpecs.all.map(\.algorithm))
    func oneAndThreeWorkersGiveTheInProcessResults(algorithm: String) throws {
        let yaml = try #require(AlgorithmSpecs.all.first { $0.algorithm == algorithm }?.yaml)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try yaml.write(to: directory.appendingPathComponent("spec.yaml"), atomically: true, encoding: .utf8)
        var outputs = [Data]()
        for (name, arguments) in [("threads", ["--in-process", "--workers", "2"]), ("w1", ["--workers", "1"]), ("w3", ["--workers", "3"])] {
            let run = try ChildProcess(["run", "spec.yaml", "--out", name, "--quiet"] + arguments, in: directory, name: name)
            #expect(run.wait() == 0, "\(name): \(run.stderr.suffix(2000))")
            outputs.append(try Data(contentsOf: directory.appendingPathComponent("\(name)/results.json")))
        }
        #expect(outputs[1] == outputs[0], "1 worker differs from the in-process run")
        #expect(outputs[2] == outputs[0], "3 workers differ from the in-process run")
    }

    @Test func aWorkerKilledMidRunAndACoordinatorRestartedChangeNothing() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try AlgorithmSpecs.longest.write(to: directory.appendingPathComponent("spec.yaml"), atomically: true, encoding: .utf8)
        let reference = try ChildProcess(["run", "spec.yaml", "--in-process", "--out", "reference", "--quiet"], in: directory, name: "reference")
        #expect(reference.wait() == 0, "\(reference.stderr)")
        let expected = try Data(contentsOf: directory.appendingPathComponent("reference/results.json"))

        let endpoint = "ipc://\(directory.path)/algorithm.sock"
        let arguments = [
            "coordinator", "spec.yaml", "--bind", endpoint, "--out", "cluster", "--heartbeat-ms", "100", "--checkpoint-ms", "50",
            "--min-workers", "3",
        ]
        let first = try ChildProcess(arguments, in: directory, name: "coordinator1")
        let workers = try (0..<3).map {
            try ChildProcess(["worker", "--connect", endpoint, "--threads", "1", "--heartbeat-ms", "100"], in: directory, name: "worker\($0)")
        }
        let checkpoint = directory.appendingPathComponent("cluster/checkpoint.json")
        // A worker dies once results flow; the coordinator dies once a round has finished.
        #expect(first.waitForLog { _ in FileManager.default.fileExists(atPath: checkpoint.path) })
        workers[0].killHard()
        #expect(first.waitForLog { _ in
            ((try? String(contentsOf: checkpoint, encoding: .utf8)) ?? "").contains("\"finishedRounds\":[[")
        })
        first.killHard()
        let second = try ChildProcess(
            arguments.filter { $0 != "--min-workers" && $0 != "3" } + ["--resume"], in: directory, name: "coordinator2")
        #expect(second.wait() == 0, "\(second.stderr.suffix(2000))")
        for w in workers.dropFirst() { #expect(w.wait(timeout: .seconds(10)) == 0, "\(w.stderr.suffix(2000))") }
        #expect(try Data(contentsOf: directory.appendingPathComponent("cluster/results.json")) == expected)
    }
}
