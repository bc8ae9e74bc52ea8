/// Counts of non-negative integers in log-linear bins, in the manner of HdrHistogram.
///
/// Values below 64 get one bin each. Above, every power of two `[2^e, 2^(e+1))` is split
/// into 32 equal sub-bins of width `2^(e-5)`, so a bin is never wider than 1/32 (3.125%) of
/// any value in it. The 1920 bins cover every `UInt64`, from 0 to `UInt64.max`.
///
/// The layout is fixed, so two histograms always have the same bins: merging adds counts
/// bin by bin and is exact, associative and commutative.
///
/// Storage is dense over the window from the lowest to the highest non-empty bin only: a
/// batch's hitting times span a few hundred bins, so a stored batch result costs a few KiB,
/// not the 15 KiB of all 1920 bins. The window's end bins are never empty, so equal
/// histograms have equal storage.
///
/// Encodes as the non-empty bins only, `[[bin, count], ...]` in increasing bin order.
@frozen
public struct LogHistogram: Sendable, Equatable {
    /// 64 exact bins, then 32 for each of the 58 octaves from 2^6 to 2^64.
    public static let binCount = 1920

    /// The bin of `counts[0]`.
    @usableFromInline var first = 0
    /// Counts of bins `first..<first + counts.count`; empty when nothing was recorded.
    @usableFromInline var counts: [UInt64] = []

    public init() {}

    /// Rebuilds a histogram from its bins as `nonEmptyBins` lists them, or nil unless the
    /// bins increase (a repeated bin would be ambiguous) and lie below `binCount`, and the
    /// counts add up to at most `UInt64.max` (so that `totalCount` cannot overflow).
    package init?(nonEmptyBins bins: some Sequence<(bin: Int, count: UInt64)>) {
        self.init()
        var previous = -1, total: UInt64 = 0
        for (bin, count) in bins {
            guard bin > previous, bin < Self.binCount else { return nil }
            let (sum, overflow) = total.addingReportingOverflow(count)
            guard !overflow else { return nil }
            if count > 0 {
                widen(toInclude: bin)
                counts[bin - first] = count
            }
            previous = bin
            total = sum
        }
    }

    /// The bin that holds `value`.
    @inlinable @inline(__always)
    public static func bin(for value: UInt64) -> Int {
        // `shift` is 0 below 64, then the number of low bits a sub-bin ignores. The top six
        // bits of the value, `value >> shift`, lie in 32..<64 above 64, so each octave gets
        // 32 consecutive bins after the 64 exact ones; no branch, no overflow.
        let shift = 58 &- (value | 63).leadingZeroBitCount
        return shift &* 32 &+ Int(truncatingIfNeeded: value >> UInt64(shift))
    }

    /// The smallest value in `bin`.
    @inlinable
    public static func lowerBound(of bin: Int) -> UInt64 {
        precondition(bin >= 0 && bin < binCount, "bin \(bin) out of range")
        // The inverse of `bin(for:)`: bin = shift·32 + top six bits.
        let shift = Swift.max(bin / 32 - 1, 0)
        return UInt64(bin - shift * 32) << UInt64(shift)
    }

    /// The largest value in `bin` (inclusive: the last bin ends at `UInt64.max`).
    @inlinable
    public static func upperBound(of bin: Int) -> UInt64 {
        precondition(bin >= 0 && bin < binCount, "bin \(bin) out of range")
        let shift = Swift.max(bin / 32 - 1, 0)
        return lowerBound(of: bin) + ((1 as UInt64) << UInt64(shift) - 1)
    }

    /// How many recorded values fell in `bin`.
    @inlinable
    public func count(in bin: Int) -> UInt64 {
        bin >= first && bin - first < counts.count ? counts[bin - first] : 0
    }

    /// The lowest and highest non-empty bins (nil when empty): the window's ends.
    public var lowestBin: Int? { counts.isEmpty ? nil : first }
    public var highestBin: Int? { counts.isEmpty ? nil : first + counts.count - 1 }

    /// How many values were recorded in all.
    public var totalCount: UInt64 { counts.reduce(0, +) }

    /// The bins holding at least one value, in increasing order, with their counts.
    public var nonEmptyBins: [(bin: Int, count: UInt64)] {
        counts.indices.filter { counts[$0] != 0 }.map { (first + $0, counts[$0]) }
    }

    @inlinable
    public mutating func record(_ value: UInt64) {
        let bin = Self.bin(for: value)
        if bin < first || bin - first >= counts.count { widen(toInclude: bin) }
        counts[bin - first] += 1
    }

    /// Adds `other`'s counts to these.
    public mutating func merge(_ other: LogHistogram) {
        guard !other.counts.isEmpty else { return }
        widen(toInclude: other.first)
        widen(toInclude: other.first + other.counts.count - 1)
        let offset = other.first - first
        counts.withUnsafeMutableBufferPointer { mine in
            for (i, count) in other.counts.enumerated() { mine[offset + i] += count }
        }
    }

    /// Grows the window to cover `bin`; the new bins start empty.
    @usableFromInline
    mutating func widen(toInclude bin: Int) {
        if counts.isEmpty {
            first = bin
            counts = [0]
        } else if bin < first {
            counts.insert(contentsOf: repeatElement(0, count: first - bin), at: 0)
            first = bin
        } else if bin - first >= counts.count {
            counts.append(contentsOf: repeatElement(0, count: bin - first - counts.count + 1))
        }
    }

    /// An estimate of the `p`-quantile of the recorded values, or nil when there are none.
    ///
    /// The quantile is the nearest-rank one: the value of rank `⌈p·n⌉` (at least 1) in
    /// sorted order. The histogram knows which bin holds that rank and spreads the bin's
    /// values evenly between its bounds; the estimate is where the rank falls. It is exact
    /// below 64, and otherwise lies in the same bin as the true sample quantile, so it is
    /// off by less than the bin width: under 1/32 (3.125%) of the quantile.
    public func quantile(_ p: Double) -> Double? {
        precondition(p >= 0 && p <= 1, "quantile \(p) outside [0, 1]")
        let total = totalCount
        guard total > 0 else { return nil }
        let rank = Swift.min(Swift.max(UInt64((p * Double(total)).rounded(.up)), 1), total)
        var below: UInt64 = 0
        for (i, count) in counts.enumerated() where count != 0 {
            let bin = first + i
            if below + count >= rank {
                let lower = Self.lowerBound(of: bin), upper = Self.upperBound(of: bin)
                // The j-th of the bin's `count` values sits at (j + 1/2) / count of the way.
                let fraction = (Double(rank - below) - 0.5) / Double(count)
                return Double(lower) + fraction * Double(upper - lower)
            }
            below += count
        }
        preconditionFailure("unreachable: rank \(rank) <= total \(total)")
    }
}

extension LogHistogram: Codable {
    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        var bins = [(bin: Int, count: UInt64)]()
        while !container.isAtEnd {
            var pair = try container.nestedUnkeyedContainer()
            bins.append((try pair.decode(Int.self), try pair.decode(UInt64.self)))
            guard pair.isAtEnd else {
                throw DecodingError.dataCorruptedError(in: pair, debugDescription: "expected [bin, count]")
            }
        }
        guard let histogram = LogHistogram(nonEmptyBins: bins) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected [bin, count] with increasing bins below \(Self.binCount)")
        }
        self = histogram
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        for (bin, count) in nonEmptyBins {
            var pair = container.nestedUnkeyedContainer()
            try pair.encode(bin)
            try pair.encode(count)
        }
    }
}
