/// The generator inside one walk: xoshiro256++ (Blackman and Vigna), 32 bytes of state,
/// a few cycles per 64-bit draw.
///
/// Each walk gets its own generator seeded from Philox4x32-10 at (seed, domain, index), so a
/// walk's path depends on nothing but its index: not on the thread, the worker or the order
/// in which walks run. The state is a plain value and can travel with a migrating walk.
@frozen
public struct WalkRandom: Sendable, Hashable {
    public var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// What a stream is used for; different domains never share a stream.
    public enum Domain: UInt32, Sendable {
        case walk = 0
        case chainGeneration = 1
        case learning = 2
        case search = 3
    }

    /// The stream for `index` in `domain` of the experiment seeded with `seed`.
    @inlinable
    public init(seed: UInt64, domain: Domain = .walk, index: UInt64) {
        let key = Philox4x32.Key(UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
        let lo = UInt32(truncatingIfNeeded: index), hi = UInt32(truncatingIfNeeded: index >> 32)
        let a = Philox4x32.block(counter: .init(lo, hi, domain.rawValue, 0), key: key)
        let b = Philox4x32.block(counter: .init(lo, hi, domain.rawValue, 1), key: key)
        s0 = UInt64(a.x) | UInt64(a.y) << 32
        s1 = UInt64(a.z) | UInt64(a.w) << 32
        s2 = UInt64(b.x) | UInt64(b.y) << 32
        s3 = UInt64(b.z) | UInt64(b.w) << 32
        if s0 | s1 | s2 | s3 == 0 { s0 = 0x9E37_79B9_7F4A_7C15 } // the one forbidden state
    }

    @inlinable
    public init(state: (UInt64, UInt64, UInt64, UInt64)) {
        (s0, s1, s2, s3) = state
        if s0 | s1 | s2 | s3 == 0 { s0 = 0x9E37_79B9_7F4A_7C15 }
    }

    /// The next 64 random bits.
    @inlinable @inline(__always)
    public mutating func next() -> UInt64 {
        let result = ((s0 &+ s3) << 23 | (s0 &+ s3) >> 41) &+ s0
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// A uniform integer in `0..<bound` without bias (Lemire's method with rejection).
    @inlinable
    public mutating func next(below bound: UInt64) -> UInt64 {
        precondition(bound > 0)
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return m.high
    }

    /// A uniform integer in `0..<bound`.
    @inlinable
    public mutating func next(below bound: Int) -> Int { Int(next(below: UInt64(bound))) }

    /// A uniform double in [0, 1) with 53 random bits.
    @inlinable
    public mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Shuffles `array` in place (Fisher-Yates), the same way on every platform and version.
    @inlinable
    public mutating func shuffle<T>(_ array: inout [T]) {
        guard array.count > 1 else { return }
        for i in stride(from: array.count - 1, to: 0, by: -1) {
            array.swapAt(i, next(below: i + 1))
        }
    }

    /// `count` distinct values from `0..<bound`, in random order.
    @inlinable
    public mutating func sample(_ count: Int, from bound: Int) -> [Int] {
        precondition(count <= bound)
        if count * 4 >= bound {
            var all = Array(0..<bound)
            shuffle(&all)
            return Array(all.prefix(count))
        }
        var chosen = Set<Int>()
        var out = [Int]()
        out.reserveCapacity(count)
        while out.count < count {
            let v = next(below: bound)
            if chosen.insert(v).inserted { out.append(v) }
        }
        return out
    }
}
