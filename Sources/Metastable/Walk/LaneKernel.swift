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
/// It applies when the CPU has AVX-512 F and DQ, the task records hitting times and
/// possibly cluster statistics (`HittingTimeObserver`, `ClusterObserver`), the graph is
/// whole (not a shard), its uniform parts (if any) are ranges of consecutive states, and a
/// thread interleaves at least 8 walks. Walk i
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

    /// Lane slots for `walkers` walkers: whole vectors of 8.
    @usableFromInline static func laneCount(walkers: Int) -> Int { Swift.min(WalkTask.maxWalkers, (Swift.max(1, walkers) + 7) / 8 * 8) }

    /// Runs walks `walks` on the calling thread, `walkers` at a time: their hitting times
    /// and total steps, or nil when the lane slots cannot be allocated. With `clusters`
    /// (an observer with `laneCount(walkers:)` slots) the kernel reports each walk's start,
    /// cluster changes and end, and the observer sees what the scalar kernel shows it:
    /// the steps between changes are added in one go rather than one at a time.
    @usableFromInline
    func run(
        start: StartSampler, seed: UInt64, maxSteps: UInt64, walks: Range<Int>, walkers: Int,
        clusters: inout ClusterObserver?
    ) -> (IntegerSampleAccumulator, UInt64)? {
        guard let lanes = ms_lanes_create(walkers) else { return nil }
        defer { ms_lanes_destroy(lanes) }
        let capacity = Self.chunk + 2 * ms_lanes_round_events(lanes)
        let starts = UnsafeMutablePointer<ms_lane_walk>.allocate(capacity: Self.chunk)
        let events = UnsafeMutablePointer<ms_lane_event>.allocate(capacity: capacity)
        defer {
            starts.deallocate()
            events.deallocate()
        }
        let view = graph.view
        var laneGraph = ms_lane_graph(
            rows: rows.base, records: UnsafeRawPointer(view.records),
            member_offsets: graph.uniformLayout == .contiguous ? view.memberOffsets : nil,
            labels: clusters == nil ? nil : view.labels, max_steps: maxSteps,
            prefetch: graph.bytes >= WalkTask.outOfCacheBytes ? 1 : 0)
        var times = IntegerSampleAccumulator(), steps: UInt64 = 0
        // Per lane, the steps of its walk at the last event the observer saw.
        var seen = [UInt64](repeating: 0, count: Self.laneCount(walkers: walkers))
        var next = walks.lowerBound
        repeat {
            let count = Swift.min(Self.chunk, walks.upperBound - next)
            for k in 0..<count {
                var r = WalkRandom(seed: seed, domain: .walk, index: UInt64(next + k))
                let x = start.sample(&r)
                starts[k] = ms_lane_walk(s0: r.s0, s1: r.s1, s2: r.s2, s3: r.s3, state: UInt64(x))
            }
            next += count
            var offset = 0, status: Int32 = 0
            repeat {
                var taken = 0
                let n = withExtendedLifetime(self) {
                    ms_lanes_run(
                        lanes, &laneGraph, starts + offset, count - offset, next < walks.upperBound ? 1 : 0, &taken,
                        events, capacity, &status)
                }
                offset += taken
                for e in UnsafeBufferPointer(start: events, count: n) {
                    let lane = Int(e.lane)
                    switch e.kind {
                    case ms_lane_began.rawValue:
                        clusters?.begin(walker: lane, at: UInt32(truncatingIfNeeded: e.state))
                        seen[lane] = 0
                    case ms_lane_crossed.rawValue:
                        // `step` counts the crossing step itself.
                        clusters?.pending[lane] &+= e.steps &- seen[lane] &- 1
                        clusters?.step(walker: lane, to: UInt32(truncatingIfNeeded: e.state))
                        seen[lane] = e.steps
                    default:
                        let hit = e.kind == ms_lane_hit.rawValue
                        if hit { times.record(e.steps) } else { times.recordCensored(e.steps) }
                        steps &+= e.steps
                        clusters?.pending[lane] &+= e.steps &- seen[lane]
                        clusters?.end(walker: lane, steps: e.steps, censored: !hit)
                    }
                }
            } while status == Int32(ms_lanes_events_full.rawValue)
        } while next < walks.upperBound
        return (times, steps)
    }
}
