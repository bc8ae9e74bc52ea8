import Foundation
import Testing
@testable import Metastable

/// The lane kernel (8 walks per AVX-512 vector) gives every walk the path the scalar
/// kernel gives it, so whole results are equal, not just close.
@Suite("Lane kernel")
struct LaneKernelTests {
    /// Whether /proc/cpuinfo lists AVX-512 F and DQ (nil where there is no such file).
    static var cpuHasAVX512: Bool? {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return nil }
        let set = Set(flags.split(separator: " ").map(String.init))
        return set.contains("avx512f") && set.contains("avx512dq")
    }

    @Test func isChosenWhereTheCPUHasAVX512() throws {
        let expected = try #require(Self.cpuHasAVX512, "no /proc/cpuinfo to check against")
        #expect(LaneKernel.isSupported == expected)
    }

    /// Chains for every branch of the lane kernel: stored edges only (no uniform parts),
    /// uniform parts over id ranges (a second draw), several targets, decoys.
    static func chains() throws -> [(String, Chain)] {
        [
            ("permutations", try GeneratorSpec(clusters: 4, clusterSize: 32, kernel: .permutations(4), epsilon: .fixed(0.05), seed: 3).generate()),
            ("uniform", try GeneratorSpec(
                clusters: 4, clusterSize: 16, kernel: .uniform, topology: .chainBidirectional, sources: 2,
                epsilon: .fixed(0.02), decoys: 1, seed: 7).generate()),
            ("ring", try GeneratorSpec(clusters: 3, clusterSize: 20, kernel: .ring(2), topology: .complete, epsilon: .fixed(0.1), seed: 2).generate()),
        ]
    }

    @Test func resultsEqualTheScalarKernel() throws {
        for (name, chain) in try Self.chains() {
            let graph = try WalkGraph(chain)
            let last = chain.clusters!.clusterCount - 1
            let cases: [(String, StartDistribution, TargetSet, UInt64)] = [
                ("one state", try StartDistribution(state: 0, stateCount: chain.stateCount),
                 try TargetSet(states: [chain.stateCount - 1], stateCount: chain.stateCount), .max),
                ("a cluster, capped", try StartDistribution(uniformOn: 0, of: chain), try TargetSet(cluster: last, of: chain), 400),
                // Some walks start in the target (τ = 0).
                ("starts in the target", try StartDistribution(weights: [(0, 1), (chain.stateCount - 1, 1)], stateCount: chain.stateCount),
                 try TargetSet(cluster: last, of: chain), 5000),
                ("cap of 1", try StartDistribution(state: 0, stateCount: chain.stateCount), try TargetSet(cluster: last, of: chain), 1),
                ("cap of 0", try StartDistribution(state: 0, stateCount: chain.stateCount), try TargetSet(cluster: last, of: chain), 0),
            ]
            for (label, start, target, cap) in cases {
                let lanes = try WalkTask(graph: graph, start: start, target: target, maxSteps: cap, seed: 11)
                let scalar = try WalkTask(graph: graph, start: start, target: target, maxSteps: cap, seed: 11, kernel: .scalar)
                #expect((lanes.lanes != nil) == LaneKernel.isSupported && scalar.lanes == nil)
                // 2500 walks cross the 1024-walk chunks handed to C; 13 walkers leave 3 lanes idle.
                for walkers in [8, 13, 32, 64] {
                    let a = try lanes.run(walks: 0..<2500, walkers: walkers), b = try scalar.run(walks: 0..<2500, walkers: walkers)
                    #expect(a == b, "\(name), \(label), \(walkers) walkers")
                    #expect(a.hittingTimes.count == 2500)
                    // Cluster statistics replayed from the kernel's events (which fill their
                    // buffer many times over here) equal the scalar kernel's step by step count.
                    let c = try lanes.run(walks: 0..<2500, walkers: walkers, observer: ClusterObserver.self)
                    #expect(try c == scalar.run(walks: 0..<2500, walkers: walkers, observer: ClusterObserver.self),
                            "\(name), \(label), \(walkers) walkers, cluster statistics")
                    #expect(c.hittingTimes == a.hittingTimes)
                }
                #expect(try lanes.run(walks: 100..<103) == scalar.run(walks: 100..<103), "\(name), \(label), 3 walks")
                #expect(try lanes.run(walks: 100..<103, observer: ClusterObserver.self)
                        == scalar.run(walks: 100..<103, observer: ClusterObserver.self))
                #expect(try lanes.run(walks: 7..<7) == scalar.run(walks: 7..<7))
            }
        }
    }

    @Test func hittingTimesMatchTheExactSolver() throws {
        // The uniform kernel's second draw and the stored-edge path, against E τ solved exactly.
        for (name, chain) in try Self.chains() {
            let target = try TargetSet(cluster: chain.clusters!.clusterCount - 1, of: chain)
            let exact = WalkTests.exactMeanHittingTime(chain, from: 0, to: Set(target.states))
            let walks = 20_000
            let task = try WalkTask(
                graph: WalkGraph(chain), start: StartDistribution(state: 0, stateCount: chain.stateCount), target: target,
                maxSteps: .max, seed: 4)
            let result = try task.run(walks: walks, threads: 2, walkersPerThread: 32)
            let (m, v) = WalkTests.moments(result.hittingTimes)
            #expect(result.hittingTimes.censoredCount == 0)
            #expect(abs(m - exact) < 4 * (v / Double(walks)).squareRoot(), "\(name): mean \(m), exact \(exact)")
        }
    }

    @Test func appliesOnlyWhereItCanRun() throws {
        let chain = try Self.chains()[1].1
        let start = try StartDistribution(state: 0, stateCount: chain.stateCount)
        let target = try TargetSet(cluster: 3, of: chain)
        // Member lists (clusters that are not id ranges) stay with the scalar kernel.
        let interleaved = try WalkTests.equivalentChains()[2].1
        let members = try WalkTask(
            graph: WalkGraph(interleaved), start: StartDistribution(state: 0, stateCount: 18),
            target: TargetSet(cluster: 2, of: interleaved), maxSteps: 100, seed: 1)
        #expect(members.lanes == nil)
        // Graphs larger than the caches run pipelined with prefetching: the same paths again.
        let large = try GeneratorSpec(clusters: 2, clusterSize: 1 << 20, kernel: .uniform, epsilon: .fixed(0.01), seed: 1).generate()
        let largeGraph = try WalkGraph(large, hugePages: false)
        #expect(largeGraph.bytes >= WalkTask.outOfCacheBytes)
        for target in [try TargetSet(cluster: 1, of: large), try TargetSet(states: [5, 77, 1 << 20], stateCount: large.stateCount)] {
            let tasks = try [WalkKernelChoice.automatic, .scalar].map { kernel throws in
                try WalkTask(
                    graph: largeGraph, start: StartDistribution(state: 0, stateCount: large.stateCount), target: target,
                    maxSteps: 3000, seed: 3, kernel: kernel)
            }
            #expect((tasks[0].lanes != nil) == LaneKernel.isSupported)
            #expect(try tasks[0].run(walks: 0..<3000, walkers: 64) == tasks[1].run(walks: 0..<3000, walkers: 64))
            #expect(try tasks[0].run(walks: 0..<3000, walkers: 64, observer: ClusterObserver.self)
                    == tasks[1].run(walks: 0..<3000, walkers: 64, observer: ClusterObserver.self))
        }
        // Fewer than 8 walkers per thread run scalar, with the same result.
        let task = try WalkTask(graph: WalkGraph(chain), start: start, target: target, maxSteps: 3000, seed: 5)
        #expect(try task.run(walks: 0..<500, walkers: 7) == task.run(walks: 0..<500, walkers: 32))
        #expect(try task.run(walks: 0..<500, walkers: 7, observer: ClusterObserver.self)
                == task.run(walks: 0..<500, walkers: 32, observer: ClusterObserver.self))
    }
}
