import Foundation
import Logging
import MetastableCluster
import Testing

@Suite("Logging")
struct LoggingTests {
    /// 2026-01-02T03:04:05.678Z
    let date = Date(timeIntervalSince1970: 1_767_323_045.678)

    private func parse(_ line: String) throws -> [String: Any] {
        #expect(!line.contains("\n"))
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
        return try #require(object as? [String: Any])
    }

    @Test func jsonRecordParsesBackWithTypedFlattenedFields() throws {
        let record = LogRecord(
            date: date, level: .notice, message: "progress", role: "coordinator", runID: "r-42",
            metadata: [
                "batches_done": .stringConvertible(17),
                "batches_total": .stringConvertible(UInt64.max),
                "walks_per_s": .stringConvertible(1234.5),
                "eta_s": .stringConvertible(Double.infinity),
                "resumed": .stringConvertible(true),
                "spec": "experiments/quickstart.yaml",
                "text_number": "7",
                "peer": .dictionary(["id": "w1", "addr": .dictionary(["port": .stringConvertible(5555)])]),
                "batches": .array([.stringConvertible(1), "two", .dictionary(["three": .stringConvertible(3)])]),
            ])
        let line = LogFormat.json.render(record)
        let object = try parse(line)

        #expect(line.hasPrefix(#"{"ts":"2026-01-02T03:04:05.678Z","level":"notice","message":"progress","#))
        #expect(object["role"] as? String == "coordinator")
        #expect(object["run_id"] as? String == "r-42")
        #expect(object["batches_done"] as? Int == 17)
        #expect(line.contains(#""batches_total":18446744073709551615"#)) // exact, not via Double
        #expect(object["walks_per_s"] as? Double == 1234.5)
        #expect(object["eta_s"] as? String == "inf") // JSON has no infinity
        #expect(object["resumed"] as? Bool == true)
        #expect(object["spec"] as? String == "experiments/quickstart.yaml")
        #expect(object["text_number"] as? String == "7") // .string stays a string
        #expect(object["peer.id"] as? String == "w1")
        #expect(object["peer.addr.port"] as? Int == 5555)
        let batches = try #require(object["batches"] as? [Any])
        #expect(batches.count == 3 && batches[0] as? Int == 1 && batches[1] as? String == "two")
        #expect((batches[2] as? [String: Any])?["three"] as? Int == 3)
        #expect(object.count == 15)
        // Keys after the fixed fields come in order, so equal records give equal lines.
        #expect(line.range(of: "\"batches\"")!.lowerBound < line.range(of: "\"walks_per_s\"")!.lowerBound)
    }

    @Test func jsonEscapesEverythingThatCouldBreakALine() throws {
        let nasty = "quote \" backslash \\ newline \n cr \r tab \t bell \u{07} nul \u{0} del \u{7F} é 🎲"
        let record = LogRecord(
            date: date, level: .error, message: nasty, role: "worker", runID: nil,
            metadata: [nasty: .string(nasty), "level": "shadowed", "ts": "shadowed"])
        let line = LogFormat.json.render(record)
        let object = try parse(line)
        #expect(object["message"] as? String == nasty)
        #expect(object[nasty] as? String == nasty)
        #expect(object["run_id"] == nil)
        // Metadata never overwrites a fixed field.
        #expect(object["level"] as? String == "error" && object["_level"] as? String == "shadowed")
        #expect(object["ts"] as? String == "2026-01-02T03:04:05.678Z" && object["_ts"] as? String == "shadowed")
    }

    @Test func timestampsAreUTCWithMilliseconds() throws {
        func ts(_ seconds: Double) throws -> String? {
            try parse(LogFormat.json.render(LogRecord(date: Date(timeIntervalSince1970: seconds), level: .info,
                                                       message: "", role: "r", runID: nil)))["ts"] as? String
        }
        #expect(try ts(0) == "1970-01-01T00:00:00.000Z")
        #expect(try ts(0.9996) == "1970-01-01T00:00:00.999Z") // truncated, never .1000
        #expect(try ts(951_782_400.001) == "2000-02-29T00:00:00.001Z")
    }

    @Test func humanLinesReadLikeTheSpec() throws {
        let record = LogRecord(
            date: date, level: .warning, message: "worker dropped", role: "coordinator", runID: "r-1",
            metadata: ["worker": "w 2", "requeued": .stringConvertible(3), "peer": .dictionary(["id": "a=b"])])
        let line = LogFormat.human.render(record)
        let pattern = #/^\d\d:\d\d:\d\d warning \[coordinator\] worker dropped peer\.id="a=b" requeued=3 worker="w 2"$/#
        #expect(line.wholeMatch(of: pattern) != nil, "\(line)")
    }

    @Test func handlerWritesWholeLinesFromManyThreads() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("log-\(UUID().uuidString)").path
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        #expect(fd >= 0)
        defer { unlink(path) }

        let threads = 8, perThread = 200
        let long = String(repeating: "x", count: 10_000) // far beyond PIPE_BUF
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            var logger = Logger(label: "test") { _ in
                ClusterLogHandler(role: "worker", runID: nil, level: .info, format: .json, fileDescriptor: fd)
            }
            logger[metadataKey: "thread"] = .stringConvertible(thread)
            logger[metadataKey: "run_id"] = "learned-from-job" // replaces the process default
            for i in 0..<perThread {
                logger.debug("below the level")
                logger.info("line", metadata: ["i": .stringConvertible(i), "pad": i % 50 == 0 ? "\(long)" : "short"])
            }
        }
        close(fd)

        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.last == "") // the file ends with a newline
        var seen = Set<String>()
        for line in lines.dropLast() {
            let object = try parse(String(line))
            #expect(object["run_id"] as? String == "learned-from-job" && object["role"] as? String == "worker")
            seen.insert("\(object["thread"]!)/\(object["i"]!)")
        }
        #expect(lines.count - 1 == threads * perThread && seen.count == threads * perThread)
    }

    @Test func onlyTheFirstBootstrapTakesEffect() {
        // Whichever test bootstraps first wins; a second call must be a harmless no-op
        // (swift-log itself would trap).
        ClusterLogging.bootstrap(role: "test", runID: nil, level: .critical, json: true)
        #expect(ClusterLogging.bootstrap(role: "test", runID: nil, level: .critical, json: false) == false)
    }
}
