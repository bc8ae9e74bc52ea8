import Foundation

/// The Swift side of `metastable bench --suite`: the graphs every implementation walks, and
/// the Swift kernel's and exact solver's timings on them. The references (a C loop, numpy,
/// scipy) read the same graphs through `WalkGraphExport`.
public enum BenchSuite {
    /// A graph with walks from `start` to `targets`, as the suite measures them.
    public struct Walk: Sendable {
        public let name: String
        public let graph: WalkGraph
        public let start: Int
        public let targets: [Int]
        let startDistribution: StartDistribution
        let target: TargetSet

        /// Steps per second of the walk kernel (`.scalar`: the scalar one even where the lane
        /// kernel applies) on one thread with `walkers` interleaved walks of `stepsPerWalk`
        /// steps each (targets are out of reach): the median of `repetitions` runs.
        public func stepsPerSecond(
            walkers: Int, stepsPerWalk: UInt64, kernel: WalkKernelChoice = .automatic, repetitions: Int = 3
        ) throws -> Double {
            let task = try WalkTask(
                graph: graph, start: startDistribution, target: target, maxSteps: stepsPerWalk, seed: 1, kernel: kernel)
            let clock = ContinuousClock()
            var rates = [Double]()
            for _ in 0..<Swift.max(1, repetitions) {
                let t0 = clock.now
                let steps = try task.run(walks: walkers, threads: 1, batchSize: walkers, walkersPerThread: walkers).steps
                rates.append(Double(steps) / WalkBenchmark.seconds(clock.now - t0))
            }
            return rates.sorted()[rates.count / 2]
        }

        /// Whether the lane kernel runs `walkers` walks per thread on this graph.
        public func runsInLanes(walkers: Int) throws -> Bool {
            try WalkTask(graph: graph, start: startDistribution, target: target, maxSteps: 1, seed: 1)
                .runsInLanes(walkers: walkers)
        }

        /// The walks the kernel interleaves per thread on this graph when not told.
        public var defaultWalkers: Int { WalkTask.defaultWalkers(graphBytes: graph.bytes) }

        /// Writes the graph, start and targets for the reference implementations.
        public func export(to url: URL) throws {
            try WalkGraphExport.write(graph, start: start, targets: targets, to: url)
        }
    }

    /// The permutations(8) graph that fits in L2: 8192 states, 1 MiB of records, two
    /// clusters joined by an edge of 1e-12, walks confined to the first (0.5 MiB).
    public static func inCacheWalk() throws -> Walk {
        try walk(states: 1 << 13, inCache: true)
    }

    /// The permutations(8) graph far outside the caches: `states` states in one cluster
    /// (2^22 by default: 512 MiB of records, 16 times the L3), target one state.
    public static func outOfCacheWalk(states: Int = 1 << 22) throws -> Walk {
        try walk(states: states, inCache: false)
    }

    private static func walk(states: Int, inCache: Bool) throws -> Walk {
        let (graph, start, target) = try WalkBenchmark.makeWalk(
            kernel: .permutations(8), states: states, inCache: inCache, hugePages: true)
        let mib = String(format: "%.0f", Double(graph.bytes) / 1048576)
        return Walk(
            name: "permutations(8), \(states) states, \(mib) MiB", graph: graph, start: 0, targets: target.states,
            startDistribution: start, target: target)
    }

    /// The exact solver's system: 256 clusters of 128 states in a chain (32,768 states,
    /// permutations(8), ε = 1e-3), from cluster 0 to the last. Small dense clusters keep
    /// both the cluster elimination and a general sparse LU at a few seconds at most.
    public static func solverChain() throws -> (chain: Chain, walk: Walk) {
        let chain = try GeneratorSpec(
            clusters: 256, clusterSize: 128, kernel: .permutations(8), topology: .chain, sources: 1,
            epsilon: .fixed(1e-3), seed: 1
        ).generate()
        let target = try TargetSet(cluster: 255, of: chain)
        let graph = try WalkGraph(chain)
        let walk = Walk(
            name: "permutations(8), 256 × 128 states, ε = 1e-3", graph: graph, start: 0, targets: target.states,
            startDistribution: try StartDistribution(state: 0, stateCount: chain.stateCount), target: target)
        return (chain, walk)
    }

    /// Seconds of `ExactSolver.hittingTimes` on the solver chain, and h at the start.
    public static func solve(_ chain: Chain, walk: Walk) throws -> (seconds: Double, hittingTime: Double) {
        let clock = ContinuousClock()
        let t0 = clock.now
        let solution = try ExactSolver.hittingTimes(chain, target: walk.target)
        return (WalkBenchmark.seconds(clock.now - t0), solution.hittingTimes[walk.start])
    }
}
