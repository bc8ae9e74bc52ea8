/// Exact, mergeable statistics of a sample of non-negative integers: hitting times, hard
/// steps per walk, clusters visited per walk.
///
/// Everything is kept as integers (the count, Σt and Σt² in 128 bits, min, max and a
/// `LogHistogram`), so merging is exact, associative and commutative: the same samples
/// give `==` accumulators, and bit-identical summaries, however they were split into
/// batches and in whatever order the batches were merged.
///
/// Σt² has room for 3·10¹² samples of 10¹³ each; arithmetic is checked, so going past
/// that traps instead of wrapping.
///
/// A walk stopped by the step cap is recorded with `recordCensored(_:)`: it is a sample
/// with t = cap, and is also counted in `censoredCount`, because the true value is larger.
@frozen
public struct IntegerSampleAccumulator: Sendable, Equatable {
    @usableFromInline var _count: UInt64 = 0
    @usableFromInline var _censoredCount: UInt64 = 0
    @usableFromInline var _sum: UInt128 = 0
    @usableFromInline var _sumOfSquares: UInt128 = 0
    // Sentinels while empty, so that recording and merging need no branch.
    @usableFromInline var lowest: UInt64 = .max
    @usableFromInline var highest: UInt64 = 0
    @usableFromInline var _histogram = LogHistogram()

    public init() {}

    /// Rebuilds an accumulator from its parts, as the properties of the same names report
    /// them (`min` and `max` are ignored when `count` is 0), or nil when no sequence of
    /// `record` calls produces them: later arithmetic relies on their consistency.
    package init?(
        count: UInt64, censoredCount: UInt64, sum: UInt128, sumOfSquares: UInt128,
        min: UInt64?, max: UInt64?, histogram: LogHistogram
    ) {
        guard censoredCount <= count, histogram.totalCount == count else { return nil }
        if count > 0 {
            // The extreme samples sit in the extreme non-empty bins, and bound the sum.
            guard let min, let max, min <= max,
                  histogram.lowestBin == LogHistogram.bin(for: min),
                  histogram.highestBin == LogHistogram.bin(for: max),
                  UInt128(count) * UInt128(min) <= sum, sum <= UInt128(count) * UInt128(max),
                  Self.exactScaledSumOfSquaredDeviations(count: count, sum: sum, sumOfSquares: sumOfSquares) != nil
            else { return nil }
            lowest = min
            highest = max
        } else {
            guard sum == 0, sumOfSquares == 0 else { return nil }
        }
        _count = count
        _censoredCount = censoredCount
        _sum = sum
        _sumOfSquares = sumOfSquares
        _histogram = histogram
    }

    /// The number of samples, censored ones included.
    @inlinable public var count: UInt64 { _count }
    /// The number of samples recorded at the cap by `recordCensored(_:)`.
    @inlinable public var censoredCount: UInt64 { _censoredCount }
    /// Σt.
    @inlinable public var sum: UInt128 { _sum }
    /// Σt².
    @inlinable public var sumOfSquares: UInt128 { _sumOfSquares }
    /// The smallest sample, or nil when there is none.
    @inlinable public var min: UInt64? { _count == 0 ? nil : lowest }
    /// The largest sample, or nil when there is none.
    @inlinable public var max: UInt64? { _count == 0 ? nil : highest }
    @inlinable public var histogram: LogHistogram { _histogram }

    /// Records one sample.
    @inlinable
    public mutating func record(_ t: UInt64) {
        _count += 1
        _sum += UInt128(t)
        _sumOfSquares += UInt128(t) &* UInt128(t) // 64 × 64 bits: cannot overflow
        lowest = Swift.min(lowest, t)
        highest = Swift.max(highest, t)
        _histogram.record(t)
    }

    /// Records a walk that reached the step cap without hitting: a sample at `cap`, which
    /// only bounds the true value from below.
    @inlinable
    public mutating func recordCensored(_ cap: UInt64) {
        _censoredCount += 1
        record(cap)
    }

    /// Adds `other`'s samples to these.
    public mutating func merge(_ other: IntegerSampleAccumulator) {
        _count += other._count
        _censoredCount += other._censoredCount
        _sum += other._sum
        _sumOfSquares += other._sumOfSquares
        lowest = Swift.min(lowest, other.lowest)
        highest = Swift.max(highest, other.highest)
        _histogram.merge(other._histogram)
    }

    /// An estimate of the `p`-quantile from the histogram, clamped to [min, max]; exact
    /// below 64, within 1/32 of the sample quantile above (see `LogHistogram.quantile(_:)`).
    /// Nil when there are no samples.
    public func quantile(_ p: Double) -> Double? {
        _histogram.quantile(p).map { Swift.min(Swift.max($0, Double(lowest)), Double(highest)) }
    }

    /// n·Σ(t − mean)² = n·Σt² − (Σt)², computed exactly in 256 bits and rounded once, so
    /// that nothing cancels and a constant sample gives exactly 0.
    var scaledSumOfSquaredDeviations: Double {
        let (high, low) = Self.exactScaledSumOfSquaredDeviations(count: _count, sum: _sum, sumOfSquares: _sumOfSquares)!
        return Double(high) * 0x1p128 + Double(low)
    }

    /// n·Σt² − (Σt)² as the two halves of a 256-bit integer, or nil when it would be
    /// negative, which no real sample allows (Cauchy-Schwarz).
    private static func exactScaledSumOfSquaredDeviations(
        count: UInt64, sum: UInt128, sumOfSquares: UInt128
    ) -> (high: UInt128, low: UInt128)? {
        let a = sumOfSquares.multipliedFullWidth(by: UInt128(count))
        let b = sum.multipliedFullWidth(by: sum)
        guard a.high > b.high || (a.high == b.high && a.low >= b.low) else { return nil }
        let (low, borrow) = a.low.subtractingReportingOverflow(b.low)
        return (a.high - b.high - (borrow ? 1 : 0), low)
    }
}

/// Hitting times in steps; walks that reach the step cap are recorded as censored.
public typealias HittingTimeAccumulator = IntegerSampleAccumulator

extension IntegerSampleAccumulator: Codable {
    private enum CodingKeys: String, CodingKey {
        case count, censoredCount, sum, sumOfSquares, min, max, histogram
    }

    // Σt and Σt² are decimal strings: JSON numbers go through Double in many readers and
    // would lose digits past 2^53.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let count = try container.decode(UInt64.self, forKey: .count)
        let accumulator = Self(
            count: count,
            censoredCount: try container.decode(UInt64.self, forKey: .censoredCount),
            sum: try Self.decodeUInt128(container, forKey: .sum),
            sumOfSquares: try Self.decodeUInt128(container, forKey: .sumOfSquares),
            min: count > 0 ? try container.decode(UInt64.self, forKey: .min) : nil,
            max: count > 0 ? try container.decode(UInt64.self, forKey: .max) : nil,
            histogram: try container.decode(LogHistogram.self, forKey: .histogram))
        guard let accumulator else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath, debugDescription: "inconsistent sample accumulator"))
        }
        self = accumulator
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(_count, forKey: .count)
        try container.encode(_censoredCount, forKey: .censoredCount)
        try container.encode(String(_sum), forKey: .sum)
        try container.encode(String(_sumOfSquares), forKey: .sumOfSquares)
        try container.encodeIfPresent(min, forKey: .min)
        try container.encodeIfPresent(max, forKey: .max)
        try container.encode(_histogram, forKey: .histogram)
    }

    private static func decodeUInt128(
        _ container: KeyedDecodingContainer<CodingKeys>, forKey key: CodingKeys
    ) throws -> UInt128 {
        let text = try container.decode(String.self, forKey: key)
        guard let value = UInt128(text) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: container, debugDescription: "expected a decimal UInt128, got \"\(text)\"")
        }
        return value
    }
}
