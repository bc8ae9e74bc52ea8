import Foundation

/// The Wilson score interval for a binomial proportion: unlike the normal approximation it
/// stays inside [0, 1] and is honest at rates near 0 or 1 (global access succeeds every time).
public struct WilsonInterval: Sendable, Codable, Equatable {
    public var lower: Double
    public var upper: Double

    /// The interval for `successes` out of `trials` at the normal quantile `z` (1.96: 95 %).
    /// With no trials it is [0, 1]: nothing is known.
    public init(successes: Int, trials: Int, z: Double = 1.96) {
        guard trials > 0 else { (lower, upper) = (0, 1); return }
        let n = Double(trials), p = Double(min(max(successes, 0), trials)) / n
        let z2 = z * z
        let centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        let half = z / (1 + z2 / n) * (p * (1 - p) / n + z2 / (4 * n * n)).squareRoot()
        lower = max(0, centre - half)
        upper = min(1, centre + half)
    }

    public var width: Double { upper - lower }
}

/// Counts the ways of choosing `size` of the given bits, split by the parity of the choice.
///
/// The learner's hypotheses are the subsets of ambiguous steps that could be the true sparse
/// edges; each predicts the XOR of its bits. Over all subsets of a fixed size, the number of
/// even-parity choices minus the odd ones is the coefficient of z^size in Π(1 + (−1)^b z), so one
/// pass over the bits gives both the count and the vote (O(n · size), no enumeration of the
/// exponentially many subsets).
struct ParityVote {
    /// C(n, size): the number of hypotheses.
    var total: Double
    /// (#even − #odd) over those hypotheses.
    var margin: Double

    init(bits: [UInt8], size: Int) {
        guard size >= 0, size <= bits.count else { (total, margin) = (0, 0); return }
        var count = [Double](repeating: 0, count: size + 1)
        var signed = [Double](repeating: 0, count: size + 1)
        count[0] = 1
        signed[0] = 1
        for (i, b) in bits.enumerated() {
            let s: Double = b == 0 ? 1 : -1
            // Descending j so that each bit is used at most once.
            for j in stride(from: min(i + 1, size), through: 1, by: -1) {
                count[j] += count[j - 1]
                signed[j] += s * signed[j - 1]
            }
        }
        total = count[size]
        margin = signed[size]
    }
}
