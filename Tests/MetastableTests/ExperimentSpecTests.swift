import Foundation
import Testing
@testable import Metastable

@Suite("ExperimentSpec")
struct ExperimentSpecTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func quickstartFileMatchesTheBuiltIn() throws {
        let file = try String(contentsOf: Self.packageRoot.appendingPathComponent("experiments/quickstart.yaml"), encoding: .utf8)
        #expect(file == BuiltinExperiments.quickstart)
    }

    @Test func quickstartExpandsItsGrid() throws {
        let plan = try ExperimentPlan.parse(yaml: BuiltinExperiments.quickstart)
        #expect(plan.gridParameters == ["kernel", "epsilon"])
        #expect(plan.points.count == 4)
        let specs = plan.points.map(\.spec)
        guard case .generated(let g0) = specs[0].chain, case .generated(let g3) = specs[3].chain else {
            Issue.record("expected generated chains"); return
        }
        #expect(g0.kernel == .uniform && g0.epsilon == .fixed(0.01))
        #expect(g3.kernel == .permutations(4) && g3.epsilon == .fixed(0.001))
        #expect(specs[0].target == .cluster(.last) && specs[0].start == .state(0) && specs[0].walks == 10000)
    }

    @Test func fullSpecParses() throws {
        let plan = try ExperimentPlan.parse(yaml: """
            name: full
            chain: {clusters: 3, cluster_size: 8, kernel: ring(2), topology: random(2), sources: 2, epsilon: [1e-4, 1e-2], decoys: 1, seed: 4}
            start: {distribution: {0: 1, 3: 3}}
            target: [20, 21]
            walks: 1e4
            max_steps: 1e9
            batch_size: 256
            exact: false
            grid:
              chain.seed: [1, 2]
              walks: [100, 200]
            """)
        #expect(plan.points.count == 4)
        let spec = plan.points[3].spec
        #expect(spec.walks == 200 && spec.maxSteps == 1_000_000_000 && spec.batchSize == 256 && !spec.exact)
        #expect(spec.start == .distribution([StateWeight(state: 0, weight: 1), StateWeight(state: 3, weight: 3)]))
        #expect(spec.target == .states([20, 21]))
        guard case .generated(let g) = spec.chain else { Issue.record("expected a generated chain"); return }
        #expect(g == GeneratorSpec(clusters: 3, clusterSize: 8, kernel: .ring(2), topology: .random(2), sources: 2,
                                   epsilon: .logUniform(1e-4, 1e-2), decoys: 1, seed: 2))
    }

    @Test func graphPathsResolveAgainstTheSpecFile() throws {
        let plan = try ExperimentPlan.parse(yaml: "chain: {graph: g.mtx, labels: g.labels}\ntarget: 3", file: "/data/specs/x.yaml")
        #expect(plan.points[0].spec.chain == .file(path: "/data/specs/g.mtx", labels: "/data/specs/g.labels", normalize: false))
    }

    @Test(arguments: [
        ("chain: {clusters: 2, cluster_size: 4}\nwalkz: 3", "walkz", 2, "unknown field"),
        ("chain: {clusters: 2, cluster_size: 4, kernel: blob}", "chain.kernel", 1, "unknown kernel 'blob'"),
        ("chain: {clusters: 2, cluster_size: 4, topology: ring}", "chain.topology", 1, "unknown topology 'ring'"),
        ("chain: {clusters: 2, cluster_size: 4, epsilon: 2}", "chain.epsilon", 1, "must be in (0, 1)"),
        ("chain: {clusters: 2, cluster_size: 4, epsilon: abc}", "chain.epsilon", 1, "expected a number, got 'abc'"),
        ("chain: {clusters: 2, cluster_size: 4}\nwalks: -5", "walks", 2, "must be at least 1"),
        ("chain: {clusters: 2, cluster_size: 4}\nwalks: 1.5", "walks", 2, "expected an integer, got '1.5'"),
        ("chain: {clusters: 0, cluster_size: 4}", "chain.clusters", 1, "must be at least 1"),
        ("chain: {cluster_size: 4}", "chain", 1, "missing required field 'clusters'"),
        ("walks: 3", "", 1, "missing required field 'chain'"),
        ("chain: {clusters: 2, cluster_size: 4, sources: 3, decoys: 2}", "chain.sources", 1, "exceed the cluster size"),
        ("chain: {clusters: 2, cluster_size: 4}\ngrid: {kernel: uniform}", "grid.kernel", 2, "expected a list"),
        ("chain: {clusters: 2, cluster_size: 4}\ngrid: {name: [a]}", "grid.name", 2, "cannot sweep 'name'"),
        ("chain: {clusters: 2, cluster_size: 4}\ngrid: {epsilon: [0.1, 7]}", "chain.epsilon", 2, "must be in (0, 1), got 7"),
        ("chain: {clusters: 2, cluster_size: 4}\nstart: {state: 1, cluster: 0}", "start", 2, "exactly one of"),
        ("chain: {clusters: 2, cluster_size: 4}\ntarget: []", "target", 2, "the target set is empty"),
        ("chain: {graph: a.mtx, clusters: 3}", "chain.clusters", 1, "takes no generator fields"),
        ("chain: [1, 2", "", nil, "not valid YAML"),
    ] as [(String, String, Int?, String)])
    func badFieldsAreNamed(yaml: String, field: String, line: Int?, message: String) {
        #expect {
            try ExperimentPlan.parse(yaml: yaml, file: "spec.yaml")
        } throws: { error in
            guard let error = error as? SpecError else { return false }
            let ok = error.field == field && error.message.contains(message) && error.file == "spec.yaml"
                && (line == nil || error.line == line)
            if !ok { print("got: \(error) [field \(error.field), line \(String(describing: error.line))]") }
            return ok
        }
    }
}
