import Foundation
import MetastableCluster
import Testing

/// A `metastable` process started by a test, with its output collected in files (pipes
/// could fill up and block a long-running child).
final class ChildProcess: @unchecked Sendable {
    static let binary: URL = {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("metastable")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return dir.appendingPathComponent("metastable")
    }()

    let process = Process()
    let stdoutURL: URL
    let stderrURL: URL

    init(_ arguments: [String], in directory: URL, name: String) throws {
        stdoutURL = directory.appendingPathComponent("\(name).out")
        stderrURL = directory.appendingPathComponent("\(name).err")
        FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        process.executableURL = Self.binary
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        try process.run()
    }

    var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }
    var stdout: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }

    /// Waits up to `timeout`; kills the process if it is still running then. Returns the exit status.
    @discardableResult
    func wait(timeout: Duration = .seconds(120)) -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    func killHard() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// Waits until `predicate` holds for this process's stderr, up to `timeout`.
    func waitForLog(timeout: Duration = .seconds(60), _ predicate: (String) -> Bool) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if predicate(stderr) { return true }
            usleep(20_000)
        }
        return false
    }

    /// The JSON log records this process wrote to stderr.
    var logRecords: [[String: Any]] {
        stderr.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }
}

func temporaryDirectory() throws -> URL {
    // Short: ipc:// paths must fit in a sockaddr_un.
    let url = URL(fileURLWithPath: "/tmp/mc-\(UInt32.random(in: 0...UInt32.max))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Enough walks that a run lasts a second or two on two cores, in small batches, so that
/// processes can be killed while it runs.
let processTestSpec = """
    name: process-test
    chain: {clusters: 4, cluster_size: 16, kernel: permutations(3), epsilon: 0.002, seed: 3}
    target: {cluster: last}
    walks: 40000
    batch_size: 400
    seed: 77
    grid:
      epsilon: [0.002, 0.004]

    """

@Suite("Cluster processes", .serialized)
struct ClusterProcessTests {
    let directory: URL
    let reference: Data

    init() throws {
        directory = try temporaryDirectory()
        try processTestSpec.write(to: directory.appendingPathComponent("spec.yaml"), atomically: true, encoding: .utf8)
        let run = try ChildProcess(["run", "spec.yaml", "--in-process", "--workers", "2", "--out", "reference", "--quiet"], in: directory, name: "reference")
        #expect(run.wait() == 0, "\(run.stderr)")
        reference = try Data(contentsOf: directory.appendingPathComponent("reference/results.json"))
    }

    func results(_ name: String) throws -> Data {
        try Data(contentsOf: directory.appendingPathComponent("\(name)/results.json"))
    }

    @Test(arguments: [1, 3])
    func embeddedRunMatchesTheInProcessRun(workers: Int) throws {
        let run = try ChildProcess(["run", "spec.yaml", "--workers", "\(workers)", "--out", "w\(workers)", "--quiet"], in: directory, name: "w\(workers)")
        #expect(run.wait() == 0, "\(run.stderr)")
        #expect(try results("w\(workers)") == reference)
    }

    @Test func aWorkerKilledMidRunChangesNothing() throws {
        let endpoint = "ipc://\(directory.path)/kill-worker.sock"
        let coordinator = try ChildProcess(
            ["coordinator", "spec.yaml", "--bind", endpoint, "--out", "killed-worker", "--heartbeat-ms", "100", "--min-workers", "3"],
            in: directory, name: "kw-coordinator")
        let workers = try (0..<3).map {
            try ChildProcess(["worker", "--connect", endpoint, "--threads", "1", "--heartbeat-ms", "100"], in: directory, name: "kw-worker\($0)")
        }
        // Kill one once results are flowing.
        #expect(workers[0].waitForLog { _ in
            (try? String(contentsOf: directory.appendingPathComponent("killed-worker/checkpoint.json"), encoding: .utf8)) != nil
        })
        workers[0].killHard()
        #expect(coordinator.wait() == 0, "\(coordinator.stderr)")
        for w in workers.dropFirst() { #expect(w.wait(timeout: .seconds(10)) == 0, "\(w.stderr)") }
        #expect(try results("killed-worker") == reference)
        let summary = coordinator.logRecords.last { ($0["event"] as? String) == "summary" }
        #expect(summary != nil, "no summary record in \(coordinator.stderr.suffix(2000))")
    }

    @Test func aCoordinatorKilledMidRunResumesFromItsCheckpoint() throws {
        let endpoint = "ipc://\(directory.path)/resume.sock"
        let arguments = ["coordinator", "spec.yaml", "--bind", endpoint, "--out", "resumed", "--heartbeat-ms", "100", "--checkpoint-ms", "100"]
        let first = try ChildProcess(arguments, in: directory, name: "r-coordinator1")
        let workers = try (0..<2).map {
            try ChildProcess(["worker", "--connect", endpoint, "--threads", "1", "--heartbeat-ms", "100"], in: directory, name: "r-worker\($0)")
        }
        let checkpoint = directory.appendingPathComponent("resumed/checkpoint.json")
        #expect(first.waitForLog { _ in
            // Past the first grid point, so the resumed run must reuse a finished point and a partial one.
            ((try? String(contentsOf: checkpoint, encoding: .utf8)) ?? "").contains("\"round\":1")
        })
        first.killHard()
        let second = try ChildProcess(arguments + ["--resume"], in: directory, name: "r-coordinator2")
        #expect(second.wait() == 0, "\(second.stderr)")
        for w in workers { #expect(w.wait(timeout: .seconds(10)) == 0, "\(w.stderr)") }
        #expect(try results("resumed") == reference)
    }

    @Test func aNonLoopbackBindWithoutCurveIsRefused() throws {
        let run = try ChildProcess(["coordinator", "spec.yaml", "--bind", "tcp://0.0.0.0:0"], in: directory, name: "insecure")
        #expect(run.wait() == 2)
        #expect(run.stderr.contains("without CURVE"), "\(run.stderr)")
    }

    @Test func onlyWorkersWithAuthorizedKeysAreAdmitted() throws {
        for (dir, name) in [("coordinator-keys", "coordinator"), ("authorized", "good"), ("other", "bad")] {
            let keygen = try ChildProcess(["keygen", "--out", dir, "--name", name], in: directory, name: "keygen-\(name)")
            #expect(keygen.wait() == 0, "\(keygen.stderr)")
        }
        let endpoint = "tcp://127.0.0.1:\(Int.random(in: 30000...60000))"
        let coordinator = try ChildProcess(
            ["coordinator", "spec.yaml", "--bind", endpoint, "--out", "curve", "--heartbeat-ms", "100",
             "--curve-secret-key", "coordinator-keys/coordinator.key", "--authorized-keys", "authorized"],
            in: directory, name: "curve-coordinator")
        let bad = try ChildProcess(
            ["worker", "--connect", endpoint, "--threads", "1", "--heartbeat-ms", "100",
             "--curve-secret-key", "other/bad.key", "--coordinator-key", "coordinator-keys/coordinator.pub"],
            in: directory, name: "curve-bad")
        #expect(coordinator.waitForLog { $0.contains("refused a worker") }, "\(coordinator.stderr)")
        #expect(bad.waitForLog { $0.contains("CURVE") }, "the refused worker says why: \(bad.stderr)")
        let good = try ChildProcess(
            ["worker", "--connect", endpoint, "--threads", "2", "--heartbeat-ms", "100",
             "--curve-secret-key", "authorized/good.key", "--coordinator-key", "coordinator-keys/coordinator.pub"],
            in: directory, name: "curve-good")
        #expect(coordinator.wait() == 0, "\(coordinator.stderr)")
        #expect(good.wait(timeout: .seconds(10)) == 0, "\(good.stderr)")
        bad.killHard()
        #expect(try results("curve") == reference)
    }
}
