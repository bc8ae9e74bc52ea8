/// Reading and writing chains and cluster labels as files.
///
/// Three chain formats are supported (see `Format`). The text formats hold explicit
/// transitions only, so writing them expands a chain's implicit uniform parts; the binary
/// format stores a chain as it is, labels, kinds and uniform part included. Every rejected input is a
/// `ChainError` that names the file, the line and the offending text.
public enum ChainFile {
    public enum Format: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// Matrix Market `coordinate real general`, as `scipy.io.mmwrite` writes it:
        /// 1-based `row column probability` lines. Extension `.mtx`. It has no edge
        /// kinds: every edge reads back as dense.
        case matrixMarket
        /// CSV `from,to,probability[,kind]` lines with 0-based states. Extension `.csv`.
        case edgeList
        /// The binary graph format (see `BinaryGraphLayout`), for chains too large for
        /// text: memory-mapped and validated on load. Extension `.msgraph`.
        case binary

        /// The format the extension of `path` names, if any.
        public init?(pathExtensionOf path: String) {
            let name = path.split(separator: "/").last ?? ""
            guard let dot = name.lastIndex(of: ".") else { return nil }
            switch name[name.index(after: dot)...].lowercased() {
            case "mtx": self = .matrixMarket
            case "csv": self = .edgeList
            case "msgraph": self = .binary
            default: return nil
            }
        }

        /// Binary if the bytes start with its magic, Matrix Market if they start with its
        /// banner, otherwise an edge list.
        init(sniffing bytes: some Collection<UInt8>) {
            guard !BinaryGraphReader.hasMagic(bytes) else {
                self = .binary
                return
            }
            let banner = Array("%%matrixmarket".utf8)
            let start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? bytes.dropFirst(3) : bytes[...]
            let isMatrixMarket = start.count >= banner.count && zip(start, banner).allSatisfy { asciiLowercased($0) == $1 }
            self = isMatrixMarket ? .matrixMarket : .edgeList
        }

        public var description: String {
            switch self {
            case .matrixMarket: "Matrix Market"
            case .edgeList: "edge list"
            case .binary: "binary graph"
            }
        }
    }

    /// Reads a chain, and optionally its cluster labels.
    ///
    /// - Parameters:
    ///   - labelsPath: cluster labels; for a binary graph they replace the file's own.
    ///   - format: the file's format; by default the one its extension names (`.mtx`,
    ///     `.csv`, `.msgraph`), else the one its first bytes look like. A binary graph is
    ///     memory-mapped rather than read.
    ///   - normalize: rescale rows to sum to 1 instead of rejecting rows that do not (text
    ///     formats; a binary graph's rows must sum to 1).
    ///   - stateCount: the number of states; by default the size line's (Matrix Market,
    ///     which must then agree) or the largest state in the file + 1 (edge list).
    public static func load(
        path: String, labelsPath: String? = nil, format: Format? = nil, normalize: Bool = false, stateCount: Int? = nil
    ) throws(ChainError) -> Chain {
        if (format ?? Format(pathExtensionOf: path)) == .binary {
            let chain = try MappedFile.withBytes(atPath: path) { (bytes) throws(ChainError) in
                try BinaryGraphReader.read(bytes, file: path)
            }
            return try relabeled(chain, file: path, stateCount: stateCount, labelsPath: labelsPath)
        }
        let bytes = try FileBytes.contents(atPath: path)
        let labels = try labelsPath.map { (labelsPath) throws(ChainError) in try FileBytes.contents(atPath: labelsPath) }
        return try parse(
            bytes: bytes, format: format, name: path, labels: labels, labelsName: labelsPath ?? "",
            normalize: normalize, stateCount: stateCount)
    }

    /// The rows of some clusters of a binary graph with labels, the whole file checked:
    /// the chain with every other row empty, and the alias records of each cluster in the
    /// whole file (what a partition is balanced by). What a worker holding one shard of a
    /// chain too large for one machine loads.
    public static func loadRows(
        ofClusters keep: (Int) -> Bool, path: String
    ) throws(ChainError) -> (chain: Chain, recordsPerCluster: [Int]) {
        try MappedFile.withBytes(atPath: path) { (bytes) throws(ChainError) in
            guard BinaryGraphReader.hasMagic(bytes) else {
                throw ChainError(.badHeader, "only a binary graph (.msgraph) can be loaded a shard at a time", file: path)
            }
            return try BinaryGraphReader.read(bytes, file: path, keepClusters: keep)
        }
    }

    /// Calls `body` with the rows of a binary graph read in place from its mapping, after
    /// the whole file is checked: reachability and counts of a chain too large to copy.
    public static func inspectRows<R>(path: String, _ body: (any RowAccess) throws(ChainError) -> R) throws(ChainError) -> R {
        try MappedFile.withBytes(atPath: path) { (bytes) throws(ChainError) in
            guard BinaryGraphReader.hasMagic(bytes) else {
                throw ChainError(.badHeader, "only a binary graph (.msgraph) can be read in place", file: path)
            }
            return try BinaryGraphReader.inspect(bytes, file: path) { (rows) throws(ChainError) in try body(rows) }
        }
    }

    /// Writes a chain, and optionally its cluster labels (which it must have).
    ///
    /// - Parameter format: by default the one the extension of `path` names, else
    ///   Matrix Market. A binary graph holds the labels itself; `labelsPath` writes
    ///   them beside it too.
    public static func save(_ chain: Chain, to path: String, format: Format? = nil, labelsPath: String? = nil) throws(ChainError) {
        if let labelsPath, chain.clusters == nil {
            throw ChainError(.inconsistent, "the chain has no cluster labels to write", file: labelsPath)
        }
        let format = format ?? Format(pathExtensionOf: path) ?? .matrixMarket
        try FileBytes.create(atPath: path) { (sink) throws(ChainError) in try encode(chain, format: format, to: sink) }
        if let labelsPath, let clusters = chain.clusters {
            try FileBytes.create(atPath: labelsPath) { (sink) throws(ChainError) in try LabelsFile.encode(clusters, to: sink) }
        }
    }

    /// Parses a chain from the text of a file; `name` and `labelsName` are the file
    /// names errors report.
    public static func parse(
        _ text: String, format: Format? = nil, name: String = "<input>",
        labels: String? = nil, labelsName: String = "<labels>", normalize: Bool = false, stateCount: Int? = nil
    ) throws(ChainError) -> Chain {
        try parse(
            bytes: Array(text.utf8), format: format, name: name, labels: labels.map { Array($0.utf8) },
            labelsName: labelsName, normalize: normalize, stateCount: stateCount)
    }

    /// Parses a chain from the bytes of a file. Without `format`, it is guessed from the
    /// extension of `name`, else from the first line.
    public static func parse(
        bytes: [UInt8], format: Format? = nil, name: String = "<input>",
        labels: [UInt8]? = nil, labelsName: String = "<labels>", normalize: Bool = false, stateCount: Int? = nil
    ) throws(ChainError) -> Chain {
        let format = format ?? Format(pathExtensionOf: name) ?? Format(sniffing: bytes.prefix(64))
        let chain = try bytes.withUnsafeBufferPointer { (buffer) throws(ChainError) -> Chain in
            switch format {
            case .binary:
                let chain = try withAlignedCopy(of: bytes) { (raw) throws(ChainError) in try BinaryGraphReader.read(raw, file: name) }
                // Checks the state count; the labels, if given, are applied below as for text.
                return try relabeled(chain, file: name, stateCount: stateCount)
            case .matrixMarket:
                let reader = try MatrixMarketReader(buffer, file: name)
                if let stateCount, stateCount != reader.stateCount {
                    throw ChainError(
                        .inconsistent, "the matrix has \(reader.stateCount) states, not the \(stateCount) expected",
                        file: name, line: reader.sizeLine)
                }
                var entries = CoordinateEntries(stateCount: reader.stateCount, capacity: reader.capacityHint, withKinds: false)
                try reader.forEachEntry { _, row, column, p in entries.append(row: row, column: column, probability: p) }
                return try entries.makeChain(file: name, normalize: normalize, indexBase: 1, lineOfLastEntry: reader.lineOfLastEntry)
            case .edgeList:
                let reader = try EdgeListReader(buffer, file: name, stateCount: stateCount)
                var entries = CoordinateEntries(stateCount: 0, capacity: reader.capacityHint, withKinds: true)
                entries.stateCount = try reader.forEachEntry { _, from, to, p, kind in
                    entries.append(row: from, column: to, probability: p, kind: kind)
                }
                return try entries.makeChain(file: name, normalize: normalize, indexBase: 0, lineOfLastEntry: reader.lineOfLastEntry)
            }
        }
        guard let labels else { return chain }
        let clusters = try parseLabels(bytes: labels, name: labelsName, stateCount: chain.stateCount)
        return try chain.withClusters(clusters)
    }

    /// Parses a cluster labels file for a chain of `stateCount` states.
    public static func parseLabels(_ text: String, name: String = "<labels>", stateCount: Int) throws(ChainError) -> ClusterLabels {
        try parseLabels(bytes: Array(text.utf8), name: name, stateCount: stateCount)
    }

    /// Parses the bytes of a cluster labels file for a chain of `stateCount` states.
    public static func parseLabels(bytes: [UInt8], name: String = "<labels>", stateCount: Int) throws(ChainError) -> ClusterLabels {
        try bytes.withUnsafeBufferPointer { (buffer) throws(ChainError) in
            try LabelsFile.parse(buffer, file: name, stateCount: stateCount)
        }
    }

    /// The text of `chain` in a text `format`, implicit uniform parts expanded.
    public static func encode(_ chain: Chain, format: Format) -> String {
        precondition(format != .binary, "a binary graph is bytes, not text: use encodeBinary")
        var bytes: [UInt8] = []
        encode(chain, format: format) { bytes.append(contentsOf: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The bytes of a binary graph file for `chain`.
    public static func encodeBinary(_ chain: Chain) -> [UInt8] {
        var bytes: [UInt8] = []
        BinaryGraphWriter.encode(chain) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// The text of a cluster labels file for `clusters`.
    public static func encodeLabels(_ clusters: ClusterLabels) -> String {
        var bytes: [UInt8] = []
        LabelsFile.encode(clusters) { bytes.append(contentsOf: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func encode<Failure>(_ chain: Chain, format: Format, to sink: ([UInt8]) throws(Failure) -> Void) throws(Failure) {
        switch format {
        case .matrixMarket: try MatrixMarketWriter.encode(chain, to: sink)
        case .edgeList: try EdgeListWriter.encode(chain, to: sink)
        case .binary: try BinaryGraphWriter.encode(chain, to: sink)
        }
    }

    /// `chain` read from a binary graph, checked against the expected state count and
    /// given the labels of a labels file, if any.
    private static func relabeled(
        _ chain: Chain, file: String, stateCount: Int?, labelsPath: String? = nil, labelsBytes: [UInt8]? = nil,
        labelsName: String = ""
    ) throws(ChainError) -> Chain {
        if let stateCount, stateCount != chain.stateCount {
            throw ChainError(.inconsistent, "the graph has \(chain.stateCount) states, not the \(stateCount) expected", file: file)
        }
        var labels = labelsBytes
        if let labelsPath { labels = try FileBytes.contents(atPath: labelsPath) }
        guard let labels else { return chain }
        let clusters = try parseLabels(bytes: labels, name: labelsPath ?? labelsName, stateCount: chain.stateCount)
        return try chain.withClusters(clusters)
    }

    /// Calls `body` with a 64-byte aligned copy of `bytes`, which the binary reader needs
    /// to read sections as typed arrays (a mapped file is page-aligned already).
    private static func withAlignedCopy<R>(
        of bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(ChainError) -> R
    ) throws(ChainError) -> R {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: BinaryGraphLayout.alignment)
        defer { copy.deallocate() }
        copy.copyBytes(from: bytes)
        return try body(UnsafeRawBufferPointer(copy))
    }
}
