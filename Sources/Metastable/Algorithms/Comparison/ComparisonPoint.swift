/// One grid point of the comparison: the base chain's walks, then each method's rounds.
///
/// Part 0 is the base chain, part i the i-th method; a round's stage is
/// `part · stagesPerPart + the part's own stage`, so one job carries every part's rounds, and
/// each part sees its own round numbers. Each part has its own seed: the methods' random
/// streams are independent of each other and of the base chain's walks.
final class ComparisonPoint: AlgorithmPoint {
    static let stagesPerPart = 1000

    let base: BaseChainPoint
    let methods: [(name: String, point: any AlgorithmPoint)]

    init(_ context: AlgorithmContext, methods: [ComparisonConfiguration.Method]) throws {
        base = try BaseChainPoint(context)
        self.methods = try methods.enumerated().map { index, method in
            var own = context
            var stream = WalkRandom(seed: context.seed, domain: .learning, index: UInt64(index + 1) << 48)
            own.seed = stream.next()
            return (method.name, try method.configuration.prepare(own))
        }
    }

    func runBatch(_ task: RoundTask, batch: Int, items: Range<Int>) throws -> RoundBatchOutput {
        let (part, stage) = try split(task.stage)
        var inner = task
        inner.stage = stage
        return part == 0
            ? try base.runBatch(inner, batch: batch, items: items)
            : try methods[part - 1].point.runBatch(inner, batch: batch, items: items)
    }

    func problem(with output: RoundBatchOutput, of task: RoundTask, batch: Int) -> String? {
        guard let (part, stage) = try? split(task.stage) else { return "stage \(task.stage) belongs to no part" }
        var inner = task
        inner.stage = stage
        return part == 0
            ? base.problem(with: output, of: inner, batch: batch)
            : methods[part - 1].point.problem(with: output, of: inner, batch: batch)
    }

    func makeDriver() throws -> any AlgorithmDriver {
        var parts: [(name: String, driver: any AlgorithmDriver)] = [("base", try base.makeDriver())]
        for method in methods { parts.append((method.name, try method.point.makeDriver())) }
        return ComparisonDriver(parts: parts)
    }

    private func split(_ stage: Int) throws(LearningError) -> (part: Int, stage: Int) {
        let part = stage / Self.stagesPerPart
        guard stage >= 0, part <= methods.count else {
            throw LearningError(.badValue, field: "stage", "stage \(stage) belongs to no part of \(methods.count + 1)")
        }
        return (part, stage % Self.stagesPerPart)
    }
}

/// Runs the parts' drivers one after the other and keeps the compute each spent.
struct ComparisonDriver: AlgorithmDriver {
    var parts: [(name: String, driver: any AlgorithmDriver)]
    private var current = 0
    /// Chain steps and rounds each part has run.
    private var steps: [UInt64]
    private var rounds: [Int]

    init(parts: [(name: String, driver: any AlgorithmDriver)]) {
        self.parts = parts
        steps = Array(repeating: 0, count: parts.count)
        rounds = Array(repeating: 0, count: parts.count)
    }

    mutating func nextRound() throws -> AlgorithmRound? {
        while current < parts.count {
            if var round = try parts[current].driver.nextRound() {
                guard (0..<ComparisonPoint.stagesPerPart).contains(round.stage) else {
                    throw LearningError(.badValue, field: parts[current].name, "stage \(round.stage) is outside 0..<\(ComparisonPoint.stagesPerPart)")
                }
                round.stage += current * ComparisonPoint.stagesPerPart
                round.number = round.number ?? rounds[current]
                round.label = "\(parts[current].name): \(round.label)"
                return round
            }
            current += 1
        }
        return nil
    }

    mutating func finish(_ outputs: [RoundBatchOutput]) throws {
        steps[current] &+= outputs.reduce(0) { $0 &+ $1.outcome.steps }
        rounds[current] += 1
        try parts[current].driver.finish(outputs)
    }

    /// Every part's values and tables under its name (`prm.speedup`, `ppo.iterations`), and
    /// the rounds and chain steps each part spent (`ppo.steps`).
    func report() throws -> AlgorithmReport {
        var merged = AlgorithmReport()
        for (index, part) in parts.enumerated() {
            let report = try part.driver.report()
            for (key, value) in report.values { merged.values["\(part.name).\(key)"] = value }
            for (key, value) in report.notes { merged.notes["\(part.name).\(key)"] = value }
            for var table in report.tables {
                table.name = "\(part.name).\(table.name)"
                merged.tables.append(table)
            }
            merged.values["\(part.name).steps"] = Double(steps[index])
            merged.values["\(part.name).rounds"] = Double(rounds[index])
        }
        return merged
    }
}
