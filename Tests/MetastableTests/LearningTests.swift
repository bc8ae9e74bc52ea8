import Foundation
import Testing
@testable import Metastable

@Suite("Learning")
struct LearningTests {
    static func smallChain(epsilon: Double = 0.05, decoys: Int = 0, seed: UInt64 = 7) throws -> Chain {
        try GeneratorSpec(
            clusters: 3, clusterSize: 6, kernel: .uniform, topology: .chain, sources: 1, epsilon: .fixed(epsilon),
            decoys: decoys, seed: seed
        ).generate()
    }

    // MARK: SoftmaxPolicy

    @Test func exactInitialisationReproducesTheChain() throws {
        let chain = try Self.smallChain()
        let policy = SoftmaxPolicy(chain: chain, initialization: .exact)
        #expect(policy.candidateCount == chain.transitionCount)
        let distance = try policy.rowDistance(to: chain)
        #expect(distance.max < 1e-12)
        // The learned chain gives the same exact hitting time.
        let target = try TargetSet(cluster: 2, of: chain)
        let start = try StartDistribution(state: 0, stateCount: chain.stateCount)
        let truth = try ExactSolver.hittingTimes(chain, target: target).expected(from: start)
        let learned = try ExactSolver.hittingTimes(policy.chain(clusters: chain.clusters), target: target).expected(from: start)
        #expect(abs(learned - truth) / truth < 1e-9)
    }

    @Test func uniformInitialisationHasUniformRows() throws {
        let chain = try Self.smallChain()
        let policy = SoftmaxPolicy(chain: chain, initialization: .uniform)
        for x in 0..<chain.stateCount {
            let p = policy.probabilities(of: x)
            for q in p { #expect(abs(q - 1 / Double(p.count)) < 1e-15) }
        }
        // Sparse-edge rows have 7 candidates against a true row of (1−ε)/6 and ε.
        let distance = try policy.rowDistance(to: chain)
        #expect(distance.max > 0.03)
    }

    @Test func softmaxIsStableForHugeLogits() throws {
        let policy = try SoftmaxPolicy(stateCount: 3, rowOffsets: [0, 3, 4, 5], columns: [0, 1, 2, 0, 0], logits: [1000, 999, -1000, 0, 0])
        let p = policy.probabilities(of: 0)
        #expect(abs(p[0] - 1 / (1 + exp(-1))) < 1e-15)
        #expect(p[2] == 0)
        #expect(p.allSatisfy { $0.isFinite })
    }

    @Test func codableRoundTripValidates() throws {
        let policy = SoftmaxPolicy(chain: try Self.smallChain(), initialization: .exact)
        let data = try JSONEncoder().encode(policy)
        #expect(try JSONDecoder().decode(SoftmaxPolicy.self, from: data) == policy)
        let broken = #"{"stateCount": 2, "rowOffsets": [0, 1, 5], "columns": [1, 0], "logits": [0, 0]}"#
        #expect(throws: LearningError.self) { try JSONDecoder().decode(SoftmaxPolicy.self, from: Data(broken.utf8)) }
    }

    @Test func gradientMatchesFiniteDifferences() throws {
        let chain = try Self.smallChain()
        var policy = SoftmaxPolicy(chain: chain, initialization: .uniform)
        var rng = WalkRandom(seed: 11, domain: .learning, index: 0)
        for e in policy.logits.indices { policy.logits[e] = rng.nextDouble() * 2 - 1 }
        // A batch of transitions from the chain, plus one the model cannot represent.
        var batch = [Transition]()
        for x in 0..<chain.stateCount {
            chain.forEachTransition(from: x) { y, _, _ in
                if rng.nextDouble() < 0.5 { batch.append(Transition(from: x, to: y)) }
            }
        }
        batch.append(Transition(from: 0, to: 17))
        let result = try policy.crossEntropy(batch)
        #expect(result.outsideSupport == 1)
        let h = 1e-6
        var worst = 0.0
        for e in policy.logits.indices {
            var plus = policy, minus = policy
            plus.logits[e] += h
            minus.logits[e] -= h
            let numeric = (try plus.crossEntropy(batch).loss - minus.crossEntropy(batch).loss) / (2 * h)
            worst = max(worst, abs(numeric - result.gradient[e]))
        }
        #expect(worst < 1e-7)
    }

    @Test func badInputThrowsNamingTheField() throws {
        #expect(throws: LearningError.self) {
            try SoftmaxPolicy(stateCount: 2, rowOffsets: [0, 1, 1], columns: [1], logits: [0])
        }
        #expect(throws: LearningError.self) {
            try SoftmaxPolicy(stateCount: 2, rowOffsets: [0, 2, 3], columns: [1, 0, 0], logits: [0, 0, 0])
        }
        let policy = try SoftmaxPolicy(stateCount: 2, rowOffsets: [0, 1, 2], columns: [1, 0], logits: [0, 0])
        do {
            _ = try policy.crossEntropy([Transition(from: 0, to: 1), Transition(from: 2, to: 0)])
            Issue.record("expected an error")
        } catch {
            #expect(error.field == "batch[1]")
        }
    }

    // MARK: Pretraining

    @Test func pretrainingRecoversTheSupport() throws {
        let chain = try Self.smallChain(epsilon: 0.05)
        let target = try TargetSet(cluster: 2, of: chain)
        let start = try StartDistribution(state: 0, stateCount: chain.stateCount)
        let (policy, report) = try Pretraining.run(chain: chain, config: PretrainingConfig(seed: 3), start: start, target: target)
        print("pretraining:", report.checkpoints.map { "\($0.step):\($0.maxRowTV)" }, "final", report.finalDistance,
              "τ", report.trueHittingTime ?? -1, report.learnedHittingTime ?? -1, "candidates", report.candidatesBeforePruning, report.candidatesAfterPruning)
        #expect(report.supportRecovered)
        #expect(report.outsideSupport == 0)
        #expect(policy.candidateCount == chain.transitionCount)
        #expect(report.finalDistance.max < 0.04) // measured 0.020
        // Stage 2 improves on stage 1's end.
        let endOfStage1 = try #require(report.checkpoints.last { $0.stage == 1 })
        #expect(report.finalDistance.max < endOfStage1.maxRowTV)
        let truth = try #require(report.trueHittingTime), learned = try #require(report.learnedHittingTime)
        #expect(abs(learned - truth) / truth < 0.1) // measured 0.03
    }

    @Test func pretrainingOverSeeds() throws {
        // Other seeds and a decoy per cluster (an ε edge inside the cluster is a true edge
        // too: pruning must keep it).
        let chain = try Self.smallChain(epsilon: 0.05, decoys: 1, seed: 2)
        let target = try TargetSet(cluster: 2, of: chain)
        let start = try StartDistribution(state: 0, stateCount: chain.stateCount)
        var distances = [Double](), errors = [Double]()
        for seed in UInt64(10)..<14 {
            let (_, report) = try Pretraining.run(chain: chain, config: PretrainingConfig(seed: seed), start: start, target: target)
            #expect(report.supportRecovered, "seed \(seed): spurious \(report.spuriousEdges), missed \(report.missedEdges)")
            distances.append(report.finalDistance.max)
            let truth = try #require(report.trueHittingTime), learned = try #require(report.learnedHittingTime)
            errors.append(abs(learned - truth) / truth)
            #expect(report.checkpoints[0].maxRowTV > 2 * report.finalDistance.max)
        }
        print("pretraining over seeds: max-row TV", distances, "relative E[τ] error", errors)
        #expect(distances.max()! < 0.04)
        #expect(errors.max()! < 0.1)
    }

    @Test func pretrainingConfigNamesBadFields() {
        do {
            try PretrainingConfig(learningRate: -1).validate()
            Issue.record("expected an error")
        } catch {
            #expect(error.field == "learningRate")
        }
    }

    // MARK: Search

    @Test func searchFindsAllSparseEdgesAndNoDecoys() throws {
        let chain = try GeneratorSpec(
            clusters: 3, clusterSize: 6, kernel: .uniform, topology: .chain, sources: 1, epsilon: .fixed(0.05),
            decoys: 2, seed: 7
        ).generate()
        let start = try StartDistribution(state: 0, stateCount: chain.stateCount)
        let config = SparseEdgeSearchConfig(clusterCount: 3, clusterSize: 6, epsilon: 0.05, seed: 5)
        let result = try SparseEdgeSearch.run(chain: chain, start: start, config: config)
        let report = SparseEdgeSearchReport(result: result, truth: chain, config: config)
        print("search:", result.parameters, result.edges, result.detections, "rejected", result.rejectedEscapes, report)
        #expect(report.recall == 1)
        #expect(report.falsePositives.isEmpty)
        #expect(report.stepRatio < 20)
    }

    @Test func searchOnAPretrainedChain() throws {
        let chain = try Self.smallChain(epsilon: 0.05)
        let (policy, _) = try Pretraining.run(chain: chain, config: PretrainingConfig(seed: 3))
        let learned = try policy.chain(clusters: nil)
        let start = try StartDistribution(state: 0, stateCount: chain.stateCount)
        let config = SparseEdgeSearchConfig(clusterCount: 3, clusterSize: 6, epsilon: 0.05, seed: 5)
        let report = SparseEdgeSearchReport(
            result: try SparseEdgeSearch.run(chain: learned, start: start, config: config), truth: chain, config: config)
        print("search on learned:", report)
        #expect(report.recall == 1)
        #expect(report.falsePositives.isEmpty)
    }

    @Test func searchRecallOverSeeds() throws {
        // Larger: K = 6 with decoys; recall and false positives over 10 seeds.
        let chain = try GeneratorSpec(
            clusters: 6, clusterSize: 10, kernel: .uniform, topology: .chain, sources: 1, epsilon: .fixed(0.02),
            decoys: 2, seed: 9
        ).generate()
        let start = try StartDistribution(state: 0, stateCount: chain.stateCount)
        var recalls = [Double](), ratios = [Double](), falsePositives = 0
        for seed in UInt64(1)...10 {
            let config = SparseEdgeSearchConfig(clusterCount: 6, clusterSize: 10, epsilon: 0.02, seed: seed)
            let report = SparseEdgeSearchReport(
                result: try SparseEdgeSearch.run(chain: chain, start: start, config: config), truth: chain, config: config)
            recalls.append(report.recall)
            ratios.append(report.stepRatio)
            falsePositives += report.falsePositives.count
        }
        print("search K=6: recalls", recalls, "ratios", ratios, "false positives", falsePositives)
        #expect(recalls.filter { $0 == 1 }.count >= 8)
        #expect(falsePositives == 0)
        #expect(ratios.max()! < 30)
    }

    // MARK: PRM

    @Test func prmSpeedUpIsAboutEpsilonMaxOverEpsilon() throws {
        let epsilon = 1e-3, epsilonMax = 0.05
        let chain = try GeneratorSpec(
            clusters: 5, clusterSize: 20, kernel: .uniform, topology: .chain, sources: 1, epsilon: .fixed(epsilon), seed: 4
        ).generate()
        var sparse = [Transition]()
        for x in 0..<chain.stateCount {
            for e in chain.entries(of: x) where chain.kinds[e] == .sparse { sparse.append(Transition(from: x, to: Int(chain.columns[e]))) }
        }
        let prm = try ProcessRewardModel(edges: sparse, epsilonMax: epsilonMax)
        let boosted = try prm.apply(to: chain)
        for e in 0..<boosted.entryCount where boosted.kinds[e] == .sparse { #expect(boosted.probabilities[e] == epsilonMax) }
        let target = try TargetSet(cluster: 4, of: chain)
        let start = try StartDistribution(state: 0, stateCount: chain.stateCount)
        let base = try ExactSolver.hittingTimes(chain, target: target).expected(from: start)
        let withPRM = try ExactSolver.hittingTimes(boosted, target: target).expected(from: start)
        let speedUp = base / withPRM
        print("PRM: E[τ] base", base, "PRM", withPRM, "speed-up", speedUp, "ε_max/ε", epsilonMax / epsilon)
        #expect(abs(speedUp / (epsilonMax / epsilon) - 1) < 0.3)
    }

    @Test func searchThenPRMEndToEnd() throws {
        // Ê from search on the chain itself, no labels used, then the PRM's exact speed-up.
        let epsilon = 1e-3, epsilonMax = 0.05
        let chain = try GeneratorSpec(
            clusters: 5, clusterSize: 20, kernel: .uniform, topology: .chain, sources: 1, epsilon: .fixed(epsilon),
            decoys: 2, seed: 4
        ).generate()
        let start = try StartDistribution(state: 0, stateCount: chain.stateCount)
        let config = SparseEdgeSearchConfig(clusterCount: 5, clusterSize: 20, epsilon: epsilon, seed: 1)
        let result = try SparseEdgeSearch.run(chain: chain.withClustersDropped(), start: start, config: config)
        let report = SparseEdgeSearchReport(result: result, truth: chain, config: config)
        #expect(report.recall == 1)
        #expect(report.falsePositives.isEmpty)
        let target = try TargetSet(cluster: 4, of: chain)
        let base = try ExactSolver.hittingTimes(chain, target: target).expected(from: start)
        let boosted = try ProcessRewardModel(edges: result.edges, epsilonMax: epsilonMax).apply(to: chain)
        let withPRM = try ExactSolver.hittingTimes(boosted, target: target).expected(from: start)
        print("search + PRM: steps ratio", report.stepRatio, "E[τ]", base, "→", withPRM, "speed-up", base / withPRM)
        #expect(abs(base / withPRM / (epsilonMax / epsilon) - 1) < 0.3)
        #expect(report.stepRatio < 25)
    }

    @Test func prmRejectsBadInput() throws {
        #expect(throws: LearningError.self) { try ProcessRewardModel(edges: [], epsilonMax: 1.5) }
        let chain = try Self.smallChain()
        let prm = try ProcessRewardModel(edges: [Transition(from: 0, to: 99)], epsilonMax: 0.1)
        do {
            _ = try prm.apply(to: chain)
            Issue.record("expected an error")
        } catch let error as LearningError {
            #expect(error.field == "edges[0]")
        }
    }
}

extension Chain {
    /// The chain without labels: what a searcher that knows nothing of the clusters sees.
    /// An implicit uniform part needs labels, so it is written out first.
    func withClustersDropped() throws -> Chain { try expanded().withClusters(nil) }
}
