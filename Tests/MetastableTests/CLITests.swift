import Foundation
import Metastable
import Testing

/// Runs the `metastable` binary built beside the tests, as a user would.
struct CLI {
    static let binary: URL = {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("metastable")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return dir.appendingPathComponent("metastable")
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func run(_ arguments: [String], in directory: URL? = nil) throws -> Result {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read before waiting so a full pipe cannot block the child.
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("metastable-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

@Suite("CLI")
struct CLITests {
    /// A 3-state chain: 0 -> {0, 1}, 1 -> {0, 2}, 2 absorbing-ish. E[τ from 0 to 2] = 6.
    static let smallMatrixMarket = """
        %%MatrixMarket matrix coordinate real general
        %
        3 3 5
        1 1 5E-1
        1 2 5E-1
        2 1 5E-1
        2 3 5E-1
        3 3 1

        """

    @Test func exactPrintsJSON() throws {
        let dir = try CLI.temporaryDirectory()
        try Self.smallMatrixMarket.write(to: dir.appendingPathComponent("g.mtx"), atomically: true, encoding: .utf8)
        let r = try CLI.run(["exact", "--graph", "g.mtx", "--start", "0", "--target", "2", "--json"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let value = try #require(object?["expected_hitting_time"] as? Double)
        #expect(abs(value - 6) < 1e-12)
    }

    @Test func simulatePrintsJSONNearTheExactValue() throws {
        let dir = try CLI.temporaryDirectory()
        try Self.smallMatrixMarket.write(to: dir.appendingPathComponent("g.mtx"), atomically: true, encoding: .utf8)
        let r = try CLI.run(
            ["simulate", "--graph", "g.mtx", "--start", "0", "--target", "2", "--walks", "20000", "--seed", "5", "--json"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let mean = try #require(object["mean"] as? Double)
        let se = try #require(object["standard_error"] as? Double)
        #expect(object["walks"] as? Int == 20000 && object["censored"] as? Int == 0)
        #expect((object["steps"] as? Int ?? 0) > 0)
        #expect(abs(mean - 6) < 4 * se)
    }

    @Test(arguments: [
        (["exact", "--graph", "missing.mtx", "--start", "0", "--target", "1"], "missing.mtx"),
        (["exact", "--graph", "g.mtx", "--start", "7", "--target", "2"], "start state 7"),
        (["exact", "--graph", "g.mtx", "--start", "0", "--target", "2,x"], "--target"),
        (["exact", "--graph", "g.mtx", "--start", "2", "--target", "0"], "not reachable"),
        (["simulate", "--graph", "g.mtx", "--start", "0", "--target", "2", "--walks", "0", "--seed", "1"], "--walks"),
        (["run", "nonexistent.yaml"], "nonexistent.yaml"),
        (["run", "bad.yaml"], "bad.yaml:2: walks: must be at least 1"),
        (["frobnicate"], "frobnicate"),
    ])
    func badInputExitsWithTwoAndSaysWhat(arguments: [String], message: String) throws {
        let dir = try CLI.temporaryDirectory()
        try Self.smallMatrixMarket.write(to: dir.appendingPathComponent("g.mtx"), atomically: true, encoding: .utf8)
        try "chain: {clusters: 2, cluster_size: 4}\nwalks: 0\n".write(to: dir.appendingPathComponent("bad.yaml"), atomically: true, encoding: .utf8)
        let r = try CLI.run(arguments, in: dir)
        #expect(r.status == 2)
        #expect(r.stderr.contains(message), "stderr was: \(r.stderr)")
    }

    @Test func generateWritesAGraphThatExactReads() throws {
        let dir = try CLI.temporaryDirectory()
        let g = try CLI.run(["generate", "quickstart", "--out", "q.mtx"], in: dir)
        #expect(g.status == 0, "\(g.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("q.labels").path))
        let e = try CLI.run(["exact", "--graph", "q.mtx", "--labels", "q.labels", "--start", "0", "--target", "159", "--json"], in: dir)
        #expect(e.status == 0, "\(e.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as? [String: Any]
        let value = try #require(object?["expected_hitting_time"] as? Double)
        // The file holds the uniform kernel as explicit entries; the closed form of the
        // generated chain still gives its exact hitting time.
        let plan = try ExperimentPlan.parse(yaml: BuiltinExperiments.quickstart)
        let chain = try ChainLoader.load(plan.points[0].spec.chain)
        let closed = try #require(ClosedForm.hittingTime(
            chain: chain, start: try StartDistribution(state: 0, stateCount: chain.stateCount),
            target: try TargetSet(states: [159], stateCount: chain.stateCount)))
        #expect(abs(value - closed) <= 1e-9 * closed)
    }

    @Test func runWritesResultsThatDoNotDependOnWorkers() throws {
        let dir = try CLI.temporaryDirectory()
        let spec = """
            name: tiny
            chain: {clusters: 3, cluster_size: 8, kernel: permutations(3), epsilon: 0.05, seed: 2}
            target: {cluster: last}
            walks: 3000
            batch_size: 100
            grid:
              epsilon: [0.05, 0.1]

            """
        try spec.write(to: dir.appendingPathComponent("tiny.yaml"), atomically: true, encoding: .utf8)
        let one = try CLI.run(["run", "tiny.yaml", "--workers", "1", "--out", "one", "--quiet"], in: dir)
        let three = try CLI.run(
            ["run", "tiny.yaml", "--workers", "3", "--walkers-per-thread", "5", "--out", "three", "--quiet"], in: dir)
        let threads = try CLI.run(
            ["run", "tiny.yaml", "--in-process", "--workers", "2", "--walkers-per-thread", "1", "--out", "threads", "--quiet"],
            in: dir)
        #expect(one.status == 0 && three.status == 0 && threads.status == 0, "\(one.stderr) \(three.stderr) \(threads.stderr)")
        #expect(one.stdout.contains("MC mean") && one.stdout.contains("exact"))
        let a = try Data(contentsOf: dir.appendingPathComponent("one/results.json"))
        let b = try Data(contentsOf: dir.appendingPathComponent("three/results.json"))
        let c = try Data(contentsOf: dir.appendingPathComponent("threads/results.json"))
        #expect(a == b && a == c)
        let refused = try CLI.run(["run", "tiny.yaml", "--walkers-per-thread", "0"], in: dir)
        #expect(refused.status != 0 && refused.stderr.contains("walkers per thread must be in 1...1024, got 0"))
        let csv = try String(contentsOf: dir.appendingPathComponent("one/results.csv"), encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 3)
    }
}
