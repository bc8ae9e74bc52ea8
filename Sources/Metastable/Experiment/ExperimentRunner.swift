import Foundation
import Synchronization

/// Runs every grid point of a plan: prepares the chain, solves it exactly, has an executor
/// run the walks (threads here, or workers of a cluster), and puts Monte Carlo and exact
/// values side by side.
public struct ExperimentRunner: Sendable {
    public var executor: any WalkExecutor
    public var progress: ProgressReporter

    public init(executor: any WalkExecutor, progress: ProgressReporter = ProgressReporter(style: .silent)) {
        self.executor = executor
        self.progress = progress
    }

    /// Walks on `threads` threads of this process.
    public init(threads: Int, progress: ProgressReporter = ProgressReporter(style: .silent)) {
        self.init(executor: LocalExecutor(threads: threads), progress: progress)
    }

    public func run(_ plan: ExperimentPlan) throws -> (ExperimentResults, [PointPerformance]) {
        var points = [PointResult]()
        var performance = [PointPerformance]()
        for index in plan.points.indices {
            let label = plan.points.count > 1 ? "point \(index + 1) of \(plan.points.count)" : plan.name
            let (result, timing) = try run(PreparedPoint(plan, point: index), parameters: plan.points[index].parameters, label: label)
            points.append(result)
            performance.append(timing)
        }
        let results = ExperimentResults(
            experiment: plan.name, description: plan.points.first?.spec.summary, gridParameters: plan.gridParameters,
            points: points, fits: plan.fit.map { ScalingFits($0, points: points) })
        return (results, performance)
    }

    func run(_ point: PreparedPoint, parameters: [(name: String, value: String)], label: String) throws -> (PointResult, PointPerformance) {
        let spec = point.spec
        let reference = try point.reference(solve: spec.exact)

        progress.begin(label)
        let clock = ProgressReporter.now()
        let progress = self.progress
        let migrations = Mutex(0)
        let outcome = try executor.run(point) { p in
            progress.update(done: p.walksDone, total: spec.walks, steps: p.steps)
            migrations.withLock { $0 = Swift.max($0, p.migrations) }
        }
        let seconds = ProgressReporter.now() - clock
        progress.update(done: spec.walks, total: spec.walks, steps: outcome.steps, force: true)
        progress.end()

        let summary = outcome.hittingTimes.summary
        var relativeError: Double?, zScore: Double?
        if let e = reference.exact?.expectedHittingTime, let mean = summary.mean, e > 0 {
            relativeError = (mean - e) / e
            if let se = summary.standardError, se > 0 { zScore = (mean - e) / se }
        }
        let result = PointResult(
            index: point.index, parameters: Dictionary(parameters.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }),
            chain: reference.chain, start: reference.start, targetStates: reference.targetStates, walks: spec.walks, maxSteps: spec.maxSteps, walkSeed: point.walkSeed,
            steps: outcome.steps, hittingTime: summary,
            histogram: outcome.hittingTimes.histogram.nonEmptyBins.map {
                [LogHistogram.lowerBound(of: $0.bin), LogHistogram.upperBound(of: $0.bin), $0.count]
            },
            hardSteps: outcome.hardSteps?.summary, clustersVisited: outcome.clustersVisited?.summary, exact: reference.exact,
            closedForm: reference.closedForm, relativeError: relativeError, zScore: zScore)
        let moved = spec.shards == nil ? nil : migrations.withLock { $0 }
        let timing = PointPerformance(
            index: point.index, threads: executor.parallelism, walkSeconds: seconds,
            stepsPerSecond: Double(outcome.steps) / max(seconds, 1e-9), exactSeconds: reference.exactSeconds,
            migrations: moved, migrationsPerSecond: moved.map { Double($0) / max(seconds, 1e-9) })
        return (result, timing)
    }
}

/// Builds the chain a spec names.
public enum ChainLoader {
    public static func load(_ source: ChainSource) throws -> Chain {
        switch source {
        case .generated(let spec): try spec.generate()
        case .file(let path, let labels, let normalize): try ChainFile.load(path: path, labelsPath: labels, normalize: normalize)
        }
    }
}

extension ClusterReference {
    /// The cluster's index in `chain`; `role` ("start", "target") names it in the error.
    func index(in chain: Chain, for role: String) throws(ChainError) -> Int {
        guard let clusters = chain.clusters else {
            throw ChainError(.badLabel, "\(role) cluster \(self) given, but the chain has no cluster labels")
        }
        return resolve(in: clusters)
    }
}

extension StartSpec {
    public func resolve(in chain: Chain) throws(ChainError) -> StartDistribution {
        switch self {
        case .state(let s): try StartDistribution(state: s, stateCount: chain.stateCount)
        case .cluster(let c): try StartDistribution(uniformOn: c.index(in: chain, for: "start"), of: chain)
        case .distribution(let weights):
            try StartDistribution(weights: weights.map { ($0.state, $0.weight) }, stateCount: chain.stateCount)
        }
    }
}

extension TargetSpec {
    public func resolve(in chain: Chain) throws(ChainError) -> TargetSet {
        switch self {
        case .states(let states): try TargetSet(states: states, stateCount: chain.stateCount)
        case .cluster(let c): try TargetSet(cluster: c.index(in: chain, for: "target"), of: chain)
        }
    }
}

extension ChainSummary {
    init(_ chain: some RowAccess, source: ChainSource) {
        let description: String
        switch source {
        case .generated(let g):
            description = "generated: K=\(g.clusters) M=\(g.clusterSize) \(g.kernel) \(g.topology) sources=\(g.sources) ε=\(g.epsilon) decoys=\(g.decoys) seed=\(g.seed)"
        case .file(let path, _, _):
            description = path
        }
        self.init(
            source: description, states: chain.stateCount, clusters: chain.clusters?.clusterCount,
            transitions: chain.transitionCount, sparseEdges: chain.sparseEdgeCount)
    }
}
