/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11):
/// a counter-based generator. The output is a pure function of (counter, key), so a stream
/// can be derived for any index without generating the ones before it.
@frozen
public struct Philox4x32: Sendable {
    public typealias Counter = SIMD4<UInt32>
    public typealias Key = SIMD2<UInt32>

    @usableFromInline static let m0: UInt64 = 0xD251_1F53
    @usableFromInline static let m1: UInt64 = 0xCD9E_8D57
    @usableFromInline static let w0: UInt32 = 0x9E37_79B9
    @usableFromInline static let w1: UInt32 = 0xBB67_AE85

    /// The 128-bit block for `counter` under `key`: ten rounds of the Philox bijection.
    @inlinable
    public static func block(counter: Counter, key: Key) -> Counter {
        var c = counter
        var k = key
        for round in 0..<10 {
            if round > 0 {
                k.x = k.x &+ w0
                k.y = k.y &+ w1
            }
            let p0 = m0 &* UInt64(c.x)
            let p1 = m1 &* UInt64(c.z)
            c = Counter(
                UInt32(truncatingIfNeeded: p1 >> 32) ^ c.y ^ k.x,
                UInt32(truncatingIfNeeded: p1),
                UInt32(truncatingIfNeeded: p0 >> 32) ^ c.w ^ k.y,
                UInt32(truncatingIfNeeded: p0))
        }
        return c
    }
}
