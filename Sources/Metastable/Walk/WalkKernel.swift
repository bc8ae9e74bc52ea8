import CMetastableSupport

/// The stepping loop: `capacity` walkers interleaved round-robin on one thread, until
/// every walk of `walks` has hit the target or reached the cap.
///
/// Each round is a two-pass software pipeline. Pass 2, for every walker: read the record
/// (prefetched in pass 1), select, move, and prefetch what pass 1 needs about the new
/// state: its row offsets, its target bit, its observer data (a cluster label). Pass 1:
/// observe the move, test for a hit or the cap, read the row, draw, and prefetch the
/// record. Every load of a round was prefetched a pass earlier, so on graphs far larger
/// than the caches up to 2 × capacity misses overlap instead of one at a time.
///
/// Walk i draws from `WalkRandom(seed:, domain: .walk, index: i)` only, in the same order
/// whatever slot or round it runs in, so its path depends on i alone. When a walk ends
/// its slot takes the next walk; when none is left, the last walker moves into the slot.
///
/// On a shard of a partitioned graph (`Border.exists`), walks also arrive as migrants,
/// which go first, and a walk about to step from another shard's state leaves as one: it
/// has been observed and tested there, and takes its next draw where that row is.
@frozen @usableFromInline
struct WalkKernel<Uniform: UniformSlots, Hit: HitTest, Border: ShardBorder, Observer: WalkObserver> {
    @usableFromInline let graph: WalkGraphView
    @usableFromInline let uniform: Uniform
    @usableFromInline let hit: Hit
    @usableFromInline let border: Border
    @usableFromInline let start: StartSampler
    @usableFromInline let seed: UInt64
    @usableFromInline let maxSteps: UInt64
    @usableFromInline let capacity: Int
    // Walker slots: state, generator, steps left before the cap, pass 1's record index and
    // coin, and (on a shard) the walk's index.
    @usableFromInline let current: UnsafeMutablePointer<UInt32>
    @usableFromInline let random: UnsafeMutablePointer<WalkRandom>
    @usableFromInline let left: UnsafeMutablePointer<UInt64>
    @usableFromInline let slot: UnsafeMutablePointer<Int>
    @usableFromInline let coin: UnsafeMutablePointer<UInt64>
    @usableFromInline let index: UnsafeMutablePointer<UInt64>
    @usableFromInline var observer: Observer
    @usableFromInline var nextWalk: Int
    @usableFromInline let endWalk: Int
    /// Arriving migrants, validated by the caller: their words and the next one to read.
    @usableFromInline let arrivals: UnsafeBufferPointer<UInt64>
    @usableFromInline var nextArrival = 0
    @usableFromInline var departures = Migrants()
    @usableFromInline var active = 0
    @usableFromInline var hittingTimes = IntegerSampleAccumulator()
    @usableFromInline var steps: UInt64 = 0

    /// Runs the `arrivals` (on a shard), then `walks`, and returns the hitting times and
    /// total steps of the walks that ended here, and the walks that left.
    @inlinable
    static func run(
        graph: WalkGraphView, uniform: Uniform, hit: Hit, border: Border, start: StartSampler, seed: UInt64,
        maxSteps: UInt64, arrivals: (words: UnsafeBufferPointer<UInt64>, count: Int) = (UnsafeBufferPointer(start: nil, count: 0), 0),
        walks: Range<Int>, walkers: Int, observer: inout Observer
    ) -> (IntegerSampleAccumulator, UInt64, Migrants) {
        let capacity = Swift.max(1, Swift.min(walkers, walks.count &+ arrivals.count))
        let state = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity)
        let random = UnsafeMutablePointer<WalkRandom>.allocate(capacity: capacity)
        let words = UnsafeMutablePointer<UInt64>.allocate(capacity: 3 * capacity)
        let slot = UnsafeMutablePointer<Int>.allocate(capacity: capacity)
        defer {
            state.deallocate()
            random.deallocate()
            words.deallocate()
            slot.deallocate()
        }
        var kernel = WalkKernel(
            graph: graph, uniform: uniform, hit: hit, border: border, start: start, seed: seed, maxSteps: maxSteps,
            capacity: capacity, current: state, random: random, left: words, slot: slot,
            coin: words + capacity, index: words + 2 * capacity, observer: observer, nextWalk: walks.lowerBound,
            endWalk: walks.upperBound, arrivals: arrivals.words)
        kernel.run()
        observer = kernel.observer
        return (kernel.hittingTimes, kernel.steps, kernel.departures)
    }

    @inlinable
    init(
        graph: WalkGraphView, uniform: Uniform, hit: Hit, border: Border, start: StartSampler, seed: UInt64,
        maxSteps: UInt64, capacity: Int, current: UnsafeMutablePointer<UInt32>, random: UnsafeMutablePointer<WalkRandom>,
        left: UnsafeMutablePointer<UInt64>, slot: UnsafeMutablePointer<Int>, coin: UnsafeMutablePointer<UInt64>,
        index: UnsafeMutablePointer<UInt64>, observer: Observer, nextWalk: Int, endWalk: Int,
        arrivals: UnsafeBufferPointer<UInt64>
    ) {
        self.graph = graph
        self.uniform = uniform
        self.hit = hit
        self.border = border
        self.start = start
        self.seed = seed
        self.maxSteps = maxSteps
        self.capacity = capacity
        self.current = current
        self.random = random
        self.left = left
        self.slot = slot
        self.coin = coin
        self.index = index
        self.observer = observer
        self.nextWalk = nextWalk
        self.endWalk = endWalk
        self.arrivals = arrivals
    }

    @inlinable @inline(never)
    mutating func run() {
        while active < capacity, startWalk(in: active) { active &+= 1 }
        let graph = graph, offsets = graph.offsets, records = graph.records, uniform = uniform, hit = hit, border = border
        let current = current, random = random, left = left, slot = slot, coin = coin
        var w = 0
        while w < active { // the first draws
            (slot[w], coin[w]) = graph.draw(from: current[w], random[w].next())
            ms_prefetch(records + slot[w])
            w &+= 1
        }
        while active > 0 {
            // Pass 2: move, and prefetch what pass 1 will read about the new state.
            w = 0
            while w < active {
                var y = records[slot[w]].select(coin: coin[w])
                if Uniform.exist, y & AliasRecord.uniformBit != 0 {
                    y = uniform.resolve(y, random[w].next())
                }
                ms_prefetch(offsets + Int(y))
                hit.prefetch(y)
                border.prefetch(y)
                observer.prefetch(y)
                current[w] = y
                left[w] &-= 1
                w &+= 1
            }
            // Pass 1: observe the move, end the walk on a hit or at the cap, or let it leave
            // the shard; draw.
            w = 0
            while w < active {
                let x = current[w]
                observer.step(walker: w, to: x)
                let isHit = hit.contains(x)
                if isHit || left[w] == 0 {
                    if walkEnded(in: w, hit: isHit) { continue } // another walker moved into w
                    if w == active { break } // w was the last slot
                } else if Border.exists, border.isForeign(x) {
                    depart(from: w)
                    if refill(w) { continue }
                    if w == active { break }
                }
                (slot[w], coin[w]) = graph.draw(from: current[w], random[w].next())
                ms_prefetch(records + slot[w])
                w &+= 1
            }
        }
    }

    /// Starts the next walk in slot `w`: an arriving migrant, else the next index of the
    /// batch. Walks that end where they start (τ = 0, or a cap of 0) are recorded on the
    /// way, and ones that start on another shard leave. False when none is left.
    @inlinable
    mutating func startWalk(in w: Int) -> Bool {
        if Border.exists, nextArrival < arrivals.count {
            resume(in: w)
            return true
        }
        while nextWalk < endWalk {
            var r = WalkRandom(seed: seed, domain: .walk, index: UInt64(nextWalk))
            index[w] = UInt64(nextWalk)
            nextWalk &+= 1
            let x = start.sample(&r)
            observer.begin(walker: w, at: x)
            if hit.contains(x) || maxSteps == 0 {
                finish(w, steps: 0, censored: !hit.contains(x))
                continue
            }
            current[w] = x
            random[w] = r
            left[w] = maxSteps
            if Border.exists, border.isForeign(x) {
                depart(from: w)
                continue
            }
            return true
        }
        return false
    }

    /// The next arrival continues in slot `w`, about to draw its step.
    @inlinable @inline(never)
    mutating func resume(in w: Int) {
        let at = nextArrival
        let n = Int(truncatingIfNeeded: arrivals[at &+ 7])
        index[w] = arrivals[at]
        current[w] = UInt32(truncatingIfNeeded: arrivals[at &+ 1])
        random[w] = WalkRandom(state: (arrivals[at &+ 2], arrivals[at &+ 3], arrivals[at &+ 4], arrivals[at &+ 5]))
        left[w] = arrivals[at &+ 6]
        // `steps` counts steps taken here: a walk ending or leaving adds all it has taken,
        // so an arrival subtracts what it took before (wrapping; the total is exact).
        steps &-= maxSteps &- left[w]
        let words = UnsafeBufferPointer(rebasing: arrivals[at &+ Migrants.headerWords..<at &+ Migrants.headerWords &+ n])
        observer.resume(walker: w, at: current[w], words: words)
        nextArrival = at &+ Migrants.headerWords &+ n
    }

    /// The walk in slot `w` leaves for the shard holding its state's row.
    @inlinable @inline(never)
    mutating func depart(from w: Int) {
        steps &+= maxSteps &- left[w]
        let position = departures.beginWalk(index: index[w], state: current[w], random: random[w], left: left[w])
        observer.export(walker: w, into: &departures.storage)
        departures.endWalk(countAt: position)
    }

    /// Records a walk that ended after `steps` steps.
    @inlinable
    mutating func finish(_ w: Int, steps: UInt64, censored: Bool) {
        observer.end(walker: w, steps: steps, censored: censored)
        if censored { hittingTimes.recordCensored(steps) } else { hittingTimes.record(steps) }
        self.steps &+= steps
    }

    /// The walk in slot `w` hit or reached the cap; see `refill(_:)`.
    @inlinable @inline(never)
    mutating func walkEnded(in w: Int, hit: Bool) -> Bool {
        finish(w, steps: maxSteps &- left[w], censored: !hit)
        return refill(w)
    }

    /// Slot `w`'s walk is over here. The slot takes the next walk or, when there is none,
    /// the last active walker. Returns true in the second case: that walker's move is
    /// still to be observed.
    @inlinable
    mutating func refill(_ w: Int) -> Bool {
        if startWalk(in: w) { return false }
        active &-= 1
        let last = active
        guard w != last else { return false }
        current[w] = current[last]
        random[w] = random[last]
        left[w] = left[last]
        slot[w] = slot[last]
        coin[w] = coin[last]
        index[w] = index[last]
        observer.move(walker: last, to: w)
        return true
    }
}
