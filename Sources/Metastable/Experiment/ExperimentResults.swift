import Foundation

/// Everything a run measured, as written to results.json. Holds no timings, so the same
/// spec and seed give the same bytes whatever the number of threads or workers.
public struct ExperimentResults: Sendable, Codable, Equatable {
    public var experiment: String
    public var description: String?
    public var gridParameters: [String]
    public var points: [PointResult]
    /// Power-law fits over the grid, when the spec's `fit` field asks for them.
    public var fits: ScalingFits?
}

/// One grid point.
public struct PointResult: Sendable, Codable, Equatable {
    public var index: Int
    /// Grid values of this point, as written in the spec.
    public var parameters: [String: String]
    public var chain: ChainSummary
    public var start: [Int]
    public var targetStates: Int
    public var walks: Int
    public var maxSteps: UInt64
    /// The seed of this point's walk streams (derived from the spec's seed and the index).
    public var walkSeed: UInt64
    /// Total steps taken by all walks.
    public var steps: UInt64
    public var hittingTime: IntegerSampleSummary
    /// Non-empty bins of the hitting-time histogram: [lower bound, upper bound, count].
    public var histogram: [[UInt64]]
    /// Hard steps (cluster changes) per walk; nil without cluster labels.
    public var hardSteps: IntegerSampleSummary?
    /// Distinct clusters visited per walk; nil without cluster labels.
    public var clustersVisited: IntegerSampleSummary?
    public var exact: ExactValue?
    /// The closed form, where the chain has one (uniform kernel, chain topology).
    public var closedForm: Double?
    /// (Monte Carlo mean − exact) / exact.
    public var relativeError: Double?
    /// (Monte Carlo mean − exact) / standard error.
    public var zScore: Double?
}

public struct ChainSummary: Sendable, Codable, Equatable {
    public var source: String
    public var states: Int
    public var clusters: Int?
    public var transitions: Int
    public var sparseEdges: Int
}

public struct ExactValue: Sendable, Codable, Equatable {
    public var expectedHittingTime: Double
    /// The solver's estimate of its relative error.
    public var errorEstimate: Double
    public var method: String
}

/// Wall-clock measurements, kept apart from the results because they vary between runs.
public struct PointPerformance: Sendable, Codable, Equatable {
    public var index: Int
    public var threads: Int
    public var walkSeconds: Double
    public var stepsPerSecond: Double
    public var exactSeconds: Double?
    /// On a partitioned chain: walks that moved between shards, and how many a second.
    public var migrations: Int?
    public var migrationsPerSecond: Double?
}

extension ExperimentResults {
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    public func jsonData() throws -> Data { try Self.encoder().encode(self) }

    /// One row per grid point, the columns a plot or a spreadsheet wants.
    public func csv() -> String {
        var lines = [
            (gridParameters + [
                "point", "mc_mean", "mc_standard_error", "mc_ci95_low", "mc_ci95_high", "mean_is_lower_bound",
                "p50", "p90", "p99", "exact", "exact_error_estimate", "closed_form", "relative_error", "z_score",
                "walks", "censored", "steps", "mean_hard_steps", "mean_clusters_visited",
            ]).joined(separator: ","),
        ]
        func cell(_ x: Double?) -> String { x.map { "\($0)" } ?? "" }
        for p in points {
            let h = p.hittingTime
            let cells = gridParameters.map { csvCell(p.parameters[$0] ?? "") } + [
                "\(p.index)", cell(h.mean), cell(h.standardError), cell(h.ci95?.lowerBound), cell(h.ci95?.upperBound),
                "\(h.meanIsLowerBound)", cell(h.p50), cell(h.p90), cell(h.p99), cell(p.exact?.expectedHittingTime),
                cell(p.exact?.errorEstimate), cell(p.closedForm), cell(p.relativeError), cell(p.zScore),
                "\(p.walks)", "\(h.censored)", "\(p.steps)", cell(p.hardSteps?.mean), cell(p.clustersVisited?.mean),
            ]
            lines.append(cells.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Every point's hitting-time histogram, one row per non-empty bin.
    public func histogramCSV() -> String {
        var lines = ["point,bin_lower,bin_upper,count"]
        for p in points {
            for bin in p.histogram { lines.append("\(p.index),\(bin[0]),\(bin[1]),\(bin[2])") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes results.json, results.csv and histograms.csv (and timing.json) into `directory`.
    public func write(to directory: URL, performance: [PointPerformance]) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try jsonData().write(to: directory.appendingPathComponent("results.json"), options: .atomic)
        try Data(csv().utf8).write(to: directory.appendingPathComponent("results.csv"), options: .atomic)
        try Data(histogramCSV().utf8).write(to: directory.appendingPathComponent("histograms.csv"), options: .atomic)
        try Self.encoder().encode(performance).write(to: directory.appendingPathComponent("timing.json"), options: .atomic)
    }
}
