import Foundation

/// The 95% intervals the algorithm experiments report next to their estimates, so that a
/// test or a reader can compare a measurement with a claim without guessing its noise.
enum AlgorithmEstimate {
    /// An estimate with its 95% interval; all nil when there are no data.
    struct Interval: Equatable {
        var value: Double?
        var lower: Double?
        var upper: Double?

        /// `name`, `name_lower`, `name_upper`, for an `AlgorithmReport`'s values.
        func values(_ name: String) -> [String: Double?] {
            [name: value, "\(name)_lower": lower, "\(name)_upper": upper]
        }
    }

    /// A proportion with the Wilson score interval: unlike the normal approximation it stays
    /// inside [0, 1] and is not empty at 0 or 1 successes, the cases a recovery rate hits.
    static func proportion(successes: Int, trials: Int) -> Interval {
        guard trials > 0 else { return Interval() }
        let n = Double(trials), p = Double(successes) / n
        let z = IntegerSampleSummary.z95, z2 = z * z
        let centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        let half = z / (1 + z2 / n) * (p * (1 - p) / n + z2 / (4 * n * n)).squareRoot()
        // At 0 or all successes the bound is exactly 0 or 1; the formula leaves rounding there.
        let lower = successes == 0 ? 0 : max(0, centre - half)
        let upper = successes == trials ? 1 : min(1, centre + half)
        return Interval(value: p, lower: lower, upper: upper)
    }

    /// The mean of a sample with its normal 95% interval.
    static func mean(_ sample: IntegerSampleSummary) -> Interval {
        Interval(value: sample.mean, lower: sample.ci95?.lowerBound, upper: sample.ci95?.upperBound)
    }

    /// The ratio of two independent means, with the delta-method interval:
    /// (se_r/r)² = (se_a/a)² + (se_b/b)².
    static func ratio(_ a: IntegerSampleSummary, _ b: IntegerSampleSummary) -> Interval {
        guard let ma = a.mean, let mb = b.mean, let sa = a.standardError, let sb = b.standardError, ma > 0, mb > 0 else {
            return Interval()
        }
        let r = ma / mb
        let se = r * ((sa / ma) * (sa / ma) + (sb / mb) * (sb / mb)).squareRoot()
        return Interval(value: r, lower: r - IntegerSampleSummary.z95 * se, upper: r + IntegerSampleSummary.z95 * se)
    }
}
