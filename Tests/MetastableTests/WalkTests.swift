import Testing
import Synchronization
@testable import Metastable

@Suite("Walk")
struct WalkTests {
    // MARK: alias tables

    /// One step from `x` exactly as the kernel takes it: one draw for (record, coin), a
    /// second one only for a uniform outcome.
    static func sample(_ graph: WalkGraph, from x: Int, _ rng: inout WalkRandom) -> Int {
        let view = graph.view
        let (record, coin) = view.draw(from: UInt32(x), rng.next())
        let y = view.records[record].select(coin: coin)
        guard y & AliasRecord.uniformBit != 0 else { return Int(y) }
        return Int(MemberUniformSlots(memberOffsets: view.memberOffsets!, members: graph.clusters!.members).resolve(y, rng.next()))
    }

    /// χ² of `counts` against `probabilities`, with every bin expected below 5 pooled,
    /// and the pool folded into the smallest remaining bin if it is still below 5.
    static func chiSquare(_ counts: [Int: Int], _ probabilities: [Int: Double], samples: Int) -> (Double, Int) {
        var bins = probabilities.map { (expected: $0.value * Double(samples), observed: Double(counts[$0.key] ?? 0)) }
        #expect(Set(counts.keys).isSubset(of: probabilities.keys), "sampled a state outside the row")
        var pool = (expected: 0.0, observed: 0.0)
        bins.removeAll { bin in
            guard bin.expected < 5 else { return false }
            pool.expected += bin.expected
            pool.observed += bin.observed
            return true
        }
        if pool.expected > 0 {
            if pool.expected >= 5 { bins.append(pool) } else {
                let i = bins.indices.min { bins[$0].expected < bins[$1].expected }!
                bins[i].expected += pool.expected
                bins[i].observed += pool.observed
            }
        }
        let chi2 = bins.reduce(0.0) { $0 + ($1.observed - $1.expected) * ($1.observed - $1.expected) / $1.expected }
        return (chi2, bins.count - 1)
    }

    /// Upper 0.001 quantiles of χ² with 1...20 degrees of freedom.
    static let chiSquare999: [Double] = [
        10.828, 13.816, 16.266, 18.467, 20.515, 22.458, 24.322, 26.124, 27.877, 29.588,
        31.264, 32.909, 34.528, 36.123, 37.697, 39.252, 40.790, 42.312, 43.820, 45.315,
    ]

    static func expectRowSamplesFit(_ graph: WalkGraph, _ chain: Chain, row x: Int, seed: UInt64) {
        var expected = [Int: Double]()
        chain.forEachTransition(from: x) { y, p, _ in expected[y] = p }
        var rng = WalkRandom(seed: seed, index: UInt64(x))
        var counts = [Int: Int]()
        let samples = 1_000_000
        for _ in 0..<samples { counts[sample(graph, from: x, &rng), default: 0] += 1 }
        let (chi2, df) = chiSquare(counts, expected, samples: samples)
        #expect(df >= 1 && chi2 < chiSquare999[df - 1], "row \(x): χ² = \(chi2) with \(df) degrees of freedom")
    }

    @Test func skewedRowWithATinyProbabilityPassesChiSquare() throws {
        // Row 0: skewed, with one entry of 1e-7 (expected 0.1 times in 1e6 draws: pooled).
        let p = [0.5, 0.3, 0.15, 0.04, 0.0099999, 1e-7]
        let others = (1..<6).map { [(UInt32($0), 1.0)] }
        let rows = [p.enumerated().map { (UInt32($0.offset), $0.element) }] + others
        let chain = try Chain(
            stateCount: 6, rowOffsets: rows.reduce(into: [0]) { $0.append($0.last! + $1.count) },
            columns: rows.flatMap { $0.map(\.0) }, probabilities: rows.flatMap { $0.map(\.1) })
        let graph = try WalkGraph(chain)
        Self.expectRowSamplesFit(graph, chain, row: 0, seed: 1)
        let read = graph.transitionProbabilities(from: 0)
        #expect(abs(read[5]! - 1e-7) <= 1e-7 * 1e-12)
    }

    @Test func rowsWithAUniformPartPassChiSquare() throws {
        // Sources (uniform part + one sparse edge) and decoys (uniform part + an explicit
        // edge inside the cluster, merged with its uniform share).
        let chain = try GeneratorSpec(
            clusters: 2, clusterSize: 10, kernel: .uniform, sources: 2, epsilon: .fixed(0.05), decoys: 2, seed: 4
        ).generate()
        let graph = try WalkGraph(chain)
        #expect(graph.uniformLayout == .contiguous)
        let explicit = (0..<10).filter { !chain.entries(of: $0).isEmpty }
        #expect(explicit.count == 4)
        for x in explicit { Self.expectRowSamplesFit(graph, chain, row: x, seed: 2) }
    }

    @Test(arguments: [DenseKernel.uniform, .permutations(3), .ring(2)])
    func recordsReproduceEveryRow(kernel: DenseKernel) throws {
        let chain = try GeneratorSpec(
            clusters: 5, clusterSize: 12, kernel: kernel, topology: .complete, sources: 2,
            epsilon: .logUniform(1e-8, 1e-3), decoys: 2, seed: 8
        ).generate()
        let graph = try WalkGraph(chain)
        #expect(graph.recordCount == chain.entryCount + (kernel == .uniform ? chain.stateCount : 0))
        for x in 0..<chain.stateCount {
            var expected = [Int: Double]()
            chain.forEachTransition(from: x) { y, p, _ in expected[y] = p }
            let read = graph.transitionProbabilities(from: x)
            #expect(Set(read.keys) == Set(expected.keys), "row \(x) reaches other states")
            for (y, p) in expected {
                let q = read[y] ?? 0
                #expect(abs(q - p) <= 1e-15 && abs(q - p) <= 1e-12 * p, "p(\(x), \(y)) = \(p), records give \(q)")
            }
        }
    }

    @Test func clusterPairsAreTheCrossingEdges() throws {
        let chain = try GeneratorSpec(clusters: 4, clusterSize: 6, kernel: .permutations(3), sources: 1, seed: 2).generate()
        let graph = try WalkGraph(chain)
        #expect(graph.clusterPairs.map { [$0.from, $0.to] } == [[0, 1], [1, 2], [2, 3]])
    }

    // MARK: hitting times

    /// Mean and unbiased variance from the exact sums.
    static func moments(_ s: IntegerSampleAccumulator) -> (mean: Double, variance: Double) {
        let n = Double(s.count), sum = Double(s.sum)
        return (sum / n, (Double(s.sumOfSquares) - sum * sum / n) / (n - 1))
    }

    static func twoStateChain(q: Double) throws -> Chain {
        try Chain(stateCount: 2, rowOffsets: [0, 2, 3], columns: [0, 1, 1], probabilities: [1 - q, q, 1])
    }

    @Test func twoStateHittingTimeIsGeometric() throws {
        let q = 0.02, walks = 200_000
        let chain = try Self.twoStateChain(q: q)
        let result = try runWalks(
            WalkGraph(chain), from: StartDistribution(state: 0, stateCount: 2), to: TargetSet(states: [1], stateCount: 2),
            walks: walks, maxSteps: .max, seed: 3, threads: 2)
        let t = result.hittingTimes
        #expect(t.count == UInt64(walks) && t.censoredCount == 0 && t.min == 1)
        #expect(UInt128(result.steps) == t.sum)
        // Geometric on {1, 2, ...}: mean 1/q, variance (1-q)/q², excess kurtosis 6 + q²/(1-q).
        let mean = 1 / q, variance = (1 - q) / (q * q), kurtosis = 6 + q * q / (1 - q)
        let (m, v) = Self.moments(t)
        let n = Double(walks)
        #expect(abs(m - mean) < 4 * (variance / n).squareRoot(), "mean \(m), expected \(mean)")
        #expect(abs(v - variance) < 4 * variance * ((kurtosis + 2) / n).squareRoot(), "variance \(v), expected \(variance)")
    }

    @Test func sampledStartsAndWalksThatStartInTheTarget() throws {
        // Start in the target (τ = 0) with probability 0.3, else geometric: E τ = 0.7 / q.
        let q = 0.05, walks = 100_000
        let chain = try Self.twoStateChain(q: q)
        let start = try StartDistribution(weights: [(0, 0.7), (1, 0.3)], stateCount: 2)
        let result = try runWalks(
            WalkGraph(chain), from: start, to: TargetSet(states: [1], stateCount: 2), walks: walks, maxSteps: .max,
            seed: 5, threads: 1)
        let (m, v) = Self.moments(result.hittingTimes)
        #expect(result.hittingTimes.min == 0)
        #expect(abs(m - 0.7 / q) < 4 * (v / Double(walks)).squareRoot(), "mean \(m), expected \(0.7 / q)")

        let inside = try runWalks(
            WalkGraph(chain), from: StartDistribution(state: 1, stateCount: 2), to: TargetSet(states: [1], stateCount: 2),
            walks: 10, maxSteps: 0, seed: 5, threads: 1)
        #expect(inside.hittingTimes.count == 10 && inside.hittingTimes.max == 0 && inside.hittingTimes.censoredCount == 0)
        #expect(inside.steps == 0)
    }

    @Test func walksThatReachTheCapAreCensoredNotDropped() throws {
        let chain = try GeneratorSpec(clusters: 3, clusterSize: 50, kernel: .permutations(3), epsilon: .fixed(1e-6), seed: 1).generate()
        let graph = try WalkGraph(chain)
        let target = try TargetSet(cluster: 2, of: chain)
        for cap: UInt64 in [0, 5] {
            let result = try runWalks(
                graph, from: StartDistribution(uniformOn: 0, of: chain), to: target, walks: 1000, maxSteps: cap, seed: 2,
                threads: 2, batchSize: 300, observer: ClusterObserver.self)
            let t = result.hittingTimes
            #expect(t.count == 1000 && t.censoredCount == 1000 && t.min == cap && t.max == cap)
            #expect(result.steps == 1000 * cap)
            #expect(result.statistics.hardSteps.censoredCount == 1000)
        }
    }

    /// E τ by solving (I - P) h = 1 off the target, densely (small chains only).
    static func exactMeanHittingTime(_ chain: Chain, from x0: Int, to target: Set<Int>) -> Double {
        let free = (0..<chain.stateCount).filter { !target.contains($0) }
        let index = Dictionary(uniqueKeysWithValues: free.enumerated().map { ($0.element, $0.offset) })
        let n = free.count
        var a = [[Double]](repeating: [Double](repeating: 0, count: n + 1), count: n)
        for (i, x) in free.enumerated() {
            a[i][i] = 1
            a[i][n] = 1
            chain.forEachTransition(from: x) { y, p, _ in if let j = index[y] { a[i][j] -= p } }
        }
        for c in 0..<n {
            let pivot = (c..<n).max { abs(a[$0][c]) < abs(a[$1][c]) }!
            a.swapAt(c, pivot)
            for r in 0..<n where r != c {
                let f = a[r][c] / a[c][c]
                if f != 0 { for k in c...n { a[r][k] -= f * a[c][k] } }
            }
        }
        return a[index[x0]!][n] / a[index[x0]!][index[x0]!]
    }

    /// Uniform parts with contiguous clusters, the same rows stored as edges, and uniform
    /// parts over clusters that are not id ranges (the member-list path).
    static func equivalentChains() throws -> [(String, Chain)] {
        let uniform = try GeneratorSpec(clusters: 3, clusterSize: 6, kernel: .uniform, sources: 2, epsilon: .fixed(0.1), seed: 6).generate()
        // Cluster of x is x % 3; states 0 and 1 have an edge of 0.1 into the next cluster.
        let labels = try ClusterLabels(labels: (0..<18).map { UInt32($0 % 3) })
        let interleaved = try Chain(
            stateCount: 18, rowOffsets: [0, 1, 2] + [Int](repeating: 2, count: 16), columns: [4, 8],
            probabilities: [0.1, 0.1], uniformMass: [0.9, 0.9] + [Double](repeating: 1, count: 16), clusters: labels)
        return [("uniform", uniform), ("expanded", uniform.expanded()), ("interleaved", interleaved)]
    }

    @Test func uniformSlotsAndStoredEdgesGiveTheExactMean() throws {
        for (name, chain) in try Self.equivalentChains() {
            let graph = try WalkGraph(chain)
            let target = try TargetSet(cluster: 2, of: chain)
            let exact = Self.exactMeanHittingTime(chain, from: 0, to: Set(target.states))
            let walks = 20_000
            let result = try runWalks(
                graph, from: StartDistribution(state: 0, stateCount: chain.stateCount), to: target, walks: walks,
                maxSteps: .max, seed: 9, threads: 2)
            let (m, v) = Self.moments(result.hittingTimes)
            #expect(abs(m - exact) < 4 * (v / Double(walks)).squareRoot(), "\(name): mean \(m), exact \(exact)")
        }
        let layouts = try Self.equivalentChains().map { try WalkGraph($0.1).uniformLayout }
        #expect(layouts == [.contiguous, .none, .members])
    }

    // MARK: determinism

    @Test func outOfCacheGraphsInterleaveMoreWalkers() throws {
        func task(states: Int) throws -> WalkTask {
            let chain = try GeneratorSpec(clusters: 2, clusterSize: states / 2, kernel: .uniform, epsilon: .fixed(0.01), seed: 1).generate()
            return try WalkTask(
                graph: WalkGraph(chain, hugePages: false), start: StartDistribution(state: 0, stateCount: chain.stateCount),
                target: TargetSet(cluster: 1, of: chain), maxSteps: 100, seed: 3)
        }
        let small = try task(states: 1 << 12), large = try task(states: 1 << 21)
        #expect(small.graph.bytes < WalkTask.outOfCacheBytes && small.defaultWalkers == 32)
        #expect(large.graph.bytes >= WalkTask.outOfCacheBytes && large.defaultWalkers == 128)
        #expect(try large.run(walks: 0..<200) == large.run(walks: 0..<200, walkers: 1))
    }

    @Test func resultsDependOnlyOnTheSeedNotOnThreadsBatchesOrWalkers() throws {
        let chain = try GeneratorSpec(
            clusters: 4, clusterSize: 16, kernel: .uniform, topology: .chainBidirectional, sources: 2,
            epsilon: .fixed(0.02), decoys: 1, seed: 7
        ).generate()
        let graph = try WalkGraph(chain)
        let task = try WalkTask(
            graph: graph, start: StartDistribution(uniformOn: 0, of: chain), target: TargetSet(cluster: 3, of: chain),
            maxSteps: 3000, seed: 11)
        let walks = 3000
        let reference = try task.run(walks: walks, threads: 1, batchSize: walks, observer: ClusterObserver.self)
        #expect(reference.hittingTimes.censoredCount > 0 && reference.hittingTimes.censoredCount < UInt64(walks))
        for (threads, batchSize, walkers) in [(3, 7, 5), (2, 64, 1), (3, 1000, 32), (2, 2999, 64)] {
            let other = try task.run(
                walks: walks, threads: threads, batchSize: batchSize, walkersPerThread: walkers, observer: ClusterObserver.self)
            #expect(other == reference, "threads \(threads), batch size \(batchSize), \(walkers) walkers")
        }
        var split = try task.run(walks: 0..<1234, walkers: 32, observer: ClusterObserver.self)
        split.merge(try task.run(walks: 1234..<walks, walkers: 3, observer: ClusterObserver.self))
        #expect(split == reference)
        let reseeded = try WalkTask(
            graph: graph, start: StartDistribution(uniformOn: 0, of: chain), target: TargetSet(cluster: 3, of: chain),
            maxSteps: 3000, seed: 12)
        #expect(try reseeded.run(walks: walks, threads: 2, observer: ClusterObserver.self) != reference)
    }

    @Test func progressIsReportedOncePerBatch() throws {
        let chain = try Self.twoStateChain(q: 0.1)
        let seen = Mutex([WalkProgress]())
        let result = try runWalks(
            WalkGraph(chain), from: StartDistribution(state: 0, stateCount: 2), to: TargetSet(states: [1], stateCount: 2),
            walks: 1000, maxSteps: .max, seed: 1, threads: 3, batchSize: 64
        ) { p in seen.withLock { $0.append(p) } }
        let reports = seen.withLock { $0 }
        #expect(reports.map(\.batchesDone) == Array(1...16))
        #expect(reports.last == WalkProgress(batchesDone: 16, batchCount: 16, walksDone: 1000, steps: result.steps))
    }

    // MARK: cluster observer

    @Test(arguments: [DenseKernel.uniform, .permutations(3)])
    func chainTopologyTakesOneHardStepPerClusterAndVisitsAll(kernel: DenseKernel) throws {
        let k = 5, walks = 500
        let chain = try GeneratorSpec(
            clusters: k, clusterSize: 8, kernel: kernel, topology: .chain, sources: 2, epsilon: .fixed(0.05), seed: 3
        ).generate()
        let result = try runWalks(
            WalkGraph(chain), from: StartDistribution(uniformOn: 0, of: chain), to: TargetSet(cluster: k - 1, of: chain),
            walks: walks, maxSteps: 10_000_000, seed: 4, threads: 2, batchSize: 100, observer: ClusterObserver.self)
        let s = result.statistics
        #expect(result.hittingTimes.censoredCount == 0)
        #expect(s.hardSteps.count == UInt64(walks) && s.hardSteps.min == UInt64(k - 1) && s.hardSteps.max == UInt64(k - 1))
        #expect(s.clustersVisited.min == UInt64(k) && s.clustersVisited.max == UInt64(k))
        for from in 0..<k {
            for to in 0..<k where to != from {
                #expect(s.transitions.count(from: from, to: to) == (to == from + 1 ? UInt64(walks) : 0))
            }
        }
        #expect((0..<k).reduce(0) { $0 + s.transitions.steps(in: $1) } == result.steps)
        #expect(s.transitions.steps(in: k - 1) == 0)
    }

    @Test func clusterObserverNeedsClusterLabels() throws {
        let chain = try GeneratorSpec(clusters: 2, clusterSize: 4, kernel: .permutations(2), seed: 1).generate().withClusters(nil)
        #expect(throws: WalkError(.noClusterLabels, "the cluster observer needs cluster labels, and the chain has none")) {
            try runWalks(
                WalkGraph(chain), from: StartDistribution(state: 0, stateCount: 8), to: TargetSet(states: [7], stateCount: 8),
                walks: 10, maxSteps: 100, seed: 1, threads: 1, observer: ClusterObserver.self)
        }
    }

    @Test func startsAndTargetsMustFitTheGraph() throws {
        let graph = try WalkGraph(Self.twoStateChain(q: 0.5))
        #expect {
            try WalkTask(
                graph: graph, start: StartDistribution(state: 0, stateCount: 2),
                target: TargetSet(states: [70], stateCount: 100), maxSteps: 10, seed: 1)
        } throws: { ($0 as? WalkError)?.reason == .mismatch }
    }

    // MARK: benchmark

    @Test func benchmarkReportsEveryConfiguration() throws {
        var options = WalkBenchmark.Options(threadCounts: [1, 2])
        options.repetitions = 1
        options.workScale = 1e-4
        options.smallStates = 1 << 10
        options.largeStates = 1 << 12
        let results = try WalkBenchmark.run(options)
        // Two graphs in cache × (1, 32 walkers scalar, 32 in lanes where the CPU has AVX-512),
        // two "out of cache" (small here) × (1, 64, 128), each on 1 and 2 threads.
        let lanes = LaneKernel.isSupported ? 1 : 0
        #expect(results.count == (2 * (2 + lanes) + 2 * 3) * 2)
        for r in results { #expect(r.steps > 0 && r.seconds > 0 && r.stepsPerSecond > 0) }
        let inCache = results.filter { $0.name.hasSuffix("(in cache)") && $0.walkersPerThread == 32 }
        #expect(inCache.filter { $0.kernel == "scalar" }.count == 4 && inCache.filter { $0.kernel == "lanes" }.count == 4 * lanes)
        #expect(results.filter { $0.walkersPerThread == 1 }.allSatisfy { $0.kernel == "scalar" })
    }
}
