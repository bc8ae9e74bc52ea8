import Foundation
@testable import Metastable

/// Helpers the algorithm-experiment tests share: run a YAML spec, and read the error a bad
/// one raises.
enum AlgorithmTestSupport {
    static func plan(_ yaml: String) throws -> ExperimentPlan { try ExperimentPlan.parse(yaml: yaml) }

    static func run(_ yaml: String, threads: Int = 2) throws -> AlgorithmResults {
        try AlgorithmRunner(threads: threads).run(plan(yaml)).0
    }

    /// The field a spec error names, whether parsing or preparing the first point raised it.
    static func failingField(_ yaml: String) -> String? {
        do {
            let plan = try plan(yaml)
            _ = try AlgorithmRunner.prepare(plan, point: 0)
            return nil
        } catch let error as SpecError {
            return error.field
        } catch {
            return "not a SpecError: \(error)"
        }
    }

    /// `yaml` with the line containing `old` replaced by `new`.
    static func replacing(_ old: String, with new: String, in yaml: String) -> String {
        precondition(yaml.contains(old), "the spec has no '\(old)'")
        return yaml.replacingOccurrences(of: old, with: new)
    }
}
