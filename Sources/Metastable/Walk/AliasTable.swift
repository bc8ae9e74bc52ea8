import CMetastableSupport

/// One slot of an alias table: with probability `threshold / 2^64` the slot yields
/// `neighbour`, otherwise `alias`. 16 bytes, so a step reads one record from one cache line.
///
/// An outcome with the top bit set (`uniformBit`) is not a state but "uniform over cluster
/// `value & ~uniformBit`": state ids stay below 2^31, so the bit is free.
@frozen
public struct AliasRecord: Sendable, Equatable, BitwiseCopyable {
    public var threshold: UInt64
    public var neighbour: UInt32
    public var alias: UInt32

    /// Marks an outcome as "uniform over this cluster".
    public static let uniformBit: UInt32 = 1 << 31

    @inlinable
    public init(threshold: UInt64, neighbour: UInt32, alias: UInt32) {
        self.threshold = threshold
        self.neighbour = neighbour
        self.alias = alias
    }

    /// The outcome for a coin uniform on 0..<2^64, without a branch: the coin decides
    /// 35% or so of the time against a predictor, so a mask beats a jump. The barrier
    /// keeps LLVM from turning the mask back into a branch.
    @inlinable @inline(__always)
    public func select(coin: UInt64) -> UInt32 {
        let keep = ms_opaque_u64(coin < threshold ? ~0 : 0)
        return UInt32(truncatingIfNeeded: (UInt64(neighbour) & keep) | (UInt64(alias) & ~keep))
    }
}

/// Samples a row of `degree` alias records with one 64-bit draw `r`: the high half of
/// `r · degree` is the slot, the low half the coin. Given the slot, the coin is uniform
/// on 2^64/degree values spaced `degree` apart, so a threshold t means probability
/// t/2^64 to within degree/2^64: an ε of 1e-8 is exact to ~1e-19 (a 32-bit coin would be
/// off by 2%).
@inlinable @inline(__always)
func aliasSlot(_ r: UInt64, degree: UInt64) -> (slot: UInt64, coin: UInt64) {
    let m = r.multipliedFullWidth(by: degree)
    return (m.high, m.low)
}

/// Builds alias tables with Vose's method on integer weights, so the table is exact:
/// outcome i gets weight w_i = p_i · n · 2^64 (rounded, with the rounding remainder
/// given to the largest weight so that Σw = n · 2^64 exactly), and the records
/// reproduce w_i / (n · 2^64) with no further error. The sampled probabilities then
/// match the row to ~1e-16 absolute and ~1e-16 relative except for the largest entry.
///
/// Keeps its scratch arrays between rows so that building a graph allocates per table,
/// not per row.
struct AliasTableBuilder {
    private var weights: [UInt128] = []
    private var small: [Int] = []
    private var large: [Int] = []

    /// Writes `outcomes.count` records for outcomes with (unnormalised, positive-sum)
    /// probabilities `probabilities` to `records`.
    mutating func build(outcomes: [UInt32], probabilities: [Double], into records: UnsafeMutablePointer<AliasRecord>) {
        let n = outcomes.count
        precondition(n > 0 && n == probabilities.count)
        // Equal probabilities (the permutation kernels): every slot is its own outcome.
        if probabilities.allSatisfy({ $0 == probabilities[0] }) {
            precondition(probabilities[0] > 0, "an alias table needs a positive total")
            for i in 0..<n { records[i] = AliasRecord(threshold: .max, neighbour: outcomes[i], alias: outcomes[i]) }
            return
        }
        let unit: UInt128 = 1 << 64
        let total = UInt128(n) << 64
        let sum = probabilities.reduce(0, +)
        precondition(sum > 0 && sum.isFinite, "an alias table needs a positive total")
        weights.removeAll(keepingCapacity: true)
        var largest = 0
        for (i, p) in probabilities.enumerated() {
            // x = p / sum · n < 2^31; x · 2^64 is split into whole and fractional parts.
            let x = p / sum * Double(n)
            let whole = x.rounded(.down)
            weights.append(UInt128(UInt64(whole)) << 64 | UInt128(UInt64((x - whole) * 0x1p64)))
            if weights[i] > weights[largest] { largest = i }
        }
        let assigned = weights.reduce(0, +)
        if assigned > total { weights[largest] -= assigned - total } else { weights[largest] += total - assigned }

        small.removeAll(keepingCapacity: true)
        large.removeAll(keepingCapacity: true)
        for i in 0..<n {
            if weights[i] < unit { small.append(i) } else { large.append(i) }
        }
        // Each pairing fills slot s with s's own weight and tops it up from l. With exact
        // sums, small runs out exactly when large does or earlier.
        while !small.isEmpty, let l = large.last {
            let s = small.removeLast()
            records[s] = AliasRecord(threshold: UInt64(weights[s]), neighbour: outcomes[s], alias: outcomes[l])
            weights[l] -= unit - weights[s]
            if weights[l] < unit {
                large.removeLast()
                small.append(l)
            }
        }
        for l in large {
            records[l] = AliasRecord(threshold: .max, neighbour: outcomes[l], alias: outcomes[l])
        }
        precondition(small.isEmpty, "alias weights did not sum to n · 2^64")
    }
}

/// The probability of each outcome of an alias table, read back from its records: the
/// check that a table is what it claims. Exact in integers, rounded once to Double.
func aliasProbabilities(_ records: UnsafeBufferPointer<AliasRecord>) -> [UInt32: Double] {
    var weights = [UInt32: UInt128]()
    for r in records {
        weights[r.neighbour, default: 0] += UInt128(r.threshold)
        weights[r.alias, default: 0] += (1 << 64) - UInt128(r.threshold)
    }
    let total = Double(UInt128(records.count) << 64)
    return weights.mapValues { Double($0) / total }
}
