import Foundation
import Metastable

/// Loads a spec from a file or the built-ins, keeping its text for the workers.
enum SpecSource {
    static func load(_ spec: String?) throws -> (ExperimentPlan, String) {
        guard let spec, spec != "quickstart" || FileManager.default.fileExists(atPath: spec) else {
            return (try ExperimentPlan.parse(yaml: BuiltinExperiments.quickstart), BuiltinExperiments.quickstart)
        }
        guard let data = FileManager.default.contents(atPath: spec) else {
            throw BadInput("cannot read the spec file '\(spec)'")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw BadInput("\(spec): not UTF-8 text") }
        return (try ExperimentPlan.parse(yaml: text, file: spec), text)
    }

    /// The run's seed: the override, or the spec's own.
    static func seed(_ override: UInt64?, for plan: ExperimentPlan) throws -> UInt64 {
        guard let override else { return plan.runSeed }
        guard !plan.gridParameters.contains("seed") else {
            throw BadInput("--seed: the spec's grid sweeps seed; change the grid instead")
        }
        return override
    }
}

/// Writes the result files and prints the table.
enum ResultsOutput {
    static func write(_ results: ExperimentResults, performance: [PointPerformance], to directory: URL) throws {
        try writing(to: directory) { try results.write(to: directory, performance: performance) }
        emit(ResultsTable.render(results, performance: performance))
        if let fits = results.fits { emit("\n" + FitTable.render(fits)) }
        emit("\nwrote \(directory.relativePath)/results.json, results.csv, histograms.csv, timing.json")
    }

    static func write(_ results: AlgorithmResults, performance: [AlgorithmPerformance], to directory: URL) throws {
        try writing(to: directory) { try results.write(to: directory, performance: performance) }
        emit(AlgorithmTable.render(results, performance: performance))
        let files = ["results.json", "summary.csv"] + results.tableNames.map { "\($0).csv" } + ["timing.json"]
        emit("\nwrote \(directory.relativePath)/" + files.joined(separator: ", "))
    }

    /// A failure to write is the user's to fix (a read-only or full disk): exit code 2.
    private static func writing(to directory: URL, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch {
            throw BadInput("cannot write the results to \(directory.relativePath): \(error.localizedDescription)")
        }
    }
}

/// The end-of-run table of an algorithm experiment: one row per grid point, its headline values.
enum AlgorithmTable {
    static func render(_ results: AlgorithmResults, performance: [AlgorithmPerformance]) -> String {
        let all = Set(results.points.flatMap { $0.values.keys })
        let chosen = AlgorithmRegistry.configuration(named: results.algorithm)?.tableValues
        let names = chosen?.filter(all.contains) ?? all.sorted()
        let header = results.gridParameters + ["rounds", "steps"] + names + ["time"]
        var rows = [[String]]()
        for (p, timing) in zip(results.points, performance) {
            rows.append(
                results.gridParameters.map { p.parameters[$0] ?? "" } + ["\(p.rounds)", Format.compact(Double(p.steps))]
                    + names.map { p.value($0).map { Format.value($0, digits: 4) } ?? "–" } + [Format.duration(timing.seconds)])
        }
        let n = results.points.count
        var text = "\(results.experiment) (\(results.algorithm)): \(n) point\(n == 1 ? "" : "s")"
        if let workers = performance.first?.threads { text += ", \(workers) worker\(workers == 1 ? "" : "s")" }
        return text + "\n\n" + Format.table(header: header, rows: rows)
    }
}
