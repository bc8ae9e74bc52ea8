import Foundation
import Testing

/// A chain of six clusters with sparse edges between every pair, so that walks cross shards
/// often: tens of thousands of migrations in a run of a few seconds.
let partitionedSpec = """
    name: partitioned-test
    chain: {clusters: 6, cluster_size: 16, kernel: permutations(3), topology: complete, epsilon: 0.001, seed: 3}
    target: {cluster: last}
    walks: 40000
    batch_size: 400
    seed: 77
    shards: 3

    """

/// Partitioned graphs across worker processes: the statistics of the replicated run, byte
/// for byte, with three workers each holding one shard, and with one of them killed while
/// walks are migrating (its shard moves to another worker and its segments run again).
@Suite("Partitioned cluster processes", .serialized)
struct PartitionedClusterTests {
    let directory: URL
    let reference: Data

    init() throws {
        directory = try temporaryDirectory()
        try partitionedSpec.write(to: directory.appendingPathComponent("sharded.yaml"), atomically: true, encoding: .utf8)
        let replicated = partitionedSpec.replacingOccurrences(of: "shards: 3\n", with: "")
        try replicated.write(to: directory.appendingPathComponent("replicated.yaml"), atomically: true, encoding: .utf8)
        let run = try ChildProcess(
            ["run", "replicated.yaml", "--in-process", "--workers", "2", "--out", "reference", "--quiet"], in: directory, name: "reference")
        #expect(run.wait() == 0, "\(run.stderr)")
        reference = try Data(contentsOf: directory.appendingPathComponent("reference/results.json"))
    }

    func results(_ name: String) throws -> Data {
        try Data(contentsOf: directory.appendingPathComponent("\(name)/results.json"))
    }

    /// The migrations record the coordinator logs at the end of the round.
    func migrations(_ process: ChildProcess) -> Int {
        process.logRecords.last { ($0["event"] as? String) == "migrations" }?["migrations"].flatMap { Int("\($0)") } ?? 0
    }

    @Test func threeWorkersHoldingAShardEachGiveTheReplicatedStatistics() throws {
        let run = try ChildProcess(["run", "sharded.yaml", "--workers", "3", "--out", "three"], in: directory, name: "three")
        #expect(run.wait() == 0, "\(run.stderr)")
        #expect(try results("three") == reference)
        #expect(migrations(run) > 10_000, "\(run.stderr.suffix(2000))")
        // timing.json reports them too.
        let timing = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("three/timing.json")))
        #expect(((timing as? [[String: Any]])?.first?["migrations"] as? Int) == migrations(run))
        #expect(run.stdout.contains("\(migrations(run)) migrations between shards"), "\(run.stdout)")
        let owners = Set(run.logRecords.filter { ($0["message"] as? String) == "shard assigned" }.compactMap { $0["peer"] as? String })
        #expect(owners.count == 3)
    }

    @Test func theInProcessPartitionedRunIsTheReplicatedOne() throws {
        let run = try ChildProcess(
            ["run", "sharded.yaml", "--in-process", "--workers", "2", "--out", "in-process", "--quiet"], in: directory, name: "in-process")
        #expect(run.wait() == 0, "\(run.stderr)")
        #expect(try results("in-process") == reference)
    }

    @Test func aWorkerKilledWhileWalksMigrateChangesNothing() throws {
        let endpoint = "ipc://\(directory.path)/partitioned.sock"
        let coordinator = try ChildProcess(
            ["coordinator", "sharded.yaml", "--bind", endpoint, "--out", "killed", "--heartbeat-ms", "250", "--min-workers", "3",
             "--checkpoint-ms", "500"],
            in: directory, name: "k-coordinator")
        let workers = try (0..<3).map {
            try ChildProcess(["worker", "--connect", endpoint, "--threads", "1", "--heartbeat-ms", "250"], in: directory, name: "k-worker\($0)")
        }
        // Kill one once segments of migrated walks are under way (a checkpoint lists them).
        #expect(workers[0].waitForLog { _ in
            ((try? String(contentsOf: directory.appendingPathComponent("killed/checkpoint.json"), encoding: .utf8)) ?? "")
                .contains("\"arrivals\"")
        })
        workers[0].killHard()
        #expect(coordinator.wait() == 0, "\(coordinator.stderr)")
        for w in workers.dropFirst() { #expect(w.wait(timeout: .seconds(10)) == 0, "\(w.stderr)") }
        #expect(try results("killed") == reference)
        #expect(coordinator.logRecords.contains { ($0["message"] as? String) == "worker dropped" })
    }

    @Test func aCoordinatorKilledWhileWalksMigrateResumesFromItsCheckpoint() throws {
        let endpoint = "ipc://\(directory.path)/partitioned-resume.sock"
        let arguments = [
            "coordinator", "sharded.yaml", "--bind", endpoint, "--out", "resumed", "--heartbeat-ms", "250", "--checkpoint-ms", "300",
        ]
        let first = try ChildProcess(arguments, in: directory, name: "r-coordinator1")
        let workers = try (0..<3).map {
            try ChildProcess(["worker", "--connect", endpoint, "--threads", "1", "--heartbeat-ms", "250"], in: directory, name: "r-worker\($0)")
        }
        // Killed once a checkpoint holds segments: the resumed coordinator must restore them as they were.
        #expect(first.waitForLog { _ in
            ((try? String(contentsOf: directory.appendingPathComponent("resumed/checkpoint.json"), encoding: .utf8)) ?? "")
                .contains("\"arrivals\"")
        })
        first.killHard()
        let second = try ChildProcess(arguments + ["--resume"], in: directory, name: "r-coordinator2")
        #expect(second.wait() == 0, "\(second.stderr)")
        // A worker backing off between reconnections when the run ends misses its SHUTDOWN
        // and waits for the next coordinator, as a remote worker should: not asserted here.
        for w in workers { w.wait(timeout: .seconds(5)) }
        #expect(try results("resumed") == reference)
        #expect(second.logRecords.contains { ($0["message"] as? String) == "resuming round" })
    }

    @Test func workersReadingOnlyTheirShardsOfABinaryGraphGiveTheSameStatistics() throws {
        let generate = try ChildProcess(["generate", "replicated.yaml", "--out", "graph.msgraph"], in: directory, name: "generate")
        #expect(generate.wait() == 0, "\(generate.stderr)")
        // Without the exact value the coordinator holds no rows either.
        let fromFile = partitionedSpec
            .replacingOccurrences(of: #"chain: {clusters: 6, cluster_size: 16, kernel: permutations(3), topology: complete, epsilon: 0.001, seed: 3}"#,
                with: "chain: {graph: graph.msgraph}\nexact: false")
        #expect(fromFile.contains("graph.msgraph"))
        try fromFile.write(to: directory.appendingPathComponent("file-sharded.yaml"), atomically: true, encoding: .utf8)
        try fromFile.replacingOccurrences(of: "shards: 3\n", with: "")
            .write(to: directory.appendingPathComponent("file-replicated.yaml"), atomically: true, encoding: .utf8)
        let replicated = try ChildProcess(
            ["run", "file-replicated.yaml", "--in-process", "--workers", "2", "--out", "file-reference", "--quiet"], in: directory,
            name: "file-reference")
        #expect(replicated.wait() == 0, "\(replicated.stderr)")
        // Workers hold only the rows of the shards they run, the coordinator none.
        let run = try ChildProcess(["run", "file-sharded.yaml", "--workers", "3", "--out", "file-three"], in: directory, name: "file-three")
        #expect(run.wait() == 0, "\(run.stderr)")
        #expect(try results("file-three") == results("file-reference"))
        #expect(migrations(run) > 10_000)
    }
}
