import Foundation

/// A walk graph as a flat binary file, so that reference implementations outside Swift
/// (scripts/bench: a C loop, numpy, scipy) walk exactly the records the Swift kernel walks.
///
/// Layout, native little-endian: the magic "MSWALK01"; u64 states, records, start state,
/// target count; u64 offsets[states + 1]; records of {u64 threshold, u32 neighbour, u32
/// alias} (`AliasRecord`, 16 bytes); u32 target states. Graphs with implicit uniform parts
/// are refused: their outcomes need cluster member lists that the format leaves out.
public struct WalkGraphExport: Equatable, Sendable {
    public static let magic = Array("MSWALK01".utf8)

    public var offsets: [UInt64]
    public var records: [AliasRecord]
    public var start: Int
    public var targets: [UInt32]

    /// Writes `graph` with walks from `start` to `targets` to `url`, straight from the
    /// graph's buffers (an out-of-cache graph is hundreds of MiB).
    public static func write(_ graph: WalkGraph, start: Int, targets: [Int], to url: URL) throws {
        guard graph.uniformLayout == .none else {
            throw WalkError(.badArgument, "a graph with implicit uniform parts cannot be exported; use a stored-edge kernel")
        }
        guard (0..<graph.stateCount).contains(start), targets.allSatisfy({ (0..<graph.stateCount).contains($0) }) else {
            throw WalkError(.badArgument, "the start and target states must be among the graph's \(graph.stateCount) states")
        }
        var header = Data(magic)
        for word in [graph.stateCount, graph.recordCount, start, targets.count] {
            withUnsafeBytes(of: UInt64(word).littleEndian) { header.append(contentsOf: $0) }
        }
        guard FileManager.default.createFile(atPath: url.path, contents: header) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: url.path])
        }
        let file = try FileHandle(forWritingTo: url)
        defer { try? file.close() }
        try file.seekToEnd()
        let view = graph.view
        try file.write(contentsOf: UnsafeRawBufferPointer(start: view.offsets, count: 8 * (graph.stateCount + 1)))
        try file.write(contentsOf: UnsafeRawBufferPointer(start: view.records, count: 16 * graph.recordCount))
        try targets.map { UInt32($0).littleEndian }.withUnsafeBytes { try file.write(contentsOf: $0) }
    }

    /// Reads a file written by `write`.
    public init(contentsOf url: URL) throws {
        let data = try Data(contentsOf: url)
        let bad = WalkError(.badArgument, "\(url.path) is not a graph written by metastable bench --export-graph")
        guard data.count >= 40, Array(data.prefix(8)) == Self.magic else { throw bad }
        func words<T: FixedWidthInteger>(_: T.Type, at offset: Int, count: Int) throws -> [T] {
            let end = offset + count * MemoryLayout<T>.size
            guard count >= 0, end <= data.count else { throw bad }
            return data[offset..<end].withUnsafeBytes { raw in
                (0..<count).map { T(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
            }
        }
        let header = try words(UInt64.self, at: 8, count: 4).map { Int(truncatingIfNeeded: $0) }
        let (states, recordCount, targetCount) = (header[0], header[1], header[3])
        offsets = try words(UInt64.self, at: 40, count: states + 1)
        let recordStart = 40 + 8 * (states + 1)
        let fields = try words(UInt32.self, at: recordStart, count: 4 * recordCount)
        records = (0..<recordCount).map { i in
            AliasRecord(
                threshold: UInt64(fields[4 * i]) | UInt64(fields[4 * i + 1]) << 32,
                neighbour: fields[4 * i + 2], alias: fields[4 * i + 3])
        }
        targets = try words(UInt32.self, at: recordStart + 16 * recordCount, count: targetCount)
        start = header[2]
        guard recordStart + 16 * recordCount + 4 * targetCount == data.count else { throw bad }
    }

    /// The offsets, records, start and targets of `graph` as `write` would store them.
    init(_ graph: WalkGraph, start: Int, targets: [Int]) {
        let view = graph.view
        offsets = Array(UnsafeBufferPointer(start: view.offsets, count: graph.stateCount + 1))
        records = Array(UnsafeBufferPointer(start: view.records, count: graph.recordCount))
        self.start = start
        self.targets = targets.map { UInt32($0) }
    }
}
