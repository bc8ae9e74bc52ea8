import Metastable
import MetastableCluster
import Testing

@Suite("Wire codec: malformed input")
struct WireMalformedInputTests {
    @Test func randomBytesAreRefused() {
        var r = WalkRandom(seed: 2026, index: 0)
        var accepted: [[UInt8]] = []
        var reasons: [WireError.Reason: Int] = [:]
        for _ in 0..<20_000 {
            let bytes = (0..<r.next(below: 300)).map { _ in UInt8(truncatingIfNeeded: r.next()) }
            do {
                _ = try WireCodec.decode(bytes)
                accepted.append(bytes)
            } catch {
                reasons[error.reason, default: 0] += 1
            }
        }
        #expect(accepted.isEmpty, "decoded random bytes: \(accepted.prefix(3))")
        #expect(reasons[.malformed, default: 0] > 10_000)
    }

    @Test func randomlyCorruptedMessagesNeverCrash() throws {
        // Bit flips and byte changes in valid messages: most are refused; those that still
        // decode must be valid envelopes, which re-encode and decode to the same value.
        var r = WalkRandom(seed: 2027, index: 0)
        let originals = WireFixtures.messages.map { WireCodec.encode(.init(runID: WireFixtures.runID, message: $0.1)) }
        var refused = 0, survived = 0
        for trial in 0..<10_000 {
            var bytes = originals[trial % originals.count]
            for _ in 0...r.next(below: 3) {
                let i = r.next(below: bytes.count)
                if r.next(below: 2) == 0 { bytes[i] ^= 1 << UInt8(r.next(below: 8)) } else { bytes[i] = UInt8(r.next(below: 256)) }
            }
            do {
                let envelope = try WireCodec.decode(bytes)
                #expect(try WireCodec.decode(WireCodec.encode(envelope)) == envelope)
                survived += 1
            } catch {
                refused += 1
            }
        }
        #expect(refused + survived == 10_000 && refused > 1000)
    }

    @Test(arguments: WireFixtures.messages.map(\.0))
    func truncatedMessagesAreRefused(name: String) throws {
        let message = try #require(WireFixtures.messages.first { $0.0 == name }?.1)
        let bytes = WireCodec.encode(.init(runID: WireFixtures.runID, message: message))
        // Every cut is a prefix that ends inside a field, or before the verb.
        let cuts = bytes.count < 5000 ? Array(0..<bytes.count) : (0..<5000).map { $0 * bytes.count / 5000 }
        for cut in cuts {
            #expect(throws: WireError.self, "cut at \(cut) of \(bytes.count)") { try WireCodec.decode(Array(bytes[..<cut])) }
        }
    }

    @Test(arguments: [0, 2, 3, 1000, UInt64(UInt32.max)])
    func otherProtocolVersionsAreRefused(version: UInt64) {
        let bytes = ProtoWriter.envelope(version: version) { $0.message(7) { $0.varint(1, 1) } }
        #expect(decodeError(bytes)?.reason == .unsupportedVersion)
        var envelope = WireEnvelope(runID: "r", message: .heartbeat(.init(sequence: 1, senderTimeNanoseconds: 2)))
        envelope.version = UInt32(version)
        #expect(decodeError(WireCodec.encode(envelope))?.reason == .unsupportedVersion)
    }

    @Test func anEnvelopeWithoutAVerbIsRefused() {
        #expect(decodeError(ProtoWriter.envelope { _ in })?.reason == .missingVerb)
        // A verb from a later version (field 10) is an unknown field: no verb this side knows.
        #expect(decodeError(ProtoWriter.envelope { $0.message(10) { $0.varint(1, 1) } })?.reason == .missingVerb)
        #expect(decodeError([])?.reason == .unsupportedVersion)
    }

    @Test func oversizedMessagesAreRefusedBeforeParsing() {
        let bytes = WireCodec.encode(.init(runID: "r", message: .job(.init(jobID: 1, source: .graphChunk(WireFixtures.graphChunk)))))
        #expect(decodeError(bytes, maxMessageSize: bytes.count - 1)?.reason == .tooLarge)
        #expect((try? WireCodec.decode(bytes, maxMessageSize: bytes.count)) != nil)
        let huge = [UInt8](repeating: 0, count: WireCodec.maxMessageSize + 1)
        #expect(decodeError(huge)?.reason == .tooLarge)
    }

    /// Each builds the verb field of an otherwise valid envelope, and names the field the
    /// error must blame.
    static let invalidFields: [(field: String, build: @Sendable (inout ProtoWriter) -> Void)] = [
        ("hello.worker_id", { $0.message(3) { $0.varint(2, 4); $0.varint(3, 4) } }),
        ("hello.cores", { $0.message(3) { $0.string(1, "w"); $0.varint(3, 4) } }),
        ("hello.credits", { $0.message(3) { $0.string(1, "w"); $0.varint(2, 4) } }),
        ("hello.hostname", { $0.message(3) {
            $0.string(1, "w"); $0.varint(2, 4); $0.varint(3, 4); $0.string(5, String(repeating: "h", count: 257))
        } }),
        ("hello.worker_id", { $0.message(3) { $0.bytes(1, [0x77, 0xC3, 0x28]); $0.varint(2, 4); $0.varint(3, 4) } }), // bad UTF-8
        ("job", { $0.message(4) { $0.varint(1, 1) } }),
        ("job.experiment.spec_yaml", { $0.message(4) { $0.message(2) { $0.varint(2, 7) } } }),
        ("job.experiment.spec_yaml", { $0.message(4) { $0.message(2) { $0.string(1, String(repeating: "#", count: (1 << 20) + 1)) } } }),
        ("job.graph_chunk.index", { $0.message(4) { $0.message(3) { $0.bytes(1, [1]); $0.varint(2, 5); $0.varint(3, 5); $0.varint(4, 10) } } }),
        ("job.graph_chunk.index", { $0.message(4) { $0.message(3) { $0.bytes(1, [1]); $0.varint(4, 1) } } }), // count 0
        ("job.graph_chunk.data", { $0.message(4) { $0.message(3) { $0.bytes(1, [1, 2, 3]); $0.varint(3, 1); $0.varint(4, 2) } } }),
        ("task.walk_hi", { $0.message(5) { $0.varint(3, 100); $0.varint(4, 99) } }),
        ("task.segment.shard", { $0.message(5) { $0.message(8) { $0.varint(1, 1 << 16) } } }),
        ("task.segment.arrivals", { $0.message(5) { $0.message(8) { $0.packed(2, [1, 2, 3, 4, 5, 6, 7]) } } }), // cut short
        ("task.segment.arrivals", { $0.message(5) { $0.message(8) { $0.packed(2, [1, 2, 3, 4, 5, 6, 7, 2, 9]) } } }),
        ("result.departures[0].walks", { $0.message(6) { $0.message(4) { sample(&$0) }; $0.message(9) { $0.varint(1, 1) } } }),
        ("result.departures[1].shard", { $0.message(6) { $0.message(4) { sample(&$0) }
            $0.message(9) { $0.varint(1, 3); $0.packed(2, [1, 2, 3, 4, 5, 6, 7, 0]) }
            $0.message(9) { $0.varint(1, 3); $0.packed(2, [1, 2, 3, 4, 5, 6, 7, 0]) }
        } }), // shards not increasing
        ("result.hitting_time", { $0.message(6) { $0.varint(1, 1) } }),
        ("result.hitting_time.bin_counts", { $0.message(6) { $0.message(4) { sample(&$0); $0.packed(10, [1, 1]) } } }),
        ("result.hitting_time.bins", { $0.message(6) { $0.message(4) { sample(&$0, bins: [1, 1, 9]) } } }), // repeated
        ("result.hitting_time.bins", { $0.message(6) { $0.message(4) { sample(&$0, bins: [1, 3, 2]) } } }), // decreasing
        ("result.hitting_time.bins", { $0.message(6) { $0.message(4) { sample(&$0, bins: [1, 3, 1920]) } } }), // no such bin
        ("result.hitting_time.bins", { $0.message(6) { $0.message(4) { sample(&$0, counts: [.max, .max, 1]) } } }), // overflow
        ("result.hitting_time", { $0.message(6) { $0.message(4) { sample(&$0, count: 4) } } }), // histogram holds 3
        ("result.hitting_time", { $0.message(6) { $0.message(4) { sample(&$0, censored: 4) } } }),
        ("result.hitting_time", { $0.message(6) { $0.message(4) { sample(&$0, min: 2) } } }), // not in the lowest bin
        ("result.hitting_time", { $0.message(6) { $0.message(4) { sample(&$0, max: 10) } } }), // not in the highest bin
        ("result.hitting_time", { $0.message(6) { $0.message(4) { sample(&$0, sum: 1 << 64) } } }), // above n·max
        ("result.hitting_time", { $0.message(6) { $0.message(4) { sample(&$0, sumOfSquares: 1) } } }), // n·Σt² < (Σt)²
        ("result.hitting_time", { $0.message(6) { $0.message(4) { $0.varint(4, 1) } } }), // empty, Σt = 1
        ("result.hard_steps", { $0.message(6) { $0.message(4) { sample(&$0) }; $0.message(5) { sample(&$0, count: 2) } } }),
        ("result.clusters_visited.bins", { $0.message(6) { $0.message(4) { sample(&$0) }; $0.message(6) { sample(&$0, bins: [1, 2, 5000]) } } }),
        ("result.transitions.transitions", { $0.message(6) { $0.message(4) { sample(&$0) }; $0.message(7) {
            $0.packed(1, [10, 10]); $0.message(2) { $0.varint(1, 1); $0.varint(2, 1); $0.varint(3, 1) }
        } } }), // a stay recorded as a transition
        ("result.transitions.transitions", { $0.message(6) { $0.message(4) { sample(&$0) }; $0.message(7) {
            $0.packed(1, [10, 10]); $0.message(2) { $0.varint(1, 0); $0.varint(2, 2); $0.varint(3, 1) }
        } } }), // no cluster 2
        ("result.transitions.transitions", { $0.message(6) { $0.message(4) { sample(&$0) }; $0.message(7) {
            $0.packed(1, [10, 10]); $0.message(2) { $0.varint(1, 0); $0.varint(2, 1); $0.varint(3, 11) }
        } } }), // more exits than steps
        ("result.transitions.transitions", { $0.message(6) { $0.message(4) { sample(&$0) }; $0.message(7) {
            $0.packed(1, [10, 10]); $0.message(2) { $0.varint(1, 0); $0.varint(2, 1) }
        } } }), // count 0
        ("result.transitions.transitions", { $0.message(6) { $0.message(4) { sample(&$0) }; $0.message(7) {
            $0.packed(1, [10, 10, 10])
            $0.message(2) { $0.varint(1, 1); $0.varint(2, 0); $0.varint(3, 1) }
            $0.message(2) { $0.varint(1, 0); $0.varint(2, 2); $0.varint(3, 1) }
        } } }), // out of order
        ("shutdown.reason", { $0.message(8) { $0.string(1, String(repeating: "x", count: 4097)) } }),
        ("error.code", { $0.message(9) { $0.string(2, "no code") } }),
        ("error.code", { $0.message(9) { $0.varint(1, 99); $0.string(2, "from the future") } }),
        ("run_id", { $0.string(2, String(repeating: "r", count: 257)); $0.message(7) { _ in } }),
    ]

    @Test(arguments: invalidFields.indices)
    func outOfRangeFieldsAreRefusedByName(index: Int) {
        let (field, build) = Self.invalidFields[index]
        let error = decodeError(ProtoWriter.envelope(build))
        #expect(error?.reason == .invalidField)
        #expect(error?.field == field, "\(error.map(String.init(describing:)) ?? "no error")")
    }

    @Test func theSampleFixtureIsValid() throws {
        // So that each invalid case above is invalid for the reason it names.
        let bytes = ProtoWriter.envelope { $0.message(6) { $0.message(4) { sample(&$0) } } }
        guard case .result(let result) = try WireCodec.decode(bytes).message else {
            Issue.record("not a result")
            return
        }
        var expected = IntegerSampleAccumulator()
        for t: UInt64 in [1, 2, 300] { expected.record(t) }
        #expect(result.hittingTime == expected)
    }

    private func decodeError(_ bytes: [UInt8], maxMessageSize: Int = WireCodec.maxMessageSize) -> WireError? {
        do {
            let envelope = try WireCodec.decode(bytes, maxMessageSize: maxMessageSize)
            Issue.record("decoded \(envelope)")
            return nil
        } catch {
            return error
        }
    }
}

/// The accumulator of the samples 1, 2 and 300 as SampleAccumulator fields, with any of
/// them replaced.
private func sample(
    _ writer: inout ProtoWriter, count: UInt64 = 3, censored: UInt64 = 0, sum: UInt128 = 303,
    sumOfSquares: UInt128 = 90_005, min: UInt64 = 1, max: UInt64 = 300,
    bins: [UInt64] = [1, 2, UInt64(LogHistogram.bin(for: 300))], counts: [UInt64] = [1, 1, 1]
) {
    writer.varint(1, count)
    writer.varint(2, censored)
    writer.varint(3, UInt64(truncatingIfNeeded: sum >> 64))
    writer.varint(4, UInt64(truncatingIfNeeded: sum))
    writer.varint(5, UInt64(truncatingIfNeeded: sumOfSquares >> 64))
    writer.varint(6, UInt64(truncatingIfNeeded: sumOfSquares))
    writer.varint(7, min)
    writer.varint(8, max)
    writer.packed(9, bins)
    writer.packed(10, counts)
}
