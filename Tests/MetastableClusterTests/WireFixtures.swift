import Metastable
import MetastableCluster

/// Realistic envelopes, one per verb, and a hand-rolled protobuf writer for bytes the
/// Swift encoder cannot produce (invalid on purpose).
enum WireFixtures {
    static let runID = "run-2026-01-07T10:31:00Z-4f1c"

    /// 20,000 random hitting times spread over 20 octaves up to 2^56, and 37 censored ones:
    /// Σt and Σt² both need more than 64 bits.
    static let hittingTime: IntegerSampleAccumulator = {
        var r = WalkRandom(seed: 42, index: 0)
        var accumulator = IntegerSampleAccumulator()
        for _ in 0..<20_000 { accumulator.record(r.next() >> (8 + r.next(below: 20))) }
        for _ in 0..<37 { accumulator.recordCensored(1 << 56) }
        return accumulator
    }()

    static let hardSteps: IntegerSampleAccumulator = {
        var r = WalkRandom(seed: 43, index: 0)
        var accumulator = IntegerSampleAccumulator()
        for _ in 0..<20_037 { accumulator.record(1 + r.next(below: 12)) }
        return accumulator
    }()

    /// Steps of walks over 40 clusters that mostly stay and rarely cross.
    static let transitions: TransitionCounts = {
        var r = WalkRandom(seed: 44, index: 0)
        var counts = TransitionCounts(clusterCount: 40)
        for _ in 0..<5000 {
            let k = r.next(below: 40)
            counts.record(from: k, to: k, count: 1000 + r.next(below: 100_000))
            counts.record(from: k, to: (k + 1 + r.next(below: 39)) % 40)
        }
        return counts
    }()

    static let graphChunk = WireMessage.GraphChunk(
        data: (0..<65_536).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) },
        index: 3, count: 17, totalSize: 1_100_000, crc32: 0xCBF4_3926)

    static let spec = """
        name: quickstart
        chain:
          clusters: 5
          cluster_size: 32
          kernel: uniform
          topology: chain
          epsilon: 0.01
        target: {cluster: last}
        walks: 10000
        seed: 2026
        """

    /// An algorithm's vectors: logits with extreme but finite values, and counts.
    static let roundPayload = RoundPayload(
        reals: [0, -0.0, 1.5, -2.25e-300, .greatestFiniteMagnitude, -.leastNonzeroMagnitude], counts: [0, 7, .max])

    /// Two walks in flight between shards: one with cluster-observer words, one without.
    static let migrants = try! Migrants(words: [
        1_263_617, 40_961, 1, .max, 3, 1 << 63, 99_000, 5, 12, 3, 2, 11, 12,
        1_263_700, 7, 8, 9, 10, 11, 1, 0,
    ])

    static let messages: [(String, WireMessage)] = [
        ("hello", .hello(.init(
            workerID: "worker-7f3a", cores: 64, credits: 128, pid: 48_213, hostname: "node-17.cluster.example.org",
            softwareVersion: "metastable 0.4.0 (wire 1)"))),
        ("job/experiment", .job(.init(jobID: 9, source: .experiment(specYAML: spec, seed: 0xDEAD_BEEF_0BAD_F00D)))),
        ("job/graph-chunk", .job(.init(jobID: 10, source: .graphChunk(graphChunk)))),
        ("task", .task(.init(jobID: 9, batchID: 1234, walks: 1_263_616..<1_264_640, round: 3, policyVersion: 17))),
        ("task/algorithm-round", .task(.init(
            jobID: 9, batchID: 5 << 32 | 3, walks: 96..<128, round: 5,
            input: .init(point: 2, task: RoundTask(round: 4, stage: 1, input: roundPayload))))),
        ("task/segment", .task(.init(
            jobID: 9, batchID: 2 << 32 | 700, walks: 0..<0, round: 2, segment: .init(shard: 5, arrivals: migrants)))),
        ("result/minimal", .result(.init(jobID: 9, batchID: 7, steps: 0, hittingTime: IntegerSampleAccumulator()))),
        ("result/algorithm-payload", .result(.init(
            jobID: 9, batchID: 5 << 32 | 3, steps: 4096, hittingTime: IntegerSampleAccumulator(), payload: roundPayload))),
        ("result/full", .result(.init(
            jobID: 9, batchID: 1234, steps: hittingTime.sum.low64, hittingTime: hittingTime, hardSteps: hardSteps,
            clustersVisited: hardSteps, transitions: transitions))),
        ("result/segment", .result(.init(
            jobID: 9, batchID: 2 << 32 | 700, steps: 77, hittingTime: hardSteps, hardSteps: hardSteps,
            departures: [.init(shard: 0, walks: migrants), .init(shard: 6, walks: migrants)], segmentDigest: .max))),
        ("heartbeat", .heartbeat(.init(sequence: 1 << 40, senderTimeNanoseconds: 1_767_781_860_123_456_789))),
        ("shutdown", .shutdown(.init(reason: "run finished: 10000 walks in 79 batches"))),
        ("error", .error(.init(code: .badSpec, message: "chain.epsilon: must be in (0, 1), got 1.5"))),
    ]
}

extension UInt128 {
    var low64: UInt64 { UInt64(truncatingIfNeeded: self) }
}

/// Writes protobuf fields by number, so that tests can build any message, valid or not.
struct ProtoWriter {
    private(set) var bytes: [UInt8] = []

    mutating func varint(_ field: Int, _ value: UInt64) {
        tag(field, wireType: 0)
        raw(value)
    }

    mutating func bytes(_ field: Int, _ value: [UInt8]) {
        tag(field, wireType: 2)
        raw(UInt64(value.count))
        bytes += value
    }

    mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }

    mutating func message(_ field: Int, _ build: (inout ProtoWriter) -> Void) {
        var inner = ProtoWriter()
        build(&inner)
        bytes(field, inner.bytes)
    }

    mutating func packed(_ field: Int, _ values: [UInt64]) {
        var inner = ProtoWriter()
        for value in values { inner.raw(value) }
        bytes(field, inner.bytes)
    }

    private mutating func tag(_ field: Int, wireType: UInt64) { raw(UInt64(field) << 3 | wireType) }

    private mutating func raw(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    /// An Envelope of version 1 (unless told otherwise) around the given verb field.
    static func envelope(version: UInt64 = 1, _ build: (inout ProtoWriter) -> Void) -> [UInt8] {
        var writer = ProtoWriter()
        writer.varint(1, version)
        writer.string(2, WireFixtures.runID)
        build(&writer)
        return writer.bytes
    }
}
