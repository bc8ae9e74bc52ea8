// Stand-ins for the Statistics accumulators (branch `stats`), with the same API subset
// the walk code uses. When Statistics lands, point the two aliases at
// `IntegerSampleAccumulator` and `TransitionCounts` and delete this file's structs.

/// Per-walk integer samples (hitting times, hard steps, clusters visited).
public typealias WalkSamples = WalkSampleTally
/// Cluster-to-cluster step counts.
public typealias WalkTransitions = WalkTransitionTally

/// Exact, mergeable statistics of non-negative integer samples. Same semantics as
/// `IntegerSampleAccumulator`: a censored sample counts at the cap and in `censoredCount`.
public struct WalkSampleTally: Sendable, Equatable {
    public private(set) var count: UInt64 = 0
    public private(set) var censoredCount: UInt64 = 0
    public private(set) var sum: UInt128 = 0
    /// Checked: 2^64 samples of 2^32 fit; more traps rather than wraps.
    public private(set) var sumOfSquares: UInt128 = 0
    private var lowest: UInt64 = .max
    private var highest: UInt64 = 0

    public init() {}

    public var min: UInt64? { count == 0 ? nil : lowest }
    public var max: UInt64? { count == 0 ? nil : highest }

    public mutating func record(_ t: UInt64) {
        count += 1
        sum += UInt128(t)
        sumOfSquares += UInt128(t) * UInt128(t)
        lowest = Swift.min(lowest, t)
        highest = Swift.max(highest, t)
    }

    public mutating func recordCensored(_ cap: UInt64) {
        censoredCount += 1
        record(cap)
    }

    public mutating func merge(_ other: WalkSampleTally) {
        count += other.count
        censoredCount += other.censoredCount
        sum += other.sum
        sumOfSquares += other.sumOfSquares
        lowest = Swift.min(lowest, other.lowest)
        highest = Swift.max(highest, other.highest)
    }
}

/// Steps from each cluster, and steps from k into l ≠ k. Same semantics as
/// `TransitionCounts`: `record(from: k, to: k, count:)` records stays.
public struct WalkTransitionTally: Sendable, Equatable {
    private var stepsIn: [UInt64]
    private var transitions: [UInt64: UInt64] = [:]

    public init(clusterCount: Int) {
        stepsIn = [UInt64](repeating: 0, count: clusterCount)
    }

    public var clusterCount: Int { stepsIn.count }

    public mutating func record(from k: Int, to l: Int, count: UInt64 = 1) {
        stepsIn[k] += count
        if k != l, count > 0 { transitions[UInt64(k) << 32 | UInt64(l), default: 0] += count }
    }

    public mutating func merge(_ other: WalkTransitionTally) {
        precondition(clusterCount == other.clusterCount)
        for k in stepsIn.indices { stepsIn[k] += other.stepsIn[k] }
        transitions.merge(other.transitions, uniquingKeysWith: +)
    }

    public func steps(in k: Int) -> UInt64 { stepsIn[k] }

    public func count(from k: Int, to l: Int) -> UInt64 {
        k == l
            ? stepsIn[k] - transitions.filter { $0.key >> 32 == UInt64(k) }.values.reduce(0, +)
            : transitions[UInt64(k) << 32 | UInt64(l)] ?? 0
    }
}
