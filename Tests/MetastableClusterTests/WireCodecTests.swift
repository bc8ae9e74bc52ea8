import Metastable
import MetastableCluster
import Testing

@Suite("Wire codec")
struct WireCodecTests {
    @Test(arguments: WireFixtures.messages.map(\.0))
    func everyVerbRoundTrips(name: String) throws {
        let message = try #require(WireFixtures.messages.first { $0.0 == name }?.1)
        let envelope = WireEnvelope(runID: WireFixtures.runID, message: message)
        let bytes = WireCodec.encode(envelope)
        let decoded = try WireCodec.decode(bytes)
        #expect(decoded == envelope)
        #expect(WireCodec.encode(decoded) == bytes) // deterministic bytes
    }

    @Test func accumulatorsSurviveTheWireExactly() throws {
        let accumulator = WireFixtures.hittingTime
        #expect(accumulator.sum > UInt128(UInt64.max) && accumulator.sumOfSquares > UInt128(UInt64.max))
        #expect(accumulator.censoredCount == 37)
        let result = WireMessage.BatchResult(
            jobID: 1, batchID: 2, steps: 3, hittingTime: accumulator, transitions: WireFixtures.transitions)
        let envelope = WireEnvelope(runID: "r", message: .result(result))
        guard case .result(let decoded) = try WireCodec.decode(WireCodec.encode(envelope)).message else {
            Issue.record("not a result")
            return
        }
        #expect(decoded.hittingTime == accumulator)
        #expect(decoded.hittingTime.summary == accumulator.summary)
        #expect(decoded.hardSteps == nil && decoded.clustersVisited == nil)
        #expect(decoded.transitions == WireFixtures.transitions)
        #expect(decoded.transitions?.metaTransitionMatrixEstimate() == WireFixtures.transitions.metaTransitionMatrixEstimate())

        // What the coordinator does with results: merging decoded halves gives the whole.
        var r = WalkRandom(seed: 5, index: 0)
        var halves = [IntegerSampleAccumulator(), IntegerSampleAccumulator()], whole = IntegerSampleAccumulator()
        for _ in 0..<1000 {
            let t = r.next() >> (16 + r.next(below: 48))
            halves[r.next(below: 2)].record(t)
            whole.record(t)
        }
        var merged = IntegerSampleAccumulator()
        for half in halves {
            let bytes = WireCodec.encode(.init(runID: "r", message: .result(.init(jobID: 0, batchID: 0, steps: 0, hittingTime: half))))
            guard case .result(let decoded) = try WireCodec.decode(bytes).message else { continue }
            merged.merge(decoded.hittingTime)
        }
        #expect(merged == whole)
    }

    @Test func edgeValuesRoundTrip() throws {
        var extremes = IntegerSampleAccumulator()
        extremes.recordCensored(0)
        extremes.record(.max) // Σt² has room for one of these
        let messages: [WireMessage] = [
            .hello(.init(workerID: "w", cores: .max, credits: 1, pid: 0, hostname: "", softwareVersion: "")),
            .job(.init(jobID: .max, source: .graphChunk(.init(data: [], index: 0, count: 1, totalSize: 0, crc32: 0)))),
            .job(.init(jobID: 0, source: .experiment(specYAML: "näme: ε-Übergänge ✓", seed: .max))),
            .task(.init(jobID: 0, batchID: .max, walks: UInt64.max..<UInt64.max, round: .max, policyVersion: .max)),
            .result(.init(
                jobID: 0, batchID: 0, steps: .max, hittingTime: extremes,
                transitions: TransitionCounts(clusterCount: 0))),
            .heartbeat(.init(sequence: 0, senderTimeNanoseconds: 0)),
            .shutdown(.init(reason: "")),
        ] + WireMessage.ErrorReport.Code.allCases.map { .error(.init(code: $0, message: "\($0)")) }
        for message in messages {
            for runID in ["", "ü", String(repeating: "r", count: WireCodec.maxIdentifierLength)] {
                let envelope = WireEnvelope(runID: runID, message: message)
                #expect(try WireCodec.decode(WireCodec.encode(envelope)) == envelope)
            }
        }
    }

    @Test func payloadsWithNonFiniteNumbersAreRefusedNamingTheField() throws {
        for bad in [Double.nan, .infinity, -.infinity] {
            let payload = RoundPayload(reals: [1, bad], counts: [])
            let task = WireEnvelope(runID: "r", message: .task(.init(
                jobID: 1, batchID: 2, walks: 0..<1, input: .init(point: 0, task: RoundTask(round: 0, stage: 0, input: payload)))))
            do {
                _ = try WireCodec.decode(WireCodec.encode(task))
                Issue.record("a round input with \(bad) decoded")
            } catch {
                #expect("\(error)".contains("task.input.payload.reals[1]"))
            }
            let result = WireEnvelope(runID: "r", message: .result(.init(
                jobID: 1, batchID: 2, steps: 0, hittingTime: IntegerSampleAccumulator(), payload: payload)))
            do {
                _ = try WireCodec.decode(WireCodec.encode(result))
                Issue.record("a payload with \(bad) decoded")
            } catch {
                #expect("\(error)".contains("result.payload.reals[1]"))
            }
        }
    }

    @Test func wireLayoutMatchesTheSchema() throws {
        // The same heartbeat written field by field from proto/metastable.proto: pins the
        // field numbers, so that other implementations of the schema interoperate.
        let bytes = ProtoWriter.envelope {
            $0.message(7) {
                $0.varint(1, 5)
                $0.varint(2, 1_767_781_860_000_000_000)
            }
        }
        let envelope = WireEnvelope(
            runID: WireFixtures.runID,
            message: .heartbeat(.init(sequence: 5, senderTimeNanoseconds: 1_767_781_860_000_000_000)))
        #expect(WireCodec.encode(envelope) == bytes)
        #expect(try WireCodec.decode(bytes) == envelope)
    }

    @Test func unknownFieldsAreSkipped() throws {
        // A later minor revision may add fields; this version reads past them.
        let bytes = ProtoWriter.envelope {
            $0.message(8) {
                $0.string(1, "done")
                $0.varint(99, 1)
            }
            $0.bytes(100, [1, 2, 3])
        }
        #expect(try WireCodec.decode(bytes).message == .shutdown(.init(reason: "done")))
    }
}
