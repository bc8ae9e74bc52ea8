import CMetastableSupport

// Compile-time choices of the walk kernel. Each is a small `@frozen` struct of raw
// pointers, so the kernel is specialised per combination and the choice costs nothing
// per step.

/// Whether the walk is over: membership in the target set.
@usableFromInline
protocol HitTest {
    /// A hint, a pass before `contains(state)`.
    func prefetch(_ state: UInt32)
    func contains(_ state: UInt32) -> Bool
}

/// A target of one state: a compare.
@frozen @usableFromInline
struct SingleStateHit: HitTest {
    @usableFromInline let state: UInt32

    @inlinable
    init(state: UInt32) { self.state = state }

    @inlinable @inline(__always)
    func prefetch(_ x: UInt32) {}

    @inlinable @inline(__always)
    func contains(_ x: UInt32) -> Bool { x == state }
}

/// Any target: one bit per state.
@frozen @usableFromInline
struct BitsetHit: HitTest {
    @usableFromInline let bits: UnsafePointer<UInt64>

    @inlinable
    init(bits: UnsafePointer<UInt64>) { self.bits = bits }

    @inlinable @inline(__always)
    func prefetch(_ x: UInt32) { ms_prefetch(bits + Int(x &>> 6)) }

    @inlinable @inline(__always)
    func contains(_ x: UInt32) -> Bool { bits[Int(x &>> 6)] &>> UInt64(x & 63) & 1 != 0 }
}

/// What to do with an outcome that has `AliasRecord.uniformBit` set.
@usableFromInline
protocol UniformSlots {
    /// False when no row has a uniform part: the kernel then never tests the bit.
    static var exist: Bool { get }
    /// The state for the outcome "uniform over cluster `code & ~uniformBit`", from a
    /// fresh 64-bit draw `r` (bias at most size / 2^64).
    func resolve(_ code: UInt32, _ r: UInt64) -> UInt32
}

@frozen @usableFromInline
struct NoUniformSlots: UniformSlots {
    @inlinable init() {}
    @inlinable static var exist: Bool { false }
    @inlinable @inline(__always)
    func resolve(_ code: UInt32, _ r: UInt64) -> UInt32 { code }
}

/// Clusters are ranges of consecutive ids (the generator's layout): no member lookup.
@frozen @usableFromInline
struct ContiguousUniformSlots: UniformSlots {
    @usableFromInline let memberOffsets: UnsafePointer<UInt32>

    @inlinable
    init(memberOffsets: UnsafePointer<UInt32>) { self.memberOffsets = memberOffsets }

    @inlinable static var exist: Bool { true }

    @inlinable @inline(__always)
    func resolve(_ code: UInt32, _ r: UInt64) -> UInt32 {
        let c = Int(code & ~AliasRecord.uniformBit)
        let first = memberOffsets[c]
        let size = memberOffsets[c &+ 1] &- first
        return first &+ UInt32(truncatingIfNeeded: r.multipliedFullWidth(by: UInt64(size)).high)
    }
}

/// Any partition: the pick indexes the cluster's member list.
@frozen @usableFromInline
struct MemberUniformSlots: UniformSlots {
    @usableFromInline let memberOffsets: UnsafePointer<UInt32>
    @usableFromInline let members: UnsafePointer<UInt32>

    @inlinable
    init(memberOffsets: UnsafePointer<UInt32>, members: UnsafePointer<UInt32>) {
        self.memberOffsets = memberOffsets
        self.members = members
    }

    @inlinable static var exist: Bool { true }

    @inlinable @inline(__always)
    func resolve(_ code: UInt32, _ r: UInt64) -> UInt32 {
        let c = Int(code & ~AliasRecord.uniformBit)
        let first = memberOffsets[c]
        let size = memberOffsets[c &+ 1] &- first
        return members[Int(first &+ UInt32(truncatingIfNeeded: r.multipliedFullWidth(by: UInt64(size)).high))]
    }
}

/// Where a walk starts: a fixed state, or an alias draw from the walk's own stream.
@frozen @usableFromInline
struct StartSampler {
    @usableFromInline let state: UInt32
    /// Alias records over the start states; nil for a point mass (no draw is made).
    @usableFromInline let records: UnsafePointer<AliasRecord>?
    @usableFromInline let count: UInt64

    @inlinable
    init(state: UInt32, records: UnsafePointer<AliasRecord>?, count: UInt64) {
        self.state = state
        self.records = records
        self.count = count
    }

    @inlinable @inline(__always)
    func sample(_ rng: inout WalkRandom) -> UInt32 {
        guard let records else { return state }
        let (slot, coin) = aliasSlot(rng.next(), degree: count)
        return records[Int(slot)].select(coin: coin)
    }
}

/// Where a shard's rows end: a walk about to step from a state whose row another shard
/// holds leaves the kernel as a migrant instead.
@usableFromInline
protocol ShardBorder {
    /// False on a whole graph: the kernel then never tests a state.
    static var exists: Bool { get }
    /// A hint, a pass before `isForeign(state)`.
    func prefetch(_ state: UInt32)
    func isForeign(_ state: UInt32) -> Bool
}

/// Every row is here.
@frozen @usableFromInline
struct NoBorder: ShardBorder {
    @inlinable init() {}
    @inlinable static var exists: Bool { false }
    @inlinable @inline(__always) func prefetch(_ x: UInt32) {}
    @inlinable @inline(__always) func isForeign(_ x: UInt32) -> Bool { false }
}

/// One bit per state, set for states of other shards.
@frozen @usableFromInline
struct ForeignStates: ShardBorder {
    @usableFromInline let bits: UnsafePointer<UInt64>

    @inlinable
    init(bits: UnsafePointer<UInt64>) { self.bits = bits }

    @inlinable static var exists: Bool { true }

    @inlinable @inline(__always)
    func prefetch(_ x: UInt32) { ms_prefetch(bits + Int(x &>> 6)) }

    @inlinable @inline(__always)
    func isForeign(_ x: UInt32) -> Bool { bits[Int(x &>> 6)] &>> UInt64(x & 63) & 1 != 0 }
}
