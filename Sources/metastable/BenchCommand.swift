import ArgumentParser
import Foundation
import Metastable

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Steps per second of the walk kernel, in cache and out of cache, on one and all threads.",
        discussion: "Build with -c release: a debug build is 10-50 times slower."
    )

    @Flag(name: .long, help: "Print the measurements as JSON.")
    var json = false

    @Flag(name: .long, help: "Measure the cluster path instead: coordinator throughput, 2 workers over 1, overhead vs in-process.")
    var cluster = false

    func run() throws {
        let log: (String) -> Void = { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
        if cluster {
            let measurements = try ClusterBenchmark.run(log: json ? { _ in } : log)
            if json { emit(try jsonString(measurements)); return }
            emit(Format.table(
                header: ["benchmark", "value", "unit", "detail"],
                rows: measurements.map { [$0.name, String(format: "%.2f", $0.value), $0.unit, $0.detail] }))
            return
        }
        let measurements = try WalkBenchmark.run(log: json ? nil : log)
        if json {
            emit(try jsonString(measurements))
            return
        }
        let rows = measurements.map { m in
            [m.name, "\(m.threads)", "\(m.walkersPerThread)", Format.compact(Double(m.steps)), String(format: "%.2f", m.seconds),
             String(format: "%.1f", m.stepsPerSecond / 1e6), String(format: "%.1f", m.stepsPerSecond / 1e6 / Double(m.threads))]
        }
        emit(Format.table(
            header: ["benchmark", "threads", "walkers/thread", "steps", "seconds", "M steps/s", "M steps/s/core"], rows: rows))
    }
}
