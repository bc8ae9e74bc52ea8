import Foundation
import Testing
@testable import Metastable

@Suite("Statistics")
struct StatisticsTests {
    // MARK: Summary statistics

    @Test func summaryMatchesDirectComputation() {
        var r = WalkRandom(seed: 1, index: 0)
        let known: [UInt64] = [0, 1, 3, 7, 7, 19, 64, 65, 100, 1000, 123_456, 9_999_999_937]
        let random = (0..<10_000).map { _ in r.next() >> (20 + r.next(below: 44)) }
        for samples in [known, random] {
            let summary = accumulate(samples).summary
            let xs = samples.map { Double($0) }
            let mean = xs.reduce(0, +) / Double(xs.count)
            let sd = (xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(xs.count - 1)).squareRoot()
            let se = sd / Double(xs.count).squareRoot()

            #expect(summary.count == UInt64(samples.count))
            #expect(summary.min == samples.min() && summary.max == samples.max())
            #expect(close(summary.mean, mean))
            #expect(close(summary.standardDeviation, sd))
            #expect(close(summary.standardError, se))
            #expect(close(summary.ci95?.lowerBound, mean - 1.959963984540054 * se))
            #expect(close(summary.ci95?.upperBound, mean + 1.959963984540054 * se))
            #expect(!summary.meanIsLowerBound)
        }
    }

    @Test(arguments: [0, 1, 63, 64, 1_000_003, 9_999_999_999_989] as [UInt64])
    func constantSampleHasExactlyZeroSpread(t: UInt64) {
        var accumulator = HittingTimeAccumulator()
        for _ in 0..<1000 { accumulator.record(t) }
        let summary = accumulator.summary
        #expect(summary.mean == Double(t))
        #expect(summary.standardDeviation == 0)
        #expect(summary.standardError == 0)
        #expect(summary.ci95 == Double(t)...Double(t))
        #expect(summary.p50 == Double(t) && summary.p90 == Double(t) && summary.p99 == Double(t))
    }

    @Test func varianceDoesNotCancelAtLargeOffsets() {
        // In Double, n·Σt² and (Σt)² here are ~1e27 apart by 6: the difference is lost.
        let t0: UInt64 = 10_000_000_000_000
        let summary = accumulate([t0, t0 + 1, t0 + 2]).summary
        #expect(summary.mean == Double(t0 + 1))
        #expect(summary.standardDeviation == 1)
    }

    @Test func smallSamplesLeaveUndefinedValuesNil() throws {
        let empty = HittingTimeAccumulator().summary
        #expect(empty.count == 0)
        #expect(empty.mean == nil && empty.standardDeviation == nil && empty.standardError == nil && empty.ci95 == nil)
        #expect(empty.min == nil && empty.max == nil && empty.p50 == nil && empty.p99 == nil)
        #expect(!empty.meanIsLowerBound)

        let single = accumulate([42]).summary
        #expect(single.mean == 42 && single.min == 42 && single.max == 42 && single.p50 == 42)
        #expect(single.standardDeviation == nil && single.standardError == nil && single.ci95 == nil)

        for summary in [empty, single] {
            #expect(try JSONDecoder().decode(HittingTimeSummary.self, from: json(summary)) == summary)
        }
    }

    @Test func censoredSamplesMakeTheMeanALowerBound() {
        var accumulator = accumulate([3, 5])
        #expect(!accumulator.summary.meanIsLowerBound)

        var capped = HittingTimeAccumulator()
        capped.recordCensored(100)
        accumulator.merge(capped)
        let summary = accumulator.summary
        #expect(summary.count == 3 && summary.censored == 1)
        #expect(summary.max == 100 && summary.mean == 36)
        #expect(summary.meanIsLowerBound)
    }

    // MARK: Exact merging

    @Test func mergeIsIndependentOfSplitAndOrder() throws {
        var r = WalkRandom(seed: 2, index: 0)
        let cap: UInt64 = 1 << 44
        // Every magnitude up to the cap, some walks censored at it.
        let samples = (0..<5000).map { _ in r.next(below: 20) == 0 ? cap : r.next() >> (20 + r.next(below: 44)) }
        var reference = HittingTimeAccumulator()
        for t in samples { t == cap ? reference.recordCensored(t) : reference.record(t) }
        let referenceJSON = try json(reference.summary)

        for trial in 0..<100 {
            var r = WalkRandom(seed: 3, index: UInt64(trial))
            var batches = [HittingTimeAccumulator](repeating: .init(), count: 1 + r.next(below: 16))
            for t in samples {
                let b = r.next(below: batches.count)
                t == cap ? batches[b].recordCensored(t) : batches[b].record(t)
            }
            // Merge in a random tree: any two partial results, either way round.
            while batches.count > 1 {
                let a = batches.remove(at: r.next(below: batches.count))
                batches[r.next(below: batches.count)].merge(a)
            }
            #expect(batches[0] == reference)
            #expect(try json(batches[0].summary) == referenceJSON)
        }
    }

    @Test func hugeSamplesDoNotOverflow() {
        let t: UInt64 = 9_999_999_999_971
        var constant = accumulate([t])
        for _ in 0..<20 { constant.merge(constant) } // 2^20 samples
        #expect(constant.count == 1 << 20)
        #expect(constant.sum == UInt128(t) << 20)
        #expect(constant.sumOfSquares == UInt128(t) * UInt128(t) << 20)
        #expect(constant.summary.mean == Double(t))
        #expect(constant.summary.standardDeviation == 0)

        // Half at 1e13, half 2e6 below: mean 1e13 - 1e6, population SD 1e6.
        var spread = accumulate([10_000_000_000_000, 9_999_998_000_000])
        for _ in 0..<19 { spread.merge(spread) }
        let n = Double(spread.count)
        #expect(spread.summary.mean == 9_999_999_000_000)
        #expect(close(spread.summary.standardDeviation, 1e6 * (n / (n - 1)).squareRoot()))

        // Near 2^63, Σt² nears 2^128 and n·Σt², (Σt)² pass it: SD of {t, t, t, 0} is t/2.
        let big = UInt64.max >> 1
        let extreme = accumulate([big, big, big, 0])
        #expect(extreme.sumOfSquares == 3 * UInt128(big) * UInt128(big))
        #expect(close(extreme.summary.standardDeviation, Double(big) / 2))
    }

    // MARK: Histogram and quantiles

    @Test func histogramBinsCoverEveryUInt64() {
        #expect(LogHistogram.lowerBound(of: 0) == 0)
        #expect(LogHistogram.upperBound(of: LogHistogram.binCount - 1) == .max)
        #expect(LogHistogram.bin(for: 0) == 0)
        #expect(LogHistogram.bin(for: .max) == LogHistogram.binCount - 1)
        for bin in 0..<LogHistogram.binCount {
            let lower = LogHistogram.lowerBound(of: bin), upper = LogHistogram.upperBound(of: bin)
            #expect(lower <= upper)
            #expect(LogHistogram.bin(for: lower) == bin && LogHistogram.bin(for: upper) == bin)
            if bin < 64 { #expect(lower == UInt64(bin) && upper == lower) }
            if bin > 0 { #expect(LogHistogram.upperBound(of: bin - 1) + 1 == lower) } // no gap, no overlap
            #expect((upper - lower) <= lower / 32) // width within 1/32 of every value in the bin
        }
        var r = WalkRandom(seed: 4, index: 0)
        for _ in 0..<10_000 {
            let value = r.next() >> r.next(below: 64)
            let bin = LogHistogram.bin(for: value)
            #expect(LogHistogram.lowerBound(of: bin) <= value && value <= LogHistogram.upperBound(of: bin))
        }
    }

    @Test func quantilesBelow64AreExact() {
        var r = WalkRandom(seed: 5, index: 0)
        let samples = (0..<1001).map { _ in UInt64(r.next(below: 64)) }
        let accumulator = accumulate(samples)
        let sorted = samples.sorted()
        for percent in 0...100 {
            let p = Double(percent) / 100
            #expect(accumulator.quantile(p) == Double(sorted[nearestRank(p, sorted.count)]))
        }
    }

    @Test func geometricQuantilesAreWithinBinResolution() {
        // Geometric on {0, 1, ...} with success probability q, by inversion:
        // P(T ≥ k) = (1 - q)^k, so the p-quantile is ⌈ln(1 - p) / ln(1 - q)⌉ - 1.
        let q = 1e-5, n = 200_000
        var r = WalkRandom(seed: 6, index: 0)
        let samples = (0..<n).map { _ in UInt64((Foundation.log(1 - r.nextDouble()) / Foundation.log1p(-q)).rounded(.down)) }
        let accumulator = accumulate(samples)
        let sorted = samples.sorted()
        for p in [0.5, 0.9, 0.99] {
            let estimate = accumulator.quantile(p)!
            // Against the sample: in the same bin as the exact nearest-rank quantile.
            let exact = sorted[nearestRank(p, n)]
            let bin = LogHistogram.bin(for: exact)
            #expect(Double(LogHistogram.lowerBound(of: bin)) <= estimate)
            #expect(estimate <= Double(LogHistogram.upperBound(of: bin)))
            // Against the distribution: bin resolution plus four standard errors of the
            // sample quantile, √(p(1-p)/n) / density, the density there being q·(1 - p).
            let truth = (Foundation.log(1 - p) / Foundation.log1p(-q)).rounded(.up) - 1
            let samplingError = (p * (1 - p) / Double(n)).squareRoot() / (q * (1 - p))
            #expect(abs(estimate - truth) <= truth / 32 + 4 * samplingError)
        }
        #expect(accumulator.summary.p50 == accumulator.quantile(0.5))
        #expect(accumulator.summary.p90 == accumulator.quantile(0.9))
        #expect(accumulator.summary.p99 == accumulator.quantile(0.99))
    }

    // MARK: Codable

    @Test func accumulatorRoundTripsThroughDeterministicJSON() throws {
        var r = WalkRandom(seed: 7, index: 0)
        var accumulator = accumulate((0..<1000).map { _ in r.next() >> (20 + r.next(below: 44)) })
        accumulator.recordCensored(1 << 44)
        #expect(accumulator.sumOfSquares > UInt128(UInt64.max))

        let data = try json(accumulator)
        #expect(try json(accumulator) == data)
        let decoded = try JSONDecoder().decode(HittingTimeAccumulator.self, from: data)
        #expect(decoded == accumulator)
        #expect(try json(decoded) == data)
        // The 128-bit sums travel as decimal strings, the histogram as [bin, count] pairs.
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["sum"] as? String == String(accumulator.sum))
        #expect(object["sumOfSquares"] as? String == String(accumulator.sumOfSquares))
        #expect((object["histogram"] as? [[Int]])?.count == accumulator.histogram.nonEmptyBins.count)

        let summary = accumulator.summary
        #expect(try JSONDecoder().decode(HittingTimeSummary.self, from: json(summary)) == summary)

        for edge in [HittingTimeAccumulator(), accumulate([.max]), accumulate([0, .max])] {
            #expect(try JSONDecoder().decode(HittingTimeAccumulator.self, from: json(edge)) == edge)
        }
    }

    @Test func decodingRejectsInconsistentAccumulators() throws {
        let valid = try JSONSerialization.jsonObject(with: json(accumulate([1, 2, 300]))) as! [String: Any]
        let corruptions: [(String, Any)] = [
            ("count", 4),                            // the histogram holds 3
            ("censoredCount", 5),                    // more censored than samples
            ("sum", "12x"),                          // not a number
            ("sumOfSquares", "1"),                   // n·Σt² < (Σt)²
            ("histogram", [[1, 1], [1, 1], [98, 1]]), // a repeated bin
            ("histogram", [[1, 1], [2, 1], [5000, 1]]), // no such bin
        ]
        for (key, value) in corruptions {
            var object = valid
            object[key] = value
            let data = try JSONSerialization.data(withJSONObject: object)
            #expect(throws: DecodingError.self) { try JSONDecoder().decode(HittingTimeAccumulator.self, from: data) }
        }
    }

    // MARK: Transition counts

    @Test func transitionCountsEstimateTheMetaChain() {
        var counts = TransitionCounts(clusterCount: 4)
        counts.record(from: 0, to: 0, count: 90)
        counts.record(from: 0, to: 2, count: 4)
        counts.record(from: 0, to: 1, count: 6)
        counts.record(from: 1, to: 1, count: 50)
        counts.record(from: 1, to: 0, count: 50)
        counts.record(from: 2, to: 3, count: 0)

        #expect(counts.steps(in: 0) == 100 && counts.exits(from: 0) == 10)
        #expect(counts.count(from: 0, to: 0) == 90 && counts.count(from: 0, to: 1) == 6)
        #expect(counts.count(from: 2, to: 3) == 0 && counts.count(from: 3, to: 3) == 0)
        let escape = counts.escapeDistribution(from: 0)
        #expect(escape.map { $0.0 } == [1, 2] && escape.map { $0.1 } == [0.6, 0.4])
        #expect(counts.escapeDistribution(from: 2).isEmpty)

        let q = counts.metaTransitionMatrixEstimate()
        #expect(q[0] == [0.9, 0.06, 0.04, 0])
        #expect(q[1] == [0.5, 0.5, 0, 0])
        #expect(q[2] == nil && q[3] == nil) // never left from: no estimate
    }

    @Test func transitionCountsMergeExactlyAndEncodeDeterministically() throws {
        let clusters = 8
        var r = WalkRandom(seed: 8, index: 0)
        let steps = (0..<5000).map { _ in
            (r.next(below: clusters), r.next(below: 3) == 0 ? r.next(below: clusters) : -1, UInt64(r.next(below: 1000)))
        }
        func record(_ step: (Int, Int, UInt64), into counts: inout TransitionCounts) {
            let (k, l, n) = step
            l < 0 ? counts.record(from: k, to: k, count: n) : counts.record(from: k, to: l)
        }
        var reference = TransitionCounts(clusterCount: clusters)
        for step in steps { record(step, into: &reference) }
        let data = try json(reference)

        for trial in 0..<20 {
            var r = WalkRandom(seed: 9, index: UInt64(trial))
            var batches = [TransitionCounts](repeating: .init(clusterCount: clusters), count: 1 + r.next(below: 8))
            for step in steps { record(step, into: &batches[r.next(below: batches.count)]) }
            while batches.count > 1 {
                let a = batches.remove(at: r.next(below: batches.count))
                batches[r.next(below: batches.count)].merge(a)
            }
            #expect(batches[0] == reference)
            #expect(try json(batches[0]) == data) // hash order never leaks into the bytes
        }
        #expect(try JSONDecoder().decode(TransitionCounts.self, from: data) == reference)
        for row in reference.metaTransitionMatrixEstimate() {
            #expect(abs(try #require(row).reduce(0, +) - 1) < 1e-12)
        }
    }

    // MARK: Helpers

    private func accumulate(_ samples: [UInt64]) -> HittingTimeAccumulator {
        var accumulator = HittingTimeAccumulator()
        for t in samples { accumulator.record(t) }
        return accumulator
    }

    /// The 0-based index of the nearest-rank p-quantile in a sorted sample of `count`.
    private func nearestRank(_ p: Double, _ count: Int) -> Int {
        max(Int((p * Double(count)).rounded(.up)), 1) - 1
    }

    private func close(_ a: Double?, _ b: Double, relative: Double = 1e-12) -> Bool {
        guard let a else { return false }
        return abs(a - b) <= relative * max(abs(a), abs(b))
    }

    private func json(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return try encoder.encode(value)
    }
}
