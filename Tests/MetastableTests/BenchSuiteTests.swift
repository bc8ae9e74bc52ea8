import Foundation
import Testing
@testable import Metastable

/// The suite's references must walk the chain the Swift kernel walks: the export format
/// round-trips, and walk.c and walk_numpy.py find the same mean hitting time as the kernel
/// and the exact solver on a small chain. Speed is not asserted here.
@Suite("Bench suite")
struct BenchSuiteTests {
    static let scripts = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/bench")

    /// Two clusters of 8 states, unequal row probabilities (the ε edges) so the alias
    /// thresholds matter; E[τ] from state 0 to the second cluster is about 100.
    static func smallWalk() throws -> (chain: Chain, graph: WalkGraph, target: TargetSet) {
        let chain = try GeneratorSpec(
            clusters: 2, clusterSize: 8, kernel: .permutations(3), topology: .chain, sources: 1,
            epsilon: .fixed(0.05), seed: 3
        ).generate()
        return (chain, try WalkGraph(chain), try TargetSet(cluster: 1, of: chain))
    }

    @Test func exportRoundTrips() throws {
        let (_, graph, target) = try Self.smallWalk()
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString).walk")
        defer { try? FileManager.default.removeItem(at: url) }
        try WalkGraphExport.write(graph, start: 2, targets: target.states, to: url)
        #expect(try WalkGraphExport(contentsOf: url) == WalkGraphExport(graph, start: 2, targets: target.states))
        try Data("MSWALK01 but short".utf8).write(to: url)
        #expect(throws: WalkError.self) { try WalkGraphExport(contentsOf: url) }
    }

    @Test func uniformGraphsAreRefused() throws {
        let chain = try GeneratorSpec(clusters: 2, clusterSize: 4, kernel: .uniform, epsilon: .fixed(0.1), seed: 1).generate()
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString).walk")
        #expect(throws: WalkError.self) { try WalkGraphExport.write(WalkGraph(chain), start: 0, targets: [7], to: url) }
    }

    /// Needs cc and python3 with numpy (scripts/setup.sh installs them): fails, never skips, without.
    @Test func referencesAgreeWithTheKernel() throws {
        let (chain, graph, target) = try Self.smallWalk()
        let exact = try ExactSolver.hittingTimes(chain, target: target).hittingTimes[0]
        let walks = 20_000
        let swift = try runWalks(
            graph, from: StartDistribution(state: 0, stateCount: chain.stateCount), to: target, walks: walks,
            maxSteps: 1 << 30, seed: 5, threads: 1).hittingTimes.summary
        let swiftMean = try #require(swift.mean), swiftError = try #require(swift.standardError)
        #expect(abs(swiftMean - exact) < 5 * swiftError, "Swift \(swiftMean) ± \(swiftError), exact \(exact)")

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("small.walk").path
        try WalkGraphExport.write(graph, start: 0, targets: target.states, to: URL(fileURLWithPath: file))
        let binary = directory.appendingPathComponent("walk").path
        _ = try run(["cc", "-O2", "-o", binary, Self.scripts.appendingPathComponent("walk.c").path, "-lm"], in: directory)
        let references = [
            ("C, 32 walkers", [binary, file, "32", "\(walks)", "\(1 << 30)", "7"]),
            ("C, 1 walker", [binary, file, "1", "\(walks)", "\(1 << 30)", "8"]),
            ("numpy", ["python3", Self.scripts.appendingPathComponent("walk_numpy.py").path, file, "\(walks)", "100000", "9"]),
        ]
        for (name, command) in references {
            let output = try run(command, in: directory)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
            let mean = try #require(json["mean_hitting_time"] as? Double), error = try #require(json["standard_error"] as? Double)
            #expect(json["hits"] as? Int == walks, "\(name): every walk hits")
            #expect(abs(mean - exact) < 5 * error, "\(name): \(mean) ± \(error), exact \(exact)")
            #expect(abs(error - swiftError) < 0.1 * swiftError, "\(name): standard error \(error) against Swift's \(swiftError)")
        }
    }
}

/// Runs `command` (looked up on PATH) and returns its standard output; standard error goes
/// to a file in `directory` so neither pipe can fill up and block the other.
private func run(_ command: [String], in directory: URL) throws -> String {
    let errorsURL = directory.appendingPathComponent("stderr-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: errorsURL.path, contents: nil)
    let errors = try FileHandle(forWritingTo: errorsURL)
    defer {
        try? errors.close()
        try? FileManager.default.removeItem(at: errorsURL)
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = command
    let output = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw WalkError(.badArgument, "\(command[0]) failed: \((try? String(contentsOf: errorsURL, encoding: .utf8)) ?? "")")
    }
    return String(decoding: data, as: UTF8.self)
}
