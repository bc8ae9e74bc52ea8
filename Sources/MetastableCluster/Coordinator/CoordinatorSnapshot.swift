import Foundation
import Metastable

/// What a restarted coordinator needs to go on (`--resume`): the run, its job, the current
/// round's batches and the results of those done. Leases and workers are not kept: the
/// workers HELLO again, and undone batches are leased anew.
///
/// Only a `CoordinatorCore` makes one, and decoding checks it as the core checks results
/// from the network, so restoring can trust it.
public struct CoordinatorSnapshot: Sendable, Equatable {
    /// The version of the encoding; another does not decode.
    public static let formatVersion = 3

    public let runID: String
    public let job: WireMessage.Job
    /// Nil before the first round.
    public let round: Int?
    public let policyVersion: UInt64
    /// The round's task, for a round of an algorithm experiment.
    public let input: WireMessage.RoundInput?
    /// The walk indices of each start batch of the round.
    public let batches: [Range<UInt64>]
    /// On a partitioned chain: the shard count, and the segments made so far of walks that
    /// left others (batches `batches.count...`).
    public let shards: Int?
    public let segments: [(shard: Int, arrivals: Migrants)]
    /// One per batch (segments included), nil for those not done.
    public let results: [WireMessage.BatchResult?]

    init(
        runID: String, job: WireMessage.Job, round: Int?, policyVersion: UInt64, input: WireMessage.RoundInput?,
        batches: [Range<UInt64>], shards: Int? = nil, segments: [(shard: Int, arrivals: Migrants)] = [],
        results: [WireMessage.BatchResult?]
    ) {
        self.runID = runID
        self.job = job
        self.round = round
        self.policyVersion = policyVersion
        self.input = input
        self.batches = batches
        self.shards = shards
        self.segments = segments
        self.results = results
    }

    public static func == (a: CoordinatorSnapshot, b: CoordinatorSnapshot) -> Bool {
        a.runID == b.runID && a.job == b.job && a.round == b.round && a.policyVersion == b.policyVersion
            && a.input == b.input && a.batches == b.batches && a.shards == b.shards && a.results == b.results
            && a.segments.elementsEqual(b.segments) { $0.shard == $1.shard && $0.arrivals == $1.arrivals }
    }

    /// The round with its done batches, or why the snapshot is inconsistent.
    private func replay() -> Result<CoordinatorRound?, SnapshotError> {
        guard let round else {
            return batches.isEmpty && results.isEmpty ? .success(nil) : .failure(.init("batches or results without a round"))
        }
        let total = batches.count + segments.count
        guard round >= 0, round <= UInt32.max, total <= 1 << 32 else {
            return .failure(.init("round \(round) or \(total) batches do not fit a batch id"))
        }
        guard results.count == total else {
            return .failure(.init("\(results.count) results for \(total) batches"))
        }
        if let shards {
            guard (1...GraphPartition.maxShards).contains(shards), segments.allSatisfy({ (0..<shards).contains($0.shard) }) else {
                return .failure(.init("\(shards) shards, or a segment on none of them"))
            }
            // Every walk that left a done segment is in exactly one later segment.
            let departed = results.reduce(0) { $0 + ($1?.departures.reduce(0) { $0 + $1.walks.count } ?? 0) }
            let arrived = segments.reduce(0) { $0 + $1.arrivals.count }
            guard departed == arrived else {
                return .failure(.init("\(departed) walks left done segments, \(arrived) arrive in segments"))
            }
        } else if !segments.isEmpty {
            return .failure(.init("segments without shards"))
        }
        var restored = CoordinatorRound(
            number: round, policyVersion: policyVersion, input: input, walks: batches, shards: shards, segments: segments)
        restored.restoring = true
        defer { restored.restoring = false }
        for (index, result) in results.enumerated() {
            guard let result else { continue }
            guard result.jobID == job.jobID, result.batchID == restored.batchID(index) else {
                return .failure(.init("result \(index) is for batch \(result.batchID) of job \(result.jobID)"))
            }
            if let problem = restored.problem(with: result, at: index) { return .failure(.init(problem)) }
            _ = restored.complete(index, with: result)
        }
        restored.restoring = false
        return .success(restored)
    }

    /// The round to continue; a snapshot that does not replay (impossible for one made by a
    /// core or decoded) restores as no round rather than trapping.
    func restoredRound() -> CoordinatorRound? {
        (try? replay().get()) ?? nil
    }

    private struct SnapshotError: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }
}

extension CoordinatorSnapshot: Codable {
    private enum CodingKeys: String, CodingKey {
        case formatVersion, runID, job, round, policyVersion, input, batches, shards, segments, results
    }

    /// A segment as stored: its shard and its arrivals' words, little-endian in base64
    /// (as JSON numbers, tens of thousands of migrants made each checkpoint take seconds).
    private struct StoredSegment: Codable {
        var shard: Int
        var arrivals: String

        init(shard: Int, arrivals: Migrants) {
            self.shard = shard
            self.arrivals = arrivals.words.map(\.littleEndian).withUnsafeBytes { Data($0) }.base64EncodedString()
        }

        var words: [UInt64]? {
            guard let data = Data(base64Encoded: arrivals), data.count % 8 == 0 else { return nil }
            return data.withUnsafeBytes { raw in (0..<data.count / 8).map { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self)) } }
        }
    }

    /// A round's input as stored: its payload as JSON numbers.
    private struct StoredInput: Codable {
        var point: Int
        var pointRound: Int
        var stage: Int
        var payload: RoundPayload
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let version = try container.decode(Int.self, forKey: .formatVersion)
        guard version == Self.formatVersion else {
            throw DecodingError.dataCorruptedError(
                forKey: .formatVersion, in: container,
                debugDescription: "snapshot format \(version), this version reads \(Self.formatVersion)")
        }
        runID = try container.decode(String.self, forKey: .runID)
        job = try container.decode(StoredJob.self, forKey: .job).job
        round = try container.decodeIfPresent(Int.self, forKey: .round)
        policyVersion = try container.decode(UInt64.self, forKey: .policyVersion)
        input = try container.decodeIfPresent(StoredInput.self, forKey: .input).map {
            WireMessage.RoundInput(point: $0.point, task: RoundTask(round: $0.pointRound, stage: $0.stage, input: $0.payload))
        }
        batches = try container.decode([Range<UInt64>].self, forKey: .batches)
        shards = try container.decodeIfPresent(Int.self, forKey: .shards)
        var segments = [(shard: Int, arrivals: Migrants)]()
        for stored in try container.decodeIfPresent([StoredSegment].self, forKey: .segments) ?? [] {
            guard let words = stored.words, let arrivals = try? Migrants(words: words) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .segments, in: container, debugDescription: "a segment's arrivals are cut short")
            }
            segments.append((stored.shard, arrivals))
        }
        self.segments = segments
        // Results travel in their wire encoding (base64): JSON-encoding tens of thousands of
        // accumulators field by field made each checkpoint take seconds.
        var decoded = [WireMessage.BatchResult?]()
        for text in try container.decode([String?].self, forKey: .results) {
            guard let text else { decoded.append(nil); continue }
            guard let bytes = Data(base64Encoded: text),
                let envelope = try? WireCodec.decode([UInt8](bytes)), case .result(let result) = envelope.message
            else {
                throw DecodingError.dataCorruptedError(
                    forKey: .results, in: container, debugDescription: "a result is not a base64 wire RESULT")
            }
            decoded.append(result)
        }
        results = decoded
        if case .failure(let error) = replay() {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.formatVersion, forKey: .formatVersion)
        try container.encode(runID, forKey: .runID)
        try container.encode(StoredJob(job), forKey: .job)
        try container.encodeIfPresent(round, forKey: .round)
        try container.encode(policyVersion, forKey: .policyVersion)
        try container.encodeIfPresent(
            input.map { StoredInput(point: $0.point, pointRound: $0.task.round, stage: $0.task.stage, payload: $0.task.input) },
            forKey: .input)
        try container.encode(batches, forKey: .batches)
        try container.encodeIfPresent(shards, forKey: .shards)
        if shards != nil {
            try container.encode(segments.map { StoredSegment(shard: $0.shard, arrivals: $0.arrivals) }, forKey: .segments)
        }
        let encoded = results.map { result in
            result.map { Data(WireCodec.encode(WireEnvelope(runID: runID, message: .result($0)))).base64EncodedString() }
        }
        try container.encode(encoded, forKey: .results)
    }
}

/// A job as the snapshot stores it: `jobID` and exactly one of `experiment` and `graphChunk`.
private struct StoredJob: Codable {
    private enum CodingKeys: String, CodingKey {
        case jobID, experiment, graphChunk
    }

    private struct Experiment: Codable {
        var specYAML: String
        var seed: UInt64
    }

    private struct GraphChunk: Codable {
        var data: [UInt8]
        var index: UInt32
        var count: UInt32
        var totalSize: UInt64
        var crc32: UInt32
    }

    let job: WireMessage.Job

    init(_ job: WireMessage.Job) {
        self.job = job
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let jobID = try container.decode(UInt64.self, forKey: .jobID)
        let experiment = try container.decodeIfPresent(Experiment.self, forKey: .experiment)
        let chunk = try container.decodeIfPresent(GraphChunk.self, forKey: .graphChunk)
        switch (experiment, chunk) {
        case (let experiment?, nil):
            job = .init(jobID: jobID, source: .experiment(specYAML: experiment.specYAML, seed: experiment.seed))
        case (nil, let chunk?):
            job = .init(jobID: jobID, source: .graphChunk(.init(
                data: chunk.data, index: chunk.index, count: chunk.count, totalSize: chunk.totalSize, crc32: chunk.crc32)))
        default:
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath, debugDescription: "a job has exactly one of experiment and graphChunk"))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(job.jobID, forKey: .jobID)
        switch job.source {
        case .experiment(let specYAML, let seed):
            try container.encode(Experiment(specYAML: specYAML, seed: seed), forKey: .experiment)
        case .graphChunk(let chunk):
            try container.encode(
                GraphChunk(data: chunk.data, index: chunk.index, count: chunk.count, totalSize: chunk.totalSize, crc32: chunk.crc32),
                forKey: .graphChunk)
        }
    }
}
