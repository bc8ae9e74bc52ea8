internal import MetastableWire
import Metastable

/// Turns an unpacked C envelope into Swift values, validating every field on the way: the
/// C side only checked that the bytes parse. Field names in errors are the proto's.
enum WireDecoder {
    static func envelope(_ c: Metastable__Wire__Envelope) throws(WireError) -> WireEnvelope {
        guard c.protocol_version == WireEnvelope.currentVersion else {
            throw WireError(
                .unsupportedVersion, field: "protocol_version",
                c.protocol_version == 0
                    ? "missing" : "version \(c.protocol_version), this peer speaks \(WireEnvelope.currentVersion)")
        }
        let runID = try text(c.run_id, "run_id", limit: WireCodec.maxIdentifierLength)
        let message: WireMessage
        switch c.verb_case {
        case METASTABLE__WIRE__ENVELOPE__VERB_HELLO:
            message = .hello(try hello(present(c.hello, "hello")))
        case METASTABLE__WIRE__ENVELOPE__VERB_JOB:
            message = .job(try job(present(c.job, "job")))
        case METASTABLE__WIRE__ENVELOPE__VERB_TASK:
            message = .task(try task(present(c.task, "task")))
        case METASTABLE__WIRE__ENVELOPE__VERB_RESULT:
            message = .result(try result(present(c.result, "result")))
        case METASTABLE__WIRE__ENVELOPE__VERB_HEARTBEAT:
            let heartbeat = try present(c.heartbeat, "heartbeat")
            message = .heartbeat(.init(sequence: heartbeat.sequence, senderTimeNanoseconds: heartbeat.sender_time_ns))
        case METASTABLE__WIRE__ENVELOPE__VERB_SHUTDOWN:
            let shutdown = try present(c.shutdown, "shutdown")
            message = .shutdown(.init(reason: try text(shutdown.reason, "shutdown.reason", limit: WireCodec.maxTextLength)))
        case METASTABLE__WIRE__ENVELOPE__VERB_ERROR:
            message = .error(try errorReport(present(c.error, "error")))
        default:
            // Also what a verb added by a later version looks like: an unknown field.
            throw WireError(.missingVerb, "no verb set (expected hello, job, task, result, heartbeat, shutdown or error)")
        }
        return WireEnvelope(version: c.protocol_version, runID: runID, message: message)
    }

    private static func hello(_ c: Metastable__Wire__Hello) throws(WireError) -> WireMessage.Hello {
        let workerID = try text(c.worker_id, "hello.worker_id", limit: WireCodec.maxIdentifierLength)
        guard !workerID.isEmpty else { throw WireError(.invalidField, field: "hello.worker_id", "empty") }
        guard c.cores > 0 else { throw WireError(.invalidField, field: "hello.cores", "0: a worker has at least one core") }
        guard c.credits > 0 else { throw WireError(.invalidField, field: "hello.credits", "0: a worker takes at least one task") }
        return WireMessage.Hello(
            workerID: workerID, cores: c.cores, credits: c.credits, pid: c.pid,
            hostname: try text(c.hostname, "hello.hostname", limit: WireCodec.maxIdentifierLength),
            softwareVersion: try text(c.software_version, "hello.software_version", limit: WireCodec.maxIdentifierLength))
    }

    private static func job(_ c: Metastable__Wire__Job) throws(WireError) -> WireMessage.Job {
        switch c.source_case {
        case METASTABLE__WIRE__JOB__SOURCE_EXPERIMENT:
            let experiment = try present(c.experiment, "job.experiment")
            let spec = try text(experiment.spec_yaml, "job.experiment.spec_yaml", limit: WireCodec.maxSpecLength)
            guard !spec.isEmpty else { throw WireError(.invalidField, field: "job.experiment.spec_yaml", "empty") }
            return .init(jobID: c.job_id, source: .experiment(specYAML: spec, seed: experiment.seed))
        case METASTABLE__WIRE__JOB__SOURCE_GRAPH_CHUNK:
            let chunk = try present(c.graph_chunk, "job.graph_chunk")
            guard chunk.index < chunk.count else {
                throw WireError(.invalidField, field: "job.graph_chunk.index", "chunk \(chunk.index) of \(chunk.count)")
            }
            guard UInt64(chunk.data.len) <= chunk.total_size else {
                throw WireError(
                    .invalidField, field: "job.graph_chunk.data",
                    "\(chunk.data.len) bytes, more than the whole graph's \(chunk.total_size)")
            }
            let data = [UInt8](UnsafeBufferPointer(start: chunk.data.data, count: chunk.data.len))
            return .init(jobID: c.job_id, source: .graphChunk(.init(
                data: data, index: chunk.index, count: chunk.count, totalSize: chunk.total_size, crc32: chunk.crc32)))
        default:
            throw WireError(.invalidField, field: "job", "no source set (expected experiment or graph_chunk)")
        }
    }

    private static func task(_ c: Metastable__Wire__Task) throws(WireError) -> WireMessage.TaskLease {
        guard c.walk_lo <= c.walk_hi else {
            throw WireError(.invalidField, field: "task.walk_hi", "walks \(c.walk_lo)..<\(c.walk_hi): hi is below lo")
        }
        return .init(
            jobID: c.job_id, batchID: c.batch_id, walks: c.walk_lo..<c.walk_hi,
            round: c.round, policyVersion: c.policy_version,
            input: try c.input.map { p throws(WireError) in
                let input = p.pointee
                let vectors = try input.payload.map { q throws(WireError) in try payload(q.pointee, "task.input.payload") }
                return WireMessage.RoundInput(
                    point: Int(input.point),
                    task: RoundTask(round: Int(input.point_round), stage: Int(input.stage), input: vectors ?? RoundPayload()))
            },
            segment: try c.segment.map { p throws(WireError) in
                let segment = p.pointee
                return WireMessage.SegmentLease(
                    shard: try shard(segment.shard, "task.segment.shard"),
                    arrivals: try migrants(segment.arrivals, segment.n_arrivals, "task.segment.arrivals"))
            })
    }

    private static func shard(_ value: UInt32, _ field: String) throws(WireError) -> Int {
        guard value < GraphPartition.maxShards else {
            throw WireError(.invalidField, field: field, "shard \(value), beyond the limit of \(GraphPartition.maxShards)")
        }
        return Int(value)
    }

    private static func migrants(_ words: UnsafeMutablePointer<UInt64>?, _ count: Int, _ field: String) throws(WireError) -> Migrants {
        do {
            return try Migrants(words: [UInt64](UnsafeBufferPointer(start: words, count: count)))
        } catch {
            throw WireError(.invalidField, field: field, error.message)
        }
    }

    private static func payload(_ c: Metastable__Wire__Payload, _ field: String) throws(WireError) -> RoundPayload {
        let reals = [Double](UnsafeBufferPointer(start: c.reals, count: c.n_reals))
        if let i = reals.firstIndex(where: { !$0.isFinite }) {
            throw WireError(.invalidField, field: "\(field).reals[\(i)]", "\(reals[i]) is not a finite number")
        }
        return RoundPayload(reals: reals, counts: [UInt64](UnsafeBufferPointer(start: c.counts, count: c.n_counts)))
    }

    private static func result(_ c: Metastable__Wire__Result) throws(WireError) -> WireMessage.BatchResult {
        .init(
            jobID: c.job_id, batchID: c.batch_id, steps: c.steps,
            hittingTime: try accumulator(present(c.hitting_time, "result.hitting_time"), "result.hitting_time"),
            hardSteps: try c.hard_steps.map { p throws(WireError) in try accumulator(p.pointee, "result.hard_steps") },
            clustersVisited: try c.clusters_visited.map { p throws(WireError) in
                try accumulator(p.pointee, "result.clusters_visited")
            },
            transitions: try c.transitions.map { p throws(WireError) in try transitionCounts(p.pointee, "result.transitions") },
            payload: try c.payload.map { p throws(WireError) in try payload(p.pointee, "result.payload") },
            departures: try departures(c), segmentDigest: c.segment_digest)
    }

    /// Departures by strictly increasing shard, none empty.
    private static func departures(_ c: Metastable__Wire__Result) throws(WireError) -> [WireMessage.Departure] {
        var result = [WireMessage.Departure]()
        for (i, p) in UnsafeBufferPointer(start: c.departures, count: c.n_departures).enumerated() {
            let field = "result.departures[\(i)]"
            let d = try present(p, field)
            let departure = WireMessage.Departure(
                shard: try shard(d.shard, "\(field).shard"), walks: try migrants(d.walks, d.n_walks, "\(field).walks"))
            guard !departure.walks.isEmpty else { throw WireError(.invalidField, field: "\(field).walks", "empty") }
            if let last = result.last, last.shard >= departure.shard {
                throw WireError(.invalidField, field: "\(field).shard", "shard \(departure.shard) after shard \(last.shard): not increasing")
            }
            result.append(departure)
        }
        return result
    }

    private static func accumulator(
        _ c: Metastable__Wire__SampleAccumulator, _ field: String
    ) throws(WireError) -> IntegerSampleAccumulator {
        guard c.n_bins == c.n_bin_counts else {
            throw WireError(.invalidField, field: "\(field).bin_counts", "\(c.n_bin_counts) counts for \(c.n_bins) bins")
        }
        let bins = UnsafeBufferPointer(start: c.bins, count: c.n_bins)
        let counts = UnsafeBufferPointer(start: c.bin_counts, count: c.n_bin_counts)
        guard let histogram = LogHistogram(nonEmptyBins: zip(bins, counts).lazy.map { (bin: Int($0), count: $1) }) else {
            throw WireError(
                .invalidField, field: "\(field).bins",
                "bins must increase and lie below \(LogHistogram.binCount), their counts sum below 2^64")
        }
        let accumulator = IntegerSampleAccumulator(
            count: c.count, censoredCount: c.censored,
            sum: UInt128(c.sum_hi) << 64 | UInt128(c.sum_lo),
            sumOfSquares: UInt128(c.sum_of_squares_hi) << 64 | UInt128(c.sum_of_squares_lo),
            min: c.min, max: c.max, histogram: histogram)
        guard let accumulator else {
            throw WireError(
                .invalidField, field: field,
                "inconsistent: count \(c.count), censored \(c.censored), min \(c.min), max \(c.max), sums and "
                    + "histogram (\(histogram.totalCount) samples) do not come from one sample")
        }
        return accumulator
    }

    private static func transitionCounts(
        _ c: Metastable__Wire__TransitionCounts, _ field: String
    ) throws(WireError) -> TransitionCounts {
        let stepsIn = [UInt64](UnsafeBufferPointer(start: c.steps_in, count: c.n_steps_in))
        var transitions = [(from: Int, to: Int, count: UInt64)]()
        transitions.reserveCapacity(c.n_transitions)
        for transition in UnsafeBufferPointer(start: c.transitions, count: c.n_transitions) {
            let t = try present(transition, "\(field).transitions")
            transitions.append((Int(t.from), Int(t.to), t.count))
        }
        guard let counts = TransitionCounts(stepsIn: stepsIn, interClusterCounts: transitions) else {
            throw WireError(
                .invalidField, field: "\(field).transitions",
                "expected from ≠ to below \(stepsIn.count) clusters, count > 0, increasing (from, to), "
                    + "and no more exits from a cluster than steps_in")
        }
        return counts
    }

    private static func errorReport(_ c: Metastable__Wire__Error) throws(WireError) -> WireMessage.ErrorReport {
        guard let code = WireMessage.ErrorReport.Code(wireValue: c.code) else {
            throw WireError(.invalidField, field: "error.code", "unknown or unspecified code \(c.code.rawValue)")
        }
        return .init(code: code, message: try text(c.message, "error.message", limit: WireCodec.maxTextLength))
    }

    /// A string field: valid UTF-8 and at most `limit` bytes.
    private static func text(_ c: UnsafePointer<CChar>?, _ field: String, limit: Int) throws(WireError) -> String {
        guard let c else { return "" }
        guard let text = String(validatingCString: c) else {
            throw WireError(.invalidField, field: field, "not valid UTF-8")
        }
        guard text.utf8.count <= limit else {
            throw WireError(.invalidField, field: field, "\(text.utf8.count) bytes, over the limit of \(limit)")
        }
        return text
    }

    /// A submessage that protobuf-c says is there. A set oneof case or a repeated element
    /// always has one; checked anyway rather than trusted.
    private static func present<Message>(_ c: UnsafeMutablePointer<Message>?, _ field: String) throws(WireError) -> Message {
        guard let c else { throw WireError(.invalidField, field: field, "missing") }
        return c.pointee
    }
}
