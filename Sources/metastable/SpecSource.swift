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
        do {
            try results.write(to: directory, performance: performance)
        } catch {
            throw BadInput("cannot write the results to \(directory.relativePath): \(error.localizedDescription)")
        }
        emit(ResultsTable.render(results, performance: performance))
        if let fits = results.fits { emit("\n" + FitTable.render(fits)) }
        emit("\nwrote \(directory.relativePath)/results.json, results.csv, histograms.csv, timing.json")
    }
}
