import CMetastableSupport

/// Walks leaving one shard for another, with everything they need to go on where they
/// arrive: the walk's index, the state it is about to step from, its generator, the steps
/// left before the cap, and its observer's state. A walk's path depends on nothing else,
/// so it continues on any worker exactly as it would have on one holding the whole graph.
///
/// Stored as one array of words, which is also their wire form: per walk
/// `[index, state, s0, s1, s2, s3, left, n, n observer words]`.
public struct Migrants: Sendable, Equatable {
    @usableFromInline var storage: [UInt64] = []
    /// The walks' words, laid out as above.
    public var words: [UInt64] { storage }
    @usableFromInline var walkCount = 0
    public var count: Int { walkCount }

    /// Words per walk before its observer's.
    @usableFromInline static let headerWords = 8

    public init() {}

    /// Walks as `words` lays them out, checked for shape only: each walk's words are all
    /// there, and no word is left over. What they say is checked where they arrive.
    public init(words: [UInt64]) throws(MigrationError) {
        var at = 0, count = 0
        while at < words.count {
            guard words.count - at >= Self.headerWords else {
                throw MigrationError("walk \(count) of the migrants is cut short: \(words.count - at) words, its header needs \(Self.headerWords)")
            }
            let n = words[at + 7]
            guard n <= UInt64(words.count - at - Self.headerWords) else {
                throw MigrationError("walk \(count) of the migrants claims \(n) observer words, only \(words.count - at - Self.headerWords) follow")
            }
            at += Self.headerWords + Int(n)
            count += 1
        }
        storage = words
        walkCount = count
    }

    public var isEmpty: Bool { count == 0 }

    /// One walk, as read back.
    public struct Walk: Sendable, Equatable {
        public var index: UInt64
        public var state: UInt64
        public var random: WalkRandom
        public var left: UInt64
        /// Where its observer's words are in `words`.
        public var observer: Range<Int>
    }

    /// The walks in order.
    public var walks: [Walk] {
        var result = [Walk](), at = 0
        result.reserveCapacity(count)
        while at < words.count {
            let n = Int(words[at + 7])
            result.append(Walk(
                index: words[at], state: words[at + 1],
                random: WalkRandom(state: (words[at + 2], words[at + 3], words[at + 4], words[at + 5])),
                left: words[at + 6], observer: at + Self.headerWords..<at + Self.headerWords + n))
            at += Self.headerWords + n
        }
        return result
    }

    /// The words of `walk`, to move it into another set.
    public func words(of walk: Walk) -> ArraySlice<UInt64> {
        words[walk.observer.lowerBound - Self.headerWords..<walk.observer.upperBound]
    }

    /// Adds a walk read from another set.
    public mutating func append(_ walkWords: ArraySlice<UInt64>) {
        storage.append(contentsOf: walkWords)
        walkCount += 1
    }

    public mutating func append(contentsOf other: Migrants) {
        storage.append(contentsOf: other.storage)
        walkCount += other.count
    }

    /// Why one of these walks cannot go on from its state, or nil when each can: the state
    /// must be among `stateCount`, `belongsHere` (held by the shard it arrives on) and not
    /// in the target (where it would have ended), with 1...`maxSteps` steps left, and its
    /// observer words what `observer(words, state, steps taken)` accepts.
    public func problem(
        stateCount: Int, maxSteps: UInt64, belongsHere: (Int) -> Bool, isTarget: (Int) -> Bool,
        observer: (ArraySlice<UInt64>, UInt32, UInt64) -> String?
    ) -> String? {
        for (i, walk) in walks.enumerated() {
            let problem: String? =
                if walk.state >= UInt64(stateCount) {
                    "state \(walk.state) is outside the graph's \(stateCount) states"
                } else if !belongsHere(Int(walk.state)) {
                    "state \(walk.state) belongs to another shard"
                } else if isTarget(Int(walk.state)) {
                    "state \(walk.state) is in the target, where the walk would have ended"
                } else if walk.left == 0 || walk.left > maxSteps {
                    "\(walk.left) steps left, not in 1...\(maxSteps)"
                } else {
                    observer(words[walk.observer], UInt32(walk.state), maxSteps - walk.left)
                }
            if let problem { return "walk \(i) (index \(walk.index)): \(problem)" }
        }
        return nil
    }

    /// XXH64 of a segment made of these arrivals and the fresh walks `fresh`: what the
    /// coordinator and a worker compare to agree on which version of a segment ran.
    public func digest(fresh: Range<UInt64>) -> UInt64 {
        let words = [fresh.lowerBound, fresh.upperBound] + storage
        return words.withUnsafeBytes { ms_xxh64($0.baseAddress, $0.count, 0) }
    }

    /// Starts a walk's words; the observer appends its own, then `endWalk(countAt:)`.
    @inlinable
    mutating func beginWalk(index: UInt64, state: UInt32, random: WalkRandom, left: UInt64) -> Int {
        storage.append(contentsOf: [index, UInt64(state), random.s0, random.s1, random.s2, random.s3, left, 0])
        return storage.count - 1
    }

    @inlinable
    mutating func endWalk(countAt position: Int) {
        storage[position] = UInt64(storage.count - position - 1)
        walkCount += 1
    }
}

/// Migrants that cannot be resumed: cut short, or not a walk of this shard.
public struct MigrationError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
