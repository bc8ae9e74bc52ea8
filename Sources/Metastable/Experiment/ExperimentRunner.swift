import Foundation

/// Runs every grid point of a plan: builds the chain, solves it exactly, runs the walks,
/// and puts Monte Carlo and exact values side by side.
public struct ExperimentRunner: Sendable {
    public var threads: Int
    public var progress: ProgressReporter

    public init(threads: Int, progress: ProgressReporter = ProgressReporter(style: .silent)) {
        self.threads = max(1, threads)
        self.progress = progress
    }

    public func run(_ plan: ExperimentPlan) throws -> (ExperimentResults, [PointPerformance]) {
        var points = [PointResult]()
        var performance = [PointPerformance]()
        for (index, point) in plan.points.enumerated() {
            let label = plan.points.count > 1 ? "point \(index + 1) of \(plan.points.count)" : plan.name
            let (result, timing) = try run(point, index: index, label: label)
            points.append(result)
            performance.append(timing)
        }
        let results = ExperimentResults(
            experiment: plan.name, description: plan.points.first?.spec.summary, gridParameters: plan.gridParameters,
            points: points)
        return (results, performance)
    }

    func run(_ point: ExperimentPlan.Point, index: Int, label: String) throws -> (PointResult, PointPerformance) {
        let spec = point.spec
        let chain = try ChainLoader.load(spec.chain)
        let start = try spec.start.resolve(in: chain)
        let target = try spec.target.resolve(in: chain)
        for s in start.states { try chain.checkReachable(from: s, to: target.states) }

        var exact: ExactValue?
        var exactSeconds: Double?
        if spec.exact {
            let clock = ProgressReporter.now()
            let solution = try ExactSolver.hittingTimes(chain, target: target)
            exact = ExactValue(
                expectedHittingTime: try solution.expected(from: start), errorEstimate: solution.errorEstimate,
                method: "\(solution.method)")
            exactSeconds = ProgressReporter.now() - clock
        }
        let closedForm = ClosedForm.hittingTime(chain: chain, start: start, target: target)

        let walkSeed = Self.walkSeed(spec.seed, point: index)
        progress.begin(label)
        let clock = ProgressReporter.now()
        let progress = self.progress
        let outcome = try MonteCarlo.run(
            chain: chain, start: start, target: target, walks: spec.walks, maxSteps: spec.maxSteps, seed: walkSeed,
            batchSize: spec.batchSize, threads: threads, observeClusters: true
        ) { p in
            progress.update(done: p.walksDone, total: spec.walks, steps: p.steps)
        }
        let seconds = ProgressReporter.now() - clock
        progress.update(done: spec.walks, total: spec.walks, steps: outcome.steps, force: true)
        progress.end()

        let summary = outcome.hittingTimes.summary
        var relativeError: Double?, zScore: Double?
        if let e = exact?.expectedHittingTime, let mean = summary.mean, e > 0 {
            relativeError = (mean - e) / e
            if let se = summary.standardError, se > 0 { zScore = (mean - e) / se }
        }
        let result = PointResult(
            index: index, parameters: Dictionary(point.parameters.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }),
            chain: ChainSummary(chain, source: spec.chain), start: start.states, targetStates: target.states.count,
            walks: spec.walks, maxSteps: spec.maxSteps, walkSeed: walkSeed, steps: outcome.steps, hittingTime: summary,
            histogram: outcome.hittingTimes.histogram.nonEmptyBins.map {
                [LogHistogram.lowerBound(of: $0.bin), LogHistogram.upperBound(of: $0.bin), $0.count]
            },
            hardSteps: outcome.hardSteps?.summary, clustersVisited: outcome.clustersVisited?.summary, exact: exact,
            closedForm: closedForm, relativeError: relativeError, zScore: zScore)
        let timing = PointPerformance(
            index: index, threads: threads, walkSeconds: seconds, stepsPerSecond: Double(outcome.steps) / max(seconds, 1e-9),
            exactSeconds: exactSeconds)
        return (result, timing)
    }

    /// Each grid point gets its own walk streams, derived from the spec's seed and its index.
    static func walkSeed(_ seed: UInt64, point: Int) -> UInt64 {
        let key = Philox4x32.Key(UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
        let block = Philox4x32.block(counter: .init(UInt32(truncatingIfNeeded: point), 0, 0x5EED, 0), key: key)
        return UInt64(block.x) | UInt64(block.y) << 32
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

extension StartSpec {
    public func resolve(in chain: Chain) throws(ChainError) -> StartDistribution {
        switch self {
        case .state(let s): return try StartDistribution(state: s, stateCount: chain.stateCount)
        case .cluster(let c):
            guard let clusters = chain.clusters else {
                throw ChainError(.badLabel, "start cluster \(c) given, but the chain has no cluster labels")
            }
            return try StartDistribution(uniformOn: c.resolve(in: clusters), of: chain)
        case .distribution(let weights):
            return try StartDistribution(weights: weights.map { ($0.state, $0.weight) }, stateCount: chain.stateCount)
        }
    }
}

extension TargetSpec {
    public func resolve(in chain: Chain) throws(ChainError) -> TargetSet {
        switch self {
        case .states(let states): return try TargetSet(states: states, stateCount: chain.stateCount)
        case .cluster(let c):
            guard let clusters = chain.clusters else {
                throw ChainError(.badLabel, "target cluster \(c) given, but the chain has no cluster labels")
            }
            return try TargetSet(cluster: c.resolve(in: clusters), of: chain)
        }
    }
}

extension ChainSummary {
    init(_ chain: Chain, source: ChainSource) {
        let description: String
        switch source {
        case .generated(let g):
            description = "generated: K=\(g.clusters) M=\(g.clusterSize) \(g.kernel) \(g.topology) sources=\(g.sources) ε=\(g.epsilon) decoys=\(g.decoys) seed=\(g.seed)"
        case .file(let path, _, _):
            description = path
        }
        self.init(
            source: description, states: chain.stateCount, clusters: chain.clusters?.clusterCount,
            transitions: chain.transitionCount, sparseEdges: chain.kinds.lazy.filter { $0 == .sparse }.count)
    }
}
