import Foundation
import Testing
@testable import Metastable

/// Partitioned graphs: walks cut into segments on shards, migrating between them, give the
/// statistics of the whole-graph run bit for bit; migrants that cannot be a walk of the
/// shard are refused by name.
@Suite("ShardedWalks")
struct ShardedWalksTests {
    static func chain(kernel: DenseKernel, topology: Topology = .chain) throws -> Chain {
        try GeneratorSpec(
            clusters: 6, clusterSize: 20, kernel: kernel, topology: topology, sources: 2, epsilon: .fixed(0.02), decoys: 1,
            seed: 3
        ).generate()
    }

    static func replicated(_ chain: Chain, _ start: StartDistribution, _ target: TargetSet, walks: Int) throws -> MonteCarloOutcome {
        let task = try WalkTask(graph: WalkGraph(chain), start: start, target: target, maxSteps: 1 << 30, seed: 11)
        return try task.outcome(walks: walks, threads: 2, batchSize: 97, observeClusters: chain.clusters != nil)
    }

    @Test(arguments: [(DenseKernel.uniform, 2), (.uniform, 3), (.permutations(3), 4), (.ring(2), 6), (.permutations(3), 1)])
    func shardedEqualsReplicated(kernel: DenseKernel, shards: Int) throws {
        let chain = try Self.chain(kernel: kernel, topology: .complete)
        let start = try StartDistribution(state: 5, stateCount: chain.stateCount)
        let target = try TargetSet(cluster: 5, of: chain)
        let sharded = try ShardedWalks(chain: chain, start: start, target: target, shards: shards, maxSteps: 1 << 30, seed: 11)
        let (outcome, migrations) = try sharded.outcome(walks: 1000, batchSize: 97, threads: 2)
        let expected = try Self.replicated(chain, start, target, walks: 1000)
        #expect(outcome == expected)
        // How often walks cross between shards depends on the walks and where batches start
        // (batch b on shard b mod N), not on threads or interleaving; other batches, same outcome.
        let other = try sharded.outcome(walks: 1000, batchSize: 97, threads: 1, walkersPerThread: 5)
        #expect(try sharded.outcome(walks: 1000, batchSize: 13, threads: 2).outcome == expected)
        #expect(other.outcome == expected && other.migrations == migrations)
        #expect(outcome.hittingTimes.count == 1000)
        // Every walk crosses at least one cluster boundary between shards, unless one shard holds all.
        #expect(shards == 1 ? migrations == 0 : migrations >= 1)
        #expect(sharded.partition.edges.reduce(0, +) == (try WalkGraph(chain)).recordCount)
    }

    @Test func theExampleSpecRunsPartitionedLikeReplicated() throws {
        let url = ExperimentSpecTests.packageRoot.appendingPathComponent("experiments/partitioned.yaml")
        var plan = try ExperimentPlan.parse(yaml: String(contentsOf: url, encoding: .utf8), file: url.path)
        #expect(plan.points.count == 1 && plan.points[0].spec.shards == 4)
        plan.points[0].spec.walks = 300
        plan.points[0].spec.exact = false
        let sharded = try ExperimentRunner(threads: 2).run(plan).0
        plan.points[0].spec.shards = nil
        let replicated = try ExperimentRunner(threads: 2).run(plan).0
        #expect(try sharded.jsonData() == replicated.jsonData())
    }

    @Test func aWorkerReadsOnlyItsShardsRowsFromABinaryGraph() throws {
        let chain = try Self.chain(kernel: .permutations(3), topology: .complete)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sharded-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("g.msgraph").path
        try ChainFile.save(chain, to: path)
        let yaml = "chain: {graph: \(path)}\nstart: 5\ntarget: {cluster: 5}\nwalks: 600\nbatch_size: 50\nseed: 4\n"
        let replicated = try PreparedPoint(ExperimentPlan.parse(yaml: yaml), point: 0)
        let worker = try PreparedPoint(ExperimentPlan.parse(yaml: yaml + "shards: 3\n"), point: 0, shardRowsOnly: true)
        guard case .sharded(let sharded) = worker.walks else { Issue.record("not sharded"); return }
        #expect(sharded.rowsFile == path && sharded.chain.entryCount == 0)
        #expect(sharded.partition == (try GraphPartition(chain, shards: 3)))
        let expected = try LocalExecutor(threads: 2).run(replicated) { _ in }
        #expect(try LocalExecutor(threads: 2).run(worker) { _ in } == expected)
        for s in 0..<3 {
            // Each shard's graph holds its own clusters' records and no others.
            #expect(try sharded.task(forShard: s).graph.recordCount == sharded.partition.edges[s])
        }
        #expect(throws: WalkError.self) { try worker.reference(solve: false) }
        // Not a binary graph: a worker loads the whole chain, as before.
        let text = directory.appendingPathComponent("g.mtx").path
        try ChainFile.save(chain, to: text, labelsPath: text + ".labels")
        let textYAML = "chain: {graph: \(text), labels: \(text).labels}\nstart: 5\ntarget: {cluster: 5}\nwalks: 50\nshards: 3\n"
        let whole = try PreparedPoint(ExperimentPlan.parse(yaml: textYAML), point: 0, shardRowsOnly: true)
        guard case .sharded(let wholeSharded) = whole.walks else { Issue.record("not sharded"); return }
        #expect(wholeSharded.rowsFile == nil)
    }

    /// Without `exact`, a partitioned point of a binary graph holds no rows on the
    /// coordinator either: reachability, summary and closed form come from the mapped file.
    @Test(arguments: [(DenseKernel.uniform, Topology.chain), (.permutations(3), .complete)])
    func withoutTheExactValueNoProcessHoldsTheWholeChain(kernel: DenseKernel, topology: Topology) throws {
        let chain = try GeneratorSpec(
            clusters: 6, clusterSize: 20, kernel: kernel, topology: topology, sources: 1, epsilon: .fixed(0.05), seed: 3
        ).generate()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sharded-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("g.msgraph").path
        try ChainFile.save(chain, to: path)
        let yaml = "chain: {graph: \(path)}\nstart: 3\ntarget: {cluster: 5}\nwalks: 400\nbatch_size: 50\nexact: false\n"
        let replicated = try PreparedPoint(ExperimentPlan.parse(yaml: yaml), point: 0)
        let coordinator = try PreparedPoint(ExperimentPlan.parse(yaml: yaml + "shards: 2\n"), point: 0)
        guard case .sharded(let sharded) = coordinator.walks else { Issue.record("not sharded"); return }
        #expect(sharded.rowsFile == path && sharded.chain.entryCount == 0)
        let (a, b) = (try replicated.reference(solve: false), try coordinator.reference(solve: false))
        #expect(a.chain == b.chain && a.closedForm == b.closedForm && a.start == b.start && a.targetStates == b.targetStates)
        #expect((a.closedForm != nil) == (kernel == .uniform))
        #expect(try LocalExecutor(threads: 2).run(coordinator) { _ in } == LocalExecutor(threads: 2).run(replicated) { _ in })
        // The reachability check still runs, in the mapped file.
        if topology == .chain {
            let backwards = "chain: {graph: \(path)}\nstart: 110\ntarget: {cluster: 0}\nexact: false\nshards: 2\n"
            #expect(throws: ChainError.self) { try PreparedPoint(ExperimentPlan.parse(yaml: backwards), point: 0) }
        }
    }

    @Test func censoredWalksAndSpreadStartsMatchToo() throws {
        let chain = try Self.chain(kernel: .permutations(3), topology: .complete)
        let weights = stride(from: 0, to: 100, by: 7).map { (state: $0, weight: Double($0 % 5 + 1)) }
        let start = try StartDistribution(weights: weights, stateCount: chain.stateCount)
        let target = try TargetSet(cluster: 5, of: chain)
        for maxSteps: UInt64 in [1, 40, 400] {
            let sharded = try ShardedWalks(chain: chain, start: start, target: target, shards: 3, maxSteps: maxSteps, seed: 11)
            let task = try WalkTask(graph: WalkGraph(chain), start: start, target: target, maxSteps: maxSteps, seed: 11)
            let expected = try task.outcome(walks: 700, threads: 1, batchSize: 64, observeClusters: true)
            #expect(try sharded.outcome(walks: 700, batchSize: 64, threads: 2).outcome == expected)
        }
    }

    @Test func partitionBalancesEdgesByWholeClusters() throws {
        let chain = try Self.chain(kernel: .permutations(3))
        let partition = try GraphPartition(chain, shards: 4)
        #expect(Set(partition.shardOfCluster).count == 4)
        for x in 0..<chain.stateCount {
            #expect(partition.shard(ofState: x) == Int(partition.shardOfCluster[Int(chain.clusters!.labels[x])]))
        }
        // Six clusters of nearly equal size on four shards: no shard holds more than two.
        #expect(partition.edges.max()! <= 2 * partition.edges.min()! + 8)
        #expect(throws: WalkError.self) { try GraphPartition(chain, shards: 7) }
    }

    @Test func badArrivalsAreRefusedByName() throws {
        let chain = try Self.chain(kernel: .uniform)
        let start = try StartDistribution(state: 0, stateCount: chain.stateCount)
        let target = try TargetSet(cluster: 5, of: chain)
        let sharded = try ShardedWalks(chain: chain, start: start, target: target, shards: 2, maxSteps: 1000, seed: 1)
        let mine = (0..<chain.stateCount).first { sharded.partition.shard(ofState: $0) == 0 && !target.contains($0) }!
        let theirs = (0..<chain.stateCount).first { sharded.partition.shard(ofState: $0) == 1 }!
        let label = UInt64(chain.clusters!.labels[mine])
        func migrant(state: Int, left: UInt64 = 10, observer: [UInt64]? = nil) throws -> Migrants {
            let words = observer ?? [label, 0, 1, label]
            return try Migrants(words: [7, UInt64(state), 1, 2, 3, 4, left, UInt64(words.count)] + words)
        }
        #expect(try migrant(state: mine).count == 1)
        let good = try sharded.run(Segment(shard: 0, arrivals: try migrant(state: mine)))
        #expect(good.outcome.hittingTimes.count + UInt64(good.departureCount) == 1)
        let cases: [(Migrants, String)] = [
            (try migrant(state: chain.stateCount + 4), "outside the graph"),
            (try migrant(state: theirs), "another shard"),
            (try migrant(state: mine, left: 0), "steps left"),
            (try migrant(state: mine, left: 5000), "steps left"),
            (try migrant(state: mine, observer: [label, 0, 2, label]), "lists 1"),
            (try migrant(state: mine, observer: [label + 1, 0, 1, label + 1]), "cluster"),
            (try migrant(state: mine, observer: [label, 999, 1, label]), "exceed"),
            (try migrant(state: mine, observer: [label, 0, 2, label, label + 1]), "hard steps"),
        ]
        #expect(sharded.problem(arriving: try migrant(state: mine), on: 0) == nil)
        for (arrivals, needle) in cases {
            let error = #expect(throws: WalkError.self) { try sharded.run(Segment(shard: 0, arrivals: arrivals)) }
            #expect(error?.description.contains(needle) == true, "\(error.map { "\($0)" } ?? "no error") should say \(needle)")
            // The coordinator's check, which builds no shard, says the same.
            let problem = sharded.problem(arriving: arrivals, on: 0)
            #expect(problem?.contains(needle) == true, "\(problem ?? "no problem") should say \(needle)")
        }
        #expect(throws: MigrationError.self) { try Migrants(words: [1, 2, 3]) }
        #expect(throws: MigrationError.self) { try Migrants(words: [1, 2, 3, 4, 5, 6, 7, 99]) }
        #expect(throws: WalkError.self) { try sharded.run(Segment(shard: 2, walks: 0..<4)) }
    }
}
