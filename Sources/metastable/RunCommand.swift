import ArgumentParser
import Foundation
import Metastable

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run an experiment spec (default: the built-in quickstart) and write its results.",
        discussion: """
            Prints a progress line while it runs and a table at the end; writes results.json, \
            results.csv, histograms.csv and timing.json into the output directory.
            """
    )

    @Argument(help: "A YAML experiment spec, or the name of a built-in one (quickstart).")
    var spec: String?

    @Option(name: .long, help: "Parallel workers (threads on this machine). Default: the core count.")
    var workers: Int?

    @Option(name: .long, help: "Output directory. Default: results/<experiment name>.")
    var out: String?

    @Option(name: .long, help: "Override the spec's seed.")
    var seed: UInt64?

    @Flag(name: .long, help: "No progress output.")
    var quiet = false

    func validate() throws {
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1, got \(workers)") }
    }

    func run() throws {
        var plan = try loadPlan()
        if let seed {
            for i in plan.points.indices { plan.points[i].spec.seed = seed }
        }
        let threads = workers ?? ProcessInfo.processInfo.activeProcessorCount
        let runner = ExperimentRunner(threads: threads, progress: ProgressReporter(style: quiet ? .silent : .automatic))
        let (results, performance) = try runner.run(plan)
        let directory = URL(fileURLWithPath: out ?? "results/\(plan.name)")
        do {
            try results.write(to: directory, performance: performance)
        } catch {
            throw BadInput("cannot write the results to \(directory.path): \(error.localizedDescription)")
        }
        emit(ResultsTable.render(results, performance: performance))
        emit("\nwrote \(directory.path)/results.json, results.csv, histograms.csv, timing.json")
    }

    private func loadPlan() throws -> ExperimentPlan {
        guard let spec else { return try ExperimentPlan.parse(yaml: BuiltinExperiments.quickstart) }
        if spec == "quickstart", !FileManager.default.fileExists(atPath: spec) {
            return try ExperimentPlan.parse(yaml: BuiltinExperiments.quickstart)
        }
        guard let data = FileManager.default.contents(atPath: spec) else {
            throw BadInput("cannot read the spec file '\(spec)'")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw BadInput("\(spec): not UTF-8 text") }
        return try ExperimentPlan.parse(yaml: text, file: spec)
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
        if let threads = performance.first?.threads { text += ", \(threads) thread\(threads == 1 ? "" : "s")" }
        return text + "\n\n" + Format.table(header: header, rows: rows)
    }
}
