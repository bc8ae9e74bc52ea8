import Foundation

/// Runs every grid point of an algorithm experiment: the point's driver decides rounds, the
/// executor runs their batches (threads here, or workers of a cluster), and the driver takes
/// the outputs in batch order until it has finished.
public struct AlgorithmRunner: Sendable {
    public var executor: any WalkExecutor
    public var progress: ProgressReporter

    public init(executor: any WalkExecutor, progress: ProgressReporter = ProgressReporter(style: .silent)) {
        self.executor = executor
        self.progress = progress
    }

    public init(threads: Int, progress: ProgressReporter = ProgressReporter(style: .silent)) {
        self.init(executor: LocalExecutor(threads: threads), progress: progress)
    }

    public func run(_ plan: ExperimentPlan) throws -> (AlgorithmResults, [AlgorithmPerformance]) {
        guard let algorithm = plan.points.first?.spec.algorithm else {
            throw SpecError(field: "algorithm", "the spec names no algorithm")
        }
        var points = [AlgorithmPointResult]()
        var performance = [AlgorithmPerformance]()
        for (index, planPoint) in plan.points.enumerated() {
            let label = plan.points.count > 1 ? "point \(index + 1) of \(plan.points.count)" : plan.name
            let clock = ProgressReporter.now()
            let point = try Self.prepare(plan, point: index)
            var result = try run(point, pointIndex: index, label: label)
            result.parameters = Dictionary(planPoint.parameters.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
            points.append(result)
            performance.append(AlgorithmPerformance(
                index: index, threads: executor.parallelism, seconds: ProgressReporter.now() - clock, rounds: result.rounds))
        }
        let configuration = type(of: algorithm.configuration)
        let results = AlgorithmResults(
            experiment: plan.name, algorithm: algorithm.name, description: plan.points.first?.spec.summary,
            gridParameters: plan.gridParameters, points: points,
            figures: configuration.figures(gridParameters: plan.gridParameters))
        return (results, performance)
    }

    /// Builds grid point `index` of an algorithm plan, as the coordinator and every worker do.
    public static func prepare(_ plan: ExperimentPlan, point index: Int) throws -> any AlgorithmPoint {
        guard plan.points.indices.contains(index) else {
            throw SpecError(field: "", "grid point \(index) does not exist (the plan has \(plan.points.count))")
        }
        let spec = plan.points[index].spec
        guard let algorithm = spec.algorithm else { throw SpecError(field: "algorithm", "the spec names no algorithm") }
        return try algorithm.configuration.prepare(AlgorithmContext(spec: spec, pointIndex: index))
    }

    /// Runs one point's rounds to the end.
    public func run(_ point: any AlgorithmPoint, pointIndex: Int, label: String) throws -> AlgorithmPointResult {
        var driver = try point.makeDriver()
        var rounds = 0, batches = 0
        var steps: UInt64 = 0
        while let round = try driver.nextRound() {
            progress.begin("\(label): \(round.label)")
            let items = round.batches.reduce(0) { $0 + $1.count }
            let progress = self.progress
            let number = round.number ?? rounds
            let outputs = try executor.runRound(round, number: number, of: point, pointIndex: pointIndex) { p in
                progress.update(done: p.walksDone, total: items, steps: p.steps)
            }
            let task = RoundTask(round: number, stage: round.stage, input: round.input)
            for (b, output) in outputs.enumerated() {
                if let problem = point.problem(with: output, of: task, batch: b) {
                    throw LearningError(.badValue, field: "round \(rounds) batch \(b)", problem)
                }
                steps &+= output.outcome.steps
            }
            progress.update(done: items, total: items, steps: outputs.reduce(0) { $0 &+ $1.outcome.steps }, force: true)
            progress.end()
            try driver.finish(outputs)
            rounds += 1
            batches += outputs.count
        }
        let report = try driver.report()
        return AlgorithmPointResult(
            index: pointIndex, parameters: [:], rounds: rounds, batches: batches, steps: steps, values: report.values,
            tables: report.tables, notes: report.notes)
    }
}
