/// What an `IntegerSampleAccumulator` says about its sample, ready to report.
///
/// Values a sample this small cannot define are nil rather than NaN, so a summary always
/// encodes to JSON: mean, min, max and quantiles need one sample, the standard deviation,
/// standard error and confidence interval need two.
///
/// The summary is a pure function of the accumulator's integers, so equal accumulators
/// give bit-identical summaries.
public struct IntegerSampleSummary: Sendable, Codable, Equatable {
    /// The two-sided 95% normal quantile, Φ⁻¹(0.975).
    public static let z95 = 1.959963984540054

    public let count: UInt64
    /// Samples recorded at the step cap.
    public let censored: UInt64
    public let mean: Double?
    /// The sample standard deviation, with n − 1 in the denominator.
    public let standardDeviation: Double?
    /// standardDeviation / √n.
    public let standardError: Double?
    /// mean ± z95 · standardError.
    public let ci95: ClosedRange<Double>?
    public let min: UInt64?
    public let max: UInt64?
    /// Nearest-rank sample quantiles, estimated from the histogram: exact below 64, off by
    /// less than 1/32 (3.125%) above. See `LogHistogram.quantile(_:)`.
    public let p50: Double?
    public let p90: Double?
    public let p99: Double?
    /// True when some samples are censored: they count at the cap, below their true
    /// value, so the mean (and the quantiles they reach) only bound the truth from below.
    public let meanIsLowerBound: Bool

    public init(_ accumulator: IntegerSampleAccumulator) {
        let n = accumulator.count
        count = n
        censored = accumulator.censoredCount
        meanIsLowerBound = censored > 0
        min = accumulator.min
        max = accumulator.max
        p50 = accumulator.quantile(0.5)
        p90 = accumulator.quantile(0.9)
        p99 = accumulator.quantile(0.99)

        var mean: Double?
        if n > 0 {
            // Σt = q·n + r: the integer part stays exact, only r/n is rounded.
            let (q, r) = accumulator.sum.quotientAndRemainder(dividingBy: UInt128(n))
            mean = Double(q) + Double(r) / Double(n)
        }
        var sd: Double?
        if n > 1 {
            sd = (accumulator.scaledSumOfSquaredDeviations / Double(n) / Double(n - 1)).squareRoot()
        }
        let se = sd.map { $0 / Double(n).squareRoot() }
        self.mean = mean
        standardDeviation = sd
        standardError = se
        if let mean, let se {
            ci95 = (mean - Self.z95 * se)...(mean + Self.z95 * se)
        } else {
            ci95 = nil
        }
    }
}

/// The summary of a `HittingTimeAccumulator`.
public typealias HittingTimeSummary = IntegerSampleSummary

extension IntegerSampleAccumulator {
    public var summary: IntegerSampleSummary { IntegerSampleSummary(self) }
}
