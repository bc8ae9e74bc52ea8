import Testing
@testable import Metastable

@Suite("Random")
struct RandomTests {
    // Known-answer vectors from Random123's kat_vectors for philox4x32_10.
    @Test(arguments: [
        (Philox4x32.Counter(0, 0, 0, 0), Philox4x32.Key(0, 0),
         Philox4x32.Counter(0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8)),
        (Philox4x32.Counter(.max, .max, .max, .max), Philox4x32.Key(.max, .max),
         Philox4x32.Counter(0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd)),
        (Philox4x32.Counter(0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), Philox4x32.Key(0xa409_3822, 0x299f_31d0),
         Philox4x32.Counter(0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1)),
    ])
    func philoxKnownAnswers(counter: Philox4x32.Counter, key: Philox4x32.Key, expected: Philox4x32.Counter) {
        #expect(Philox4x32.block(counter: counter, key: key) == expected)
    }

    @Test func walkStreamsDependOnlyOnSeedAndIndex() {
        var a = WalkRandom(seed: 7, index: 12345)
        var b = WalkRandom(seed: 7, index: 12345)
        var c = WalkRandom(seed: 7, index: 12346)
        var d = WalkRandom(seed: 8, index: 12345)
        let xa = (0..<4).map { _ in a.next() }
        #expect(xa == (0..<4).map { _ in b.next() })
        #expect(xa != (0..<4).map { _ in c.next() })
        #expect(xa != (0..<4).map { _ in d.next() })
    }

    @Test func boundedDrawsAreUniform() {
        var r = WalkRandom(seed: 1, index: 0)
        let bins = 10, n = 100_000
        var counts = [Int](repeating: 0, count: bins)
        for _ in 0..<n { counts[r.next(below: bins)] += 1 }
        let expected = Double(n) / Double(bins)
        let chi2 = counts.reduce(0.0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
        // 9 degrees of freedom: P(chi2 > 27.9) = 0.001
        #expect(chi2 < 27.9)
    }
}
