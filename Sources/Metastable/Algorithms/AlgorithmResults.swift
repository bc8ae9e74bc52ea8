import Foundation

/// results.json of an algorithm experiment. Like hitting-time results it holds no timings,
/// so that runs with any number of workers write the same bytes.
public struct AlgorithmResults: Sendable, Codable, Equatable {
    public var experiment: String
    public var algorithm: String
    public var description: String?
    public var gridParameters: [String]
    public var points: [AlgorithmPointResult]
    /// What scripts/plot.py draws.
    public var figures: [FigureSpec]
}

public struct AlgorithmPointResult: Sendable, Codable, Equatable {
    public var index: Int
    public var parameters: [String: String]
    public var rounds: Int
    public var batches: Int
    /// Chain steps sampled by all batches of all rounds: the compute the point spent.
    public var steps: UInt64
    public var values: [String: Double?]
    public var tables: [ResultTable]
    public var notes: [String: String]

    public func table(_ name: String) -> ResultTable? { tables.first { $0.name == name } }
    /// A headline value, nil when the point did not report it or it is undefined.
    public func value(_ name: String) -> Double? { values[name] ?? nil }
}

public struct AlgorithmPerformance: Sendable, Codable, Equatable {
    public var index: Int
    public var threads: Int
    public var seconds: Double
    public var rounds: Int
}

extension AlgorithmResults {
    public func jsonData() throws -> Data { try ExperimentResults.encoder().encode(self) }

    /// One row per grid point: grid parameters, rounds, batches, steps and every headline value.
    public func summaryCSV() -> String {
        let names = Set(points.flatMap { $0.values.keys }).sorted()
        var lines = [(["point"] + gridParameters + ["rounds", "batches", "steps"] + names).joined(separator: ",")]
        for p in points {
            let cells = ["\(p.index)"] + gridParameters.map { csvCell(p.parameters[$0] ?? "") }
                + ["\(p.rounds)", "\(p.batches)", "\(p.steps)"] + names.map { number(p.value($0)) }
            lines.append(cells.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Every point's rows of the table `name`, after the point index and grid parameters.
    public func tableCSV(_ name: String) -> String {
        let columns = points.lazy.compactMap { $0.table(name)?.columns }.first ?? []
        var lines = [(["point"] + gridParameters + columns).joined(separator: ",")]
        for p in points {
            guard let table = p.table(name) else { continue }
            let prefix = ["\(p.index)"] + gridParameters.map { csvCell(p.parameters[$0] ?? "") }
            for row in table.rows { lines.append((prefix + row.map(number)).joined(separator: ",")) }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public var tableNames: [String] {
        var names = [String]()
        for p in points { for t in p.tables where !names.contains(t.name) { names.append(t.name) } }
        return names
    }

    /// Writes results.json, summary.csv, one CSV per table, and timing.json into `directory`.
    public func write(to directory: URL, performance: [AlgorithmPerformance]) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try jsonData().write(to: directory.appendingPathComponent("results.json"), options: .atomic)
        try Data(summaryCSV().utf8).write(to: directory.appendingPathComponent("summary.csv"), options: .atomic)
        for name in tableNames {
            try Data(tableCSV(name).utf8).write(to: directory.appendingPathComponent("\(name).csv"), options: .atomic)
        }
        try ExperimentResults.encoder().encode(performance).write(to: directory.appendingPathComponent("timing.json"), options: .atomic)
    }

    private func number(_ x: Double?) -> String { x.map { "\($0)" } ?? "" }
}

func csvCell(_ s: String) -> String {
    s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
}
