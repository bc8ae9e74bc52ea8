import Testing
@testable import Metastable

@Suite("Generator")
struct GeneratorTests {
    static let kernels: [DenseKernel] = [.uniform, .permutations(3), .ring(2)]
    static let topologies: [Topology] = [.chain, .chainBidirectional, .random(2), .tree, .complete]

    @Test(arguments: kernels, topologies)
    func rowsSumToOneAndKindsMatchClusters(kernel: DenseKernel, topology: Topology) throws {
        let spec = GeneratorSpec(
            clusters: 6, clusterSize: 10, kernel: kernel, topology: topology, sources: 2,
            epsilon: .logUniform(1e-4, 1e-2), decoys: 1, seed: 3)
        let chain = try spec.generate()
        let labels = try #require(chain.clusters)
        var sparse = 0, decoys = 0
        for x in 0..<chain.stateCount {
            var sum = 0.0
            chain.forEachTransition(from: x) { _, p, _ in sum += p }
            for e in chain.entries(of: x) {
                let y = Int(chain.columns[e]), p = chain.probabilities[e]
                let crosses = labels[x] != labels[y]
                switch chain.kinds[e] {
                case .sparse: sparse += 1; #expect(crosses)
                case .decoy:
                    decoys += 1
                    #expect(!crosses)
                    // with stored dense edges a decoy may merge with one; the uniform kernel stores none
                    if kernel == .uniform { #expect(p >= 1e-4 && p <= 1e-2) }
                case .dense: #expect(!crosses)
                }
            }
            #expect(abs(sum - 1) < 1e-12)
        }
        #expect(sparse == 2 * spec.successors().reduce(0) { $0 + $1.count })
        #expect(decoys == spec.clusters)
    }

    @Test func permutationClustersHaveUniformStationaryLaw() throws {
        // Doubly stochastic inside a cluster: the column sums of the dense part are equal.
        let chain = try GeneratorSpec(clusters: 3, clusterSize: 50, kernel: .permutations(4), sources: 0, seed: 9).generate()
        var columnSums = [Double](repeating: 0, count: chain.stateCount)
        for x in 0..<chain.stateCount {
            chain.forEachTransition(from: x) { y, p, _ in columnSums[y] += p }
        }
        for s in columnSums { #expect(abs(s - 1) < 1e-12) }
    }

    @Test func sameSpecSameChain() throws {
        let spec = GeneratorSpec(clusters: 5, clusterSize: 20, kernel: .permutations(3), topology: .random(2), sources: 2, seed: 11)
        let a = try spec.generate(), b = try spec.generate()
        #expect(a.columns == b.columns && a.probabilities == b.probabilities && a.kinds == b.kinds)
        var other = spec
        other.seed = 12
        #expect(try other.generate().columns != a.columns)
    }

    @Test func everyPathCrossesEveryClusterOnTheChainTopology() throws {
        // On `chain`, sparse edges only go k -> k+1: any path from C_0 to C_{K-1} takes K-1 hard steps.
        let chain = try GeneratorSpec(clusters: 7, clusterSize: 8, kernel: .permutations(3), sources: 2, seed: 5).generate()
        let labels = try #require(chain.clusters)
        for x in 0..<chain.stateCount {
            chain.forEachTransition(from: x) { y, _, kind in
                if kind == .sparse { #expect(labels[y] == labels[x] + 1) }
            }
        }
    }

    @Test(arguments: [
        (GeneratorSpec(clusters: 0, clusterSize: 4), "clusters"),
        (GeneratorSpec(clusters: 2, clusterSize: 0), "cluster_size"),
        (GeneratorSpec(clusters: 2, clusterSize: 4, sources: 3, decoys: 2), "sources + decoys"),
        (GeneratorSpec(clusters: 2, clusterSize: 4, epsilon: .fixed(1.5)), "epsilon"),
        (GeneratorSpec(clusters: 4, clusterSize: 4, topology: .random(4)), "topology"),
        (GeneratorSpec(clusters: 30, clusterSize: 4, topology: .complete, epsilon: .fixed(0.05)), "epsilon"),
    ])
    func invalidSpecsNameTheField(spec: GeneratorSpec, field: String) {
        #expect {
            try spec.generate()
        } throws: { error in
            (error as? ChainError)?.message.hasPrefix(field + ":") == true
        }
    }
}
