import ArgumentParser
import Foundation
import Metastable
import MetastableCluster

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run an experiment spec (default: the built-in quickstart) and write its results.",
        discussion: """
            Starts an embedded coordinator and --workers local worker processes of this binary \
            (the same code path as a multi-machine run). Prints a progress line while it runs \
            and a table at the end; writes results.json, results.csv, histograms.csv and \
            timing.json into the output directory.
            """
    )

    @Argument(help: "A YAML experiment spec, or the name of a built-in one (quickstart).")
    var spec: String?

    @Option(name: .long, help: "Local worker processes (one thread each). Default: the core count.")
    var workers: Int?

    @Flag(name: .long, help: "Run the walks on threads of this process instead of worker processes.")
    var inProcess = false

    @Option(name: .long, help: """
        Walks each thread interleaves (1 to \(WalkTask.maxWalkers)). Default: by graph size, 64 on graphs of \
        32 MiB or more of walk data (out of cache), 32 otherwise. Results do not depend on it.
        """)
    var walkersPerThread: Int?

    @Option(name: .long, help: "Output directory. Default: results/<experiment name>.")
    var out: String?

    @Option(name: .long, help: "Override the spec's seed.")
    var seed: UInt64?

    @Flag(name: .long, help: "No progress output.")
    var quiet = false

    @Option(name: .long, help: """
        Log level of the embedded coordinator and its workers (trace ... critical). Default: warning \
        on a terminal (the progress bar shows progress), info otherwise (progress records).
        """)
    var logLevel: String?

    func validate() throws {
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1, got \(workers)") }
        try WalkTask.validate(walkersPerThread: walkersPerThread)
    }

    func run() throws {
        let (plan, text) = try SpecSource.load(spec)
        let seed = try SpecSource.seed(seed, for: plan)
        let count = workers ?? ProcessInfo.processInfo.activeProcessorCount
        let directory = URL(fileURLWithPath: out ?? "results/\(plan.name)")
        let style: ProgressReporter.Style = quiet ? .silent : .automatic
        if inProcess {
            try Self.run(plan.applyingRunSeed(seed), on: LocalExecutor(threads: count, walkersPerThread: walkersPerThread), progress: ProgressReporter(style: style), to: directory)
            return
        }
        // An embedded coordinator on a private ipc socket, and `count` workers of this binary.
        let coordinatorLevel = logLevel ?? (isatty(2) != 0 || quiet ? "warning" : "info")
        ClusterLogging.bootstrap(role: "coordinator", runID: nil, level: try LogOptions.parse(coordinatorLevel), json: nil)
        let socket = FileManager.default.temporaryDirectory
            .appendingPathComponent("metastable-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock").path
        defer { try? FileManager.default.removeItem(atPath: socket) }
        let executor = try ClusterExecutor(
            specYAML: text, seed: seed, options: CoordinatorOptions(bind: "ipc://\(socket)"), checkpointPath: nil)
        let specDirectory = spec.flatMap { FileManager.default.fileExists(atPath: $0) ? URL(fileURLWithPath: $0).deletingLastPathComponent() : nil }
        let local = LocalWorkers(
            executable: LocalWorkers.currentExecutable, endpoint: executor.coordinator.endpoint, count: count, threads: 1,
            logLevel: logLevel ?? "warning", directory: specDirectory, walkersPerThread: walkersPerThread)
        try local.start()
        defer { local.wait(timeout: .seconds(5)) }
        executor.abort = { local.allExited ? "every local worker process has exited" : nil }
        // With log lines on stderr the coordinator reports progress itself.
        let progress = ProgressReporter(style: style == .bar ? .bar : .silent)
        try Self.run(plan.applyingRunSeed(seed), on: executor, progress: progress, to: directory) {
            try executor.coordinator.finish(reason: "run complete")
        }
    }

    /// Runs a hitting-time or an algorithm plan and writes its results; `finished` runs between the two.
    static func run(
        _ plan: ExperimentPlan, on executor: any WalkExecutor, progress: ProgressReporter, to directory: URL,
        finished: () throws -> Void = {}
    ) throws {
        if plan.points.first?.spec.algorithm != nil {
            let (results, performance) = try AlgorithmRunner(executor: executor, progress: progress).run(plan)
            try finished()
            try ResultsOutput.write(results, performance: performance, to: directory)
        } else {
            let (results, performance) = try ExperimentRunner(executor: executor, progress: progress).run(plan)
            try finished()
            try ResultsOutput.write(results, performance: performance, to: directory)
        }
    }
}

/// The end-of-run table: one row per grid point.
enum ResultsTable {
    static func render(_ results: ExperimentResults, performance: [PointPerformance]) -> String {
        var header = results.gridParameters
        header += ["MC mean ± 95%", "exact", "closed form", "rel.err", "z", "walks", "censored", "steps", "steps/s"]
        var rows = [[String]]()
        for (p, timing) in zip(results.points, performance) {
            let h = p.hittingTime
            var row = results.gridParameters.map { p.parameters[$0] ?? "" }
            var mean = h.mean.map { Format.value($0, digits: 7) } ?? "–"
            if let ci = h.ci95 { mean += " ± " + Format.value((ci.upperBound - ci.lowerBound) / 2, digits: 3) }
            if h.meanIsLowerBound { mean = "≥ " + mean }
            row.append(mean)
            row.append(p.exact.map { Format.value($0.expectedHittingTime, digits: 8) } ?? "–")
            row.append(p.closedForm.map { Format.value($0, digits: 8) } ?? "–")
            row.append(p.relativeError.map { String(format: "%+.2f%%", $0 * 100) } ?? "–")
            row.append(p.zScore.map { String(format: "%+.2f", $0) } ?? "–")
            row.append("\(p.walks)")
            row.append("\(h.censored)")
            row.append(Format.compact(Double(p.steps)))
            row.append(Format.compact(timing.stepsPerSecond))
            rows.append(row)
        }
        var text = "\(results.experiment): \(results.points.count) point\(results.points.count == 1 ? "" : "s")"
        if let workers = performance.first?.threads { text += ", \(workers) worker\(workers == 1 ? "" : "s")" }
        text += "\n\n" + Format.table(header: header, rows: rows)
        // Partitioned points: how often walks moved between shards.
        for timing in performance {
            guard let migrations = timing.migrations, let rate = timing.migrationsPerSecond else { continue }
            let point = results.points.count > 1 ? "point \(timing.index): " : ""
            text += "\n\(point)\(migrations) migrations between shards (\(Format.compact(rate))/s)"
        }
        return text
    }
}

/// The power-law fits printed after the table: one row per regressor, Monte Carlo and exact
/// side by side.
enum FitTable {
    static func render(_ fits: ScalingFits) -> String {
        func cell(_ e: Estimate?) -> String {
            guard let e else { return "–" }
            var text = String(format: "%+.4f", e.value)
            if let ci = e.ci95 { text += String(format: "  [%+.4f, %+.4f]", ci[0], ci[1]) }
            return text
        }
        let header = ["log \(fits.response) vs", "MC slope  [95%]", "exact slope  [95%]"]
        var rows = fits.regressors.indices.map { j in
            [fits.regressors[j].transform, cell(fits.monteCarlo?.slopes[j]), cell(fits.exact?.slopes[j])]
        }
        rows.append(["intercept", cell(fits.monteCarlo?.intercept), cell(fits.exact?.intercept)])
        var text = "power-law fit: log \(fits.response) = a + Σ b·log x\n\n" + Format.table(header: header, rows: rows)
        // Weighted, the residual scale is a reduced χ²; unweighted, the variance of the log residuals.
        let notes = [("MC", fits.monteCarlo, "weighted by 1/se², reduced χ²"), ("exact", fits.exact, "unweighted, residual variance")]
            .compactMap { name, fit, how in
                fit.map { "\(name): \($0.points) points, \(how) \(Format.value($0.reducedChiSquare ?? .nan, digits: 3))" }
            }
        if !notes.isEmpty { text += "\n" + notes.joined(separator: "; ") }
        return text
    }
}
