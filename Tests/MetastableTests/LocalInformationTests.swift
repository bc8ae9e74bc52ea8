import Foundation
import Testing
@testable import Metastable

@Suite("LocalInformation")
struct LocalInformationTests {
    /// Small enough for a few seconds in release, large enough for the decay to clear the noise.
    static let config = LocalInformationExperiment.Config(
        clusterCounts: [2, 4, 6, 8, 10], clusterSize: 32, epsilon: 0.1, kernelDegree: 3, decoysPerCluster: 2,
        tasksPerK: 400, seed: 7)
    static let report = Result { try LocalInformationExperiment.run(config) }

    @Test func globalAccessAlwaysSucceeds() throws {
        let report = try Self.report.get()
        for k in Self.config.clusterCounts {
            let row = try #require(report.row(.kernel, clusters: k))
            #expect(row.successes == row.trials, "K = \(k)")
            #expect(row.meanConsistentHypotheses == 1)
        }
    }

    @Test(arguments: [LocalInformationExperiment.Level.path, .neighbourhood])
    func localSuccessFallsWithKAndStaysNearHalf(level: LocalInformationExperiment.Level) throws {
        let report = try Self.report.get()
        let small = try #require(report.row(level, clusters: 2))
        let large = try #require(report.row(level, clusters: 10))
        // At K = 2 the one sparse step is the last one: local levels are exact there.
        #expect(small.rate == 1)
        #expect(small.rate - large.rate > small.interval.width + large.interval.width)
        #expect(large.interval.upper >= 0.5)
        // More clusters, more consistent hypotheses.
        let log10 = Self.config.clusterCounts.compactMap { report.row(level, clusters: $0)?.meanLog10ConsistentHypotheses }
        #expect(log10.count == Self.config.clusterCounts.count)
        #expect(zip(log10, log10.dropFirst()).allSatisfy { $0 < $1 }, "\(log10)")
        // The posterior's advantage over a coin shrinks with every K, and never goes negative.
        let advantage = Self.config.clusterCounts.compactMap { report.row(level, clusters: $0).map { $0.expectedRate - 0.5 } }
        #expect(zip(advantage, advantage.dropFirst()).allSatisfy { $0 > $1 && $1 >= 0 }, "\(advantage)")
    }

    @Test func neighbourhoodLeavesFewerHypothesesThanPath() throws {
        let report = try Self.report.get()
        for k in Self.config.clusterCounts.dropFirst() {
            let path = try #require(report.row(.path, clusters: k)?.meanLog10ConsistentHypotheses)
            let near = try #require(report.row(.neighbourhood, clusters: k)?.meanLog10ConsistentHypotheses)
            #expect(near < path, "K = \(k)")
        }
    }

    @Test func nothingIsACoin() throws {
        let report = try Self.report.get()
        let rows = report.rows.filter { $0.level == .nothing }
        let successes = rows.reduce(0) { $0 + $1.successes }, trials = rows.reduce(0) { $0 + $1.trials }
        let pooled = WilsonInterval(successes: successes, trials: trials)
        #expect(pooled.lower <= 0.5 && 0.5 <= pooled.upper, "\(successes)/\(trials)")
        #expect(rows.allSatisfy { $0.meanConsistentHypotheses == nil })
    }

    @Test func sameSeedSameReportAndTextHasEveryRow() throws {
        var small = Self.config
        small.clusterCounts = [3]
        small.tasksPerK = 20
        let a = try LocalInformationExperiment.run(small), b = try LocalInformationExperiment.run(small)
        #expect(a == b)
        #expect(a.text.split(separator: "\n").count == 4 + LocalInformationExperiment.Level.allCases.count)
        let decoded = try JSONDecoder().decode(LocalInformationExperiment.Report.self, from: JSONEncoder().encode(a))
        #expect(decoded == a)
    }

    @Test func certificationNeverRemovesASparseStep() throws {
        var rng = WalkRandom(seed: 3, domain: .learning, index: 0)
        let task = try LocalInformationTask.draw(clusters: 6, config: Self.config, rng: &rng)
        var sparse = 0, certified = 0
        for (i, e) in task.steps.enumerated() where task.chain.kinds[e] != .dense {
            let isDecoy = Learner.certifiedDecoy(task.neighbourhoodView(ofStep: i), threshold: Self.config.hardThreshold)
            if task.chain.kinds[e] == .sparse { sparse += 1; #expect(!isDecoy) } else if isDecoy { certified += 1 }
        }
        #expect(sparse == 5)
        #expect(certified <= task.decoysVisited)
    }

    @Test func parityVoteMatchesEnumeration() {
        let bits: [UInt8] = [1, 0, 1, 1, 0, 0, 1]
        for size in 0...bits.count {
            var even = 0, odd = 0
            for mask in 0..<(1 << bits.count) where mask.nonzeroBitCount == size {
                let parity = bits.indices.reduce(UInt8(0)) { mask >> $1 & 1 == 1 ? $0 ^ bits[$1] : $0 }
                if parity == 0 { even += 1 } else { odd += 1 }
            }
            let vote = ParityVote(bits: bits, size: size)
            #expect(vote.total == Double(even + odd))
            #expect(vote.margin == Double(even - odd))
        }
        #expect(ParityVote(bits: bits, size: 8).total == 0)
    }

    @Test func wilsonInterval() {
        let half = WilsonInterval(successes: 5, trials: 10)
        #expect(abs(half.lower - 0.2366) < 1e-4 && abs(half.upper - 0.7634) < 1e-4)
        #expect(WilsonInterval(successes: 10, trials: 10).upper == 1)
        #expect(WilsonInterval(successes: 0, trials: 10).lower == 0)
        #expect(WilsonInterval(successes: 0, trials: 0) == WilsonInterval(successes: 3, trials: 0))
    }

    @Test func badConfigsAreRejected() {
        var c = Self.config
        c.clusterCounts = [1]
        #expect(throws: ChainError.self) { try LocalInformationExperiment.run(c) }
        c = Self.config
        c.epsilon = 0.3 // not below 1/(d + 1)
        #expect(throws: ChainError.self) { try c.validate() }
        c = Self.config
        c.clusterSize = 4 // too small for d + 1 + decoys
        #expect(throws: ChainError.self) { try c.validate() }
        c = Self.config
        c.clusterCounts = []
        #expect(throws: ChainError.self) { try c.validate() }
    }
}
