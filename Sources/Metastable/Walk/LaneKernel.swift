import CWalkLanes

/// Which stepping loop runs a task's walks. Both give every walk the same path, so the
/// choice changes speed only.
public enum WalkKernelChoice: Sendable {
    /// The lane kernel where it applies (see `LaneKernel`), else the scalar one.
    case automatic
    /// Always the scalar Swift kernel (`WalkKernel`).
    case scalar
}

/// The hitting-time walks of a whole graph, stepped 8 per AVX-512 vector by CWalkLanes:
/// measured 2.8× the scalar kernel in cache on this project's EPYC machines, where the
/// scalar loop spends its time on xoshiro and the 128-bit multiply rather than on loads.
///
/// It applies when the CPU has AVX-512 F and DQ, the task only records hitting times
/// (`HittingTimeObserver`), the graph is whole (not a shard), its uniform parts (if any)
/// are ranges of consecutive states, and a thread interleaves at least 8 walks. Walk i
/// starts as in the scalar kernel (its generator from (seed, i), its start drawn from it),
/// and the kernel then makes the same draws in the same order.
@usableFromInline
final class LaneKernel: @unchecked Sendable {
    // @unchecked: `rows` is written in init only, then shared read-only.

    /// Whether this machine runs the lane kernel.
    static let isSupported = ms_lanes_supported() != 0

    /// The fewest walkers per thread the lane kernel is used for: one vector.
    @usableFromInline static let minimumWalkers = 8

    /// Walks started per call into C: bounds the start and end buffers.
    private static let chunk = 1024

    /// Per state, and one past the last: first record | target << 31. Four bytes a state
    /// keep the rows of 4 M states inside a 32 MiB L3, so out of cache a step waits on one
    /// DRAM miss (its record) rather than two; the target bit rides on the row the next
    /// step reads anyway, so the hit test costs no load.
    private let rows: AlignedBuffer<UInt32>
    private let graph: WalkGraph

    /// The lane form of `graph` for walks to `targets`, or nil when the kernel does not
    /// apply to it: no AVX-512, a shard, member lists, a row of no records, or 2^31 records
    /// or more.
    init?(graph: WalkGraph, targets: UnsafePointer<UInt64>, sharded: Bool) {
        guard Self.isSupported, !sharded, graph.stateCount > 0, graph.uniformLayout != .members,
              graph.recordCount < 1 << 31
        else { return nil }
        guard let rows = try? AlignedBuffer<UInt32>(uninitializedCount: graph.stateCount + 1) else { return nil }
        let offsets = graph.view.offsets
        for x in 0..<graph.stateCount {
            guard offsets[x + 1] > offsets[x] else { return nil }
            let target = UInt32(truncatingIfNeeded: targets[x >> 6] >> UInt64(x & 63) & 1)
            rows.base[x] = UInt32(truncatingIfNeeded: offsets[x]) | target << 31
        }
        rows.base[graph.stateCount] = UInt32(graph.recordCount)
        self.rows = rows
        self.graph = graph
    }

    /// Runs walks `walks` on the calling thread, `walkers` at a time: their hitting times
    /// and total steps, or nil when the lane slots cannot be allocated.
    @usableFromInline
    func run(start: StartSampler, seed: UInt64, maxSteps: UInt64, walks: Range<Int>, walkers: Int)
        -> (IntegerSampleAccumulator, UInt64)?
    {
        guard let lanes = ms_lanes_create(walkers) else { return nil }
        defer { ms_lanes_destroy(lanes) }
        let starts = UnsafeMutablePointer<ms_lane_walk>.allocate(capacity: Self.chunk)
        let ends = UnsafeMutablePointer<ms_lane_end>.allocate(capacity: Self.chunk + WalkTask.maxWalkers)
        defer {
            starts.deallocate()
            ends.deallocate()
        }
        let view = graph.view
        var laneGraph = ms_lane_graph(
            rows: rows.base, records: UnsafeRawPointer(view.records),
            member_offsets: graph.uniformLayout == .contiguous ? view.memberOffsets : nil, max_steps: maxSteps,
            prefetch: graph.bytes >= WalkTask.outOfCacheBytes ? 1 : 0)
        var times = IntegerSampleAccumulator(), steps: UInt64 = 0
        var next = walks.lowerBound
        repeat {
            let count = Swift.min(Self.chunk, walks.upperBound - next)
            for k in 0..<count {
                var r = WalkRandom(seed: seed, domain: .walk, index: UInt64(next + k))
                let x = start.sample(&r)
                starts[k] = ms_lane_walk(s0: r.s0, s1: r.s1, s2: r.s2, s3: r.s3, state: UInt64(x))
            }
            next += count
            var taken = 0
            let ended = withExtendedLifetime(self) {
                ms_lanes_run(lanes, &laneGraph, starts, count, next < walks.upperBound ? 1 : 0, &taken, ends)
            }
            for e in UnsafeBufferPointer(start: ends, count: ended) {
                if e.hit != 0 { times.record(e.steps) } else { times.recordCensored(e.steps) }
                steps &+= e.steps
            }
        } while next < walks.upperBound
        return (times, steps)
    }
}
