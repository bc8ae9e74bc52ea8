import ArgumentParser
import Foundation
import Metastable

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Monte Carlo hitting times of a target set from a start state."
    )

    @OptionGroup var graph: GraphOptions
    @OptionGroup var task: TaskOptions

    @Option(name: .long, help: "Number of walks.")
    var walks: Int

    @Option(name: .long, help: "Seed of the walk streams.")
    var seed: UInt64

    @Option(name: .long, help: "Stop a walk after this many steps and report it as censored.")
    var maxSteps: UInt64 = 1 << 40

    @Option(name: .long, help: "Threads. Default: the core count.")
    var threads: Int?

    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard walks >= 1 else { throw ValidationError("--walks must be at least 1, got \(walks)") }
        guard maxSteps >= 1 else { throw ValidationError("--max-steps must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func run() throws {
        let chain = try graph.load()
        let (start, target) = try task.resolve(in: chain)
        let progress = ProgressReporter(style: json ? .silent : .automatic)
        progress.begin("simulate")
        let clock = Date()
        let total = walks
        let outcome = try MonteCarlo.run(
            chain: chain, start: start, target: target, walks: walks, maxSteps: maxSteps, seed: seed, batchSize: 1024,
            threads: threads ?? ProcessInfo.processInfo.activeProcessorCount, observeClusters: false
        ) { p in
            progress.update(done: p.walksDone, total: total, steps: p.steps)
        }
        progress.end()
        let seconds = Date().timeIntervalSince(clock)
        let s = outcome.hittingTimes.summary
        if json {
            struct Output: Encodable {
                var mean: Double?
                var standardError: Double?
                var ci95: [Double]?
                var meanIsLowerBound: Bool
                var p50: Double?, p90: Double?, p99: Double?
                var min: UInt64?, max: UInt64?
                var walks: UInt64
                var censored: UInt64
                var steps: UInt64
                var seconds: Double
                enum CodingKeys: String, CodingKey {
                    case mean, standardError = "standard_error", ci95 = "ci95", meanIsLowerBound = "mean_is_lower_bound"
                    case p50, p90, p99, min, max, walks, censored, steps, seconds
                }
            }
            emit(try jsonString(Output(
                mean: s.mean, standardError: s.standardError, ci95: s.ci95.map { [$0.lowerBound, $0.upperBound] },
                meanIsLowerBound: s.meanIsLowerBound, p50: s.p50, p90: s.p90, p99: s.p99, min: s.min, max: s.max,
                walks: s.count, censored: s.censored, steps: outcome.steps, seconds: seconds)))
        } else {
            let mean = s.mean.map { Format.value($0, digits: 8) } ?? "–"
            emit("mean hitting time: \(mean)\(s.meanIsLowerBound ? " (a lower bound: \(s.censored) walks censored)" : "")")
            if let se = s.standardError, let ci = s.ci95 {
                emit("standard error:    \(Format.value(se, digits: 4))   95% CI [\(Format.value(ci.lowerBound)), \(Format.value(ci.upperBound))]")
            }
            emit("quantiles:         p50 \(s.p50.map { Format.value($0) } ?? "–")  p90 \(s.p90.map { Format.value($0) } ?? "–")  p99 \(s.p99.map { Format.value($0) } ?? "–")")
            emit("walks \(s.count), censored \(s.censored), steps \(outcome.steps), \(Format.compact(Double(outcome.steps) / max(seconds, 1e-9))) steps/s")
        }
    }
}
