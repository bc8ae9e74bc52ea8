import Foundation

/// Steps per second of the walk kernel, for `metastable bench`.
///
/// Walks start in one cluster and aim at a target they (almost) never reach, so every run
/// measures stepping: a graph that fits in L2 and one of 1 GiB of records, each with the
/// `permutations(8)` kernel (stored edges) and the `uniform` kernel (one implicit record
/// per state), one walker per thread and 32 interleaved walkers per thread in cache, 64 and
/// 128 out of cache. Interleaved walkers run in the lane kernel where the CPU has AVX-512;
/// in cache they are measured in the scalar kernel too.
public enum WalkBenchmark {
    public struct Measurement: Sendable, Equatable, Codable {
        public var name: String
        public var threads: Int
        public var walkersPerThread: Int
        /// "lanes" (AVX-512, `LaneKernel`) or "scalar".
        public var kernel: String
        public var steps: UInt64
        public var seconds: Double
        public var stepsPerSecond: Double
    }

    public struct Options: Sendable {
        /// Thread counts to measure; all cores by default, and one.
        public var threadCounts: [Int]
        /// Runs per configuration; the median by steps per second is reported.
        public var repetitions = 3
        /// Scales every run's step budget; 1 is about a second per run on one core.
        public var workScale = 1.0
        /// States of the out-of-cache graphs (2^23 = 1 GiB of permutations(8) records);
        /// 0 skips them.
        public var largeStates = 1 << 23
        /// States of the in-cache graphs (8192 × 8 records × 16 B = 1 MiB, inside a 2 MiB L2).
        public var smallStates = 1 << 13
        public var hugePages = true

        public init(threadCounts: [Int]? = nil) {
            let cores = ProcessInfo.processInfo.activeProcessorCount
            self.threadCounts = threadCounts ?? (cores > 1 ? [1, cores] : [1])
        }
    }

    /// Runs every configuration and returns one measurement (the median run) per
    /// configuration and thread count. `log` receives a line per measurement and per graph.
    public static func run(_ options: Options = Options(), log: ((String) -> Void)? = nil) throws -> [Measurement] {
        var cases: [(kernel: DenseKernel, states: Int, label: String)] = [
            (.permutations(8), options.smallStates, "in cache"),
            (.uniform, options.smallStates, "in cache"),
        ]
        if options.largeStates > 0 {
            cases += [(.permutations(8), options.largeStates, "out of cache"), (.uniform, options.largeStates, "out of cache")]
        }
        var measurements = [Measurement]()
        for c in cases {
            let inCache = c.label == "in cache"
            let clock = ContinuousClock()
            let buildStart = clock.now
            let (graph, start, target) = try makeWalk(
                kernel: c.kernel, states: c.states, inCache: inCache, hugePages: options.hugePages)
            let name = "\(c.kernel), \(c.states) states, \(String(format: "%.1f", Double(graph.bytes) / 1048576)) MiB (\(c.label))"
            log?("built \(name) in \(format(clock.now - buildStart))")
            // Per-walker step budgets for about a second per run on one core.
            let budgets: [(walkers: Int, steps: Double, kernel: WalkKernelChoice)] =
                inCache
                ? [(1, 60e6, .automatic), (32, 6e6, .scalar), (32, 20e6, .automatic)]
                : [(1, 1.5e6, .automatic), (64, 0.8e6, .automatic), (128, 0.6e6, .automatic)]
            for (walkers, budget, choice) in budgets {
                let task = try WalkTask(
                    graph: graph, start: start, target: target,
                    maxSteps: UInt64(Swift.max(1, budget * options.workScale)), seed: 1, kernel: choice)
                let kernel = task.runsInLanes(walkers: walkers) ? "lanes" : "scalar"
                if choice == .automatic, kernel == "scalar", walkers > 1, inCache { continue } // measured just above
                for threads in options.threadCounts {
                    var runs = [Measurement]()
                    for _ in 0..<Swift.max(1, options.repetitions) {
                        let t0 = clock.now
                        // One batch of `walkers` walks per thread: every thread walks its walkers to the end.
                        let steps = try task.run(
                            walks: threads * walkers, threads: threads, batchSize: walkers, walkersPerThread: walkers
                        ).steps
                        let seconds = seconds(clock.now - t0)
                        runs.append(Measurement(
                            name: name, threads: threads, walkersPerThread: walkers, kernel: kernel, steps: steps,
                            seconds: seconds,
                            stepsPerSecond: Double(steps) / seconds))
                    }
                    let median = runs.sorted { $0.stepsPerSecond < $1.stepsPerSecond }[runs.count / 2]
                    log?(String(
                        format: "%@: %d thread(s) × %d walker(s), %@ kernel: %.1f M steps/s (%.1f M per thread)",
                        name, threads, walkers, kernel, median.stepsPerSecond / 1e6,
                        median.stepsPerSecond / 1e6 / Double(threads)))
                    measurements.append(median)
                }
            }
        }
        return measurements
    }

    /// K = 2 clusters with the target in the second, joined by one edge of ε = 1e-12 (never
    /// taken in practice) for in-cache graphs; one cluster and a single target state (mean
    /// hitting time about the state count) for out-of-cache graphs, so walks roam all of it.
    static func makeWalk(
        kernel: DenseKernel, states: Int, inCache: Bool, hugePages: Bool
    ) throws -> (WalkGraph, StartDistribution, TargetSet) {
        let clusters = inCache ? 2 : 1
        let chain = try GeneratorSpec(
            clusters: clusters, clusterSize: states / clusters, kernel: kernel, topology: .chain, sources: 1,
            epsilon: .fixed(1e-12), seed: 1
        ).generate()
        let graph = try WalkGraph(chain, hugePages: hugePages)
        let target = inCache
            ? try TargetSet(cluster: 1, of: chain) : try TargetSet(states: [chain.stateCount - 1], stateCount: chain.stateCount)
        return (graph, try StartDistribution(state: 0, stateCount: chain.stateCount), target)
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    private static func format(_ d: Duration) -> String { String(format: "%.1f s", seconds(d)) }
}
