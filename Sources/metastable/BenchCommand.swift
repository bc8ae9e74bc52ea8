import ArgumentParser
import Foundation
import Metastable

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Steps per second of the walk kernel, in cache and out of cache, on one and all threads; --suite compares with C, numpy and scipy.",
        discussion: "Build with -c release: a debug build is 10-50 times slower."
    )

    @Flag(name: .long, help: "Print the measurements as JSON.")
    var json = false

    @Flag(name: .long, help: "Measure the cluster path instead: coordinator throughput, 2 workers over 1, overhead vs in-process.")
    var cluster = false

    @Flag(name: .long, help: "Run the hardware suite (Swift against a C loop, numpy, scipy and the cluster path) and print one markdown table.")
    var suite = false

    @Option(name: .customLong("export-graph"), help: ArgumentHelp("Write the suite's graphs (in-cache.walk, out-of-cache.walk, solver.walk) to this directory and stop.", valueName: "dir"))
    var exportGraph: String?

    @Option(name: .customLong("c-binary"), help: ArgumentHelp("With --suite: a compiled scripts/bench/walk.c (default: compile it with cc -O3 -march=native).", valueName: "path"))
    var cBinary: String?

    @Option(name: .long, help: ArgumentHelp("With --suite: the directory of walk.c and the Python references (default: scripts/bench under the current directory or above the binary).", valueName: "dir"))
    var scripts: String?

    func validate() throws {
        guard [suite, cluster, exportGraph != nil].filter({ $0 }).count <= 1 else {
            throw ValidationError("--suite, --cluster and --export-graph are separate runs: give one")
        }
        guard suite || (cBinary == nil && scripts == nil) else { throw ValidationError("--c-binary and --scripts go with --suite") }
        guard !(suite && json) else { throw ValidationError("--suite prints a markdown table; --json is not available with it") }
        if let cBinary, !FileManager.default.isExecutableFile(atPath: cBinary) {
            throw ValidationError("--c-binary: \(cBinary) is not an executable file")
        }
        if let scripts, !FileManager.default.fileExists(atPath: scripts + "/walk.c") {
            throw ValidationError("--scripts: \(scripts) does not hold walk.c")
        }
    }

    func run() throws {
        let log: (String) -> Void = { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
        if let exportGraph {
            _ = try BenchSuiteRunner.export(to: URL(fileURLWithPath: exportGraph), log: log)
            return
        }
        if suite {
            guard let dir = scripts.map({ URL(fileURLWithPath: $0) }) ?? Self.findScripts() else {
                throw BadInput("scripts/bench (walk.c and the Python references) was not found: run from the repository or pass --scripts")
            }
            let runner = BenchSuiteRunner(scripts: dir, cBinary: cBinary.map { URL(fileURLWithPath: $0) }, log: log)
            emit(BenchSuiteRunner.markdown(try runner.run()))
            return
        }
        if cluster {
            let measurements = try ClusterBenchmark.run(log: json ? { _ in } : log)
            if json { emit(try jsonString(measurements)); return }
            emit(Format.table(
                header: ["benchmark", "value", "unit", "detail"],
                rows: measurements.map { [$0.name, String(format: "%.2f", $0.value), $0.unit, $0.detail] }))
            return
        }
        let measurements = try WalkBenchmark.run(log: json ? nil : log)
        if json {
            emit(try jsonString(measurements))
            return
        }
        let rows = measurements.map { m in
            [m.name, "\(m.threads)", "\(m.walkersPerThread)", m.kernel, Format.compact(Double(m.steps)), String(format: "%.2f", m.seconds),
             String(format: "%.1f", m.stepsPerSecond / 1e6), String(format: "%.1f", m.stepsPerSecond / 1e6 / Double(m.threads))]
        }
        emit(Format.table(
            header: ["benchmark", "threads", "walkers/thread", "kernel", "steps", "seconds", "M steps/s", "M steps/s/core"], rows: rows))
    }

    /// scripts/bench under the current directory, or above the binary (.build/release/metastable).
    static func findScripts() -> URL? {
        var candidates = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(dir)
            dir = dir.deletingLastPathComponent()
        }
        return candidates.map { $0.appendingPathComponent("scripts/bench") }
            .first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("walk.c").path) }
    }
}
