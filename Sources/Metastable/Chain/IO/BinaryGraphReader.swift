import CMetastableSupport

/// Validates a binary graph file (see `BinaryGraphLayout`) in memory and builds its chain.
///
/// Everything is checked before it is used as an index: the header (magic, byte order,
/// version, checksum, counts, file size), the section table against the layout the counts
/// imply, zero padding, each section's checksum, then the contents (offsets monotone and
/// ending at m, columns in range and increasing within a row, probabilities in (0, 1], rows
/// summing to 1, kinds and labels in range). So a truncated or corrupted file is an error,
/// never a trap or a different chain. Every error names the file, the section and the
/// entry or byte offset.
///
/// The chain's arrays are copied out of `bytes` once (a `Chain` owns Swift arrays), so the
/// caller may unmap the file afterwards. `bytes` must be 8-byte aligned.
struct BinaryGraphReader {
    private typealias Layout = BinaryGraphLayout
    private typealias Section = BinaryGraphLayout.Section

    private let bytes: UnsafeRawBufferPointer
    private let file: String

    private init(_ bytes: UnsafeRawBufferPointer, file: String) {
        self.bytes = bytes
        self.file = file
    }

    static func read(_ bytes: UnsafeRawBufferPointer, file: String) throws(ChainError) -> Chain {
        try BinaryGraphReader(bytes, file: file).read(keepClusters: nil).chain
    }

    /// The chain with only the rows of the clusters `keep` accepts (the others empty), and
    /// the alias records (stored edges, plus one per uniform part) of each cluster in the
    /// whole file: a shard of a chain too large to hold, after the whole file is checked.
    /// The file must have labels.
    static func read(
        _ bytes: UnsafeRawBufferPointer, file: String, keepClusters keep: (Int) -> Bool
    ) throws(ChainError) -> (chain: Chain, recordsPerCluster: [Int]) {
        let (chain, records) = try withoutActuallyEscaping(keep) { (keep) throws(ChainError) in
            try BinaryGraphReader(bytes, file: file).read(keepClusters: keep)
        }
        guard let records else {
            throw ChainError(.inconsistent, "the graph has no cluster labels, and a shard is a set of clusters", file: file)
        }
        return (chain, records)
    }

    /// Calls `body` with the file's rows read in place, after checking the whole file as
    /// `read` does: no row is copied.
    static func inspect<R>(
        _ bytes: UnsafeRawBufferPointer, file: String, _ body: (MappedRows) throws(ChainError) -> R
    ) throws(ChainError) -> R {
        try body(BinaryGraphReader(bytes, file: file).validated())
    }

    /// Whether `bytes` start with the binary graph magic.
    static func hasMagic(_ bytes: some Collection<UInt8>) -> Bool { bytes.starts(with: Layout.magic) }

    /// The rows of a checked file, read in place from the mapping (valid while it is).
    struct MappedRows: RowAccess {
        let stateCount: Int
        let clusters: ClusterLabels?
        let rowOffsets: [Int]
        let columns: UnsafeBufferPointer<UInt32>
        let probabilities: UnsafeBufferPointer<Double>
        let kinds: UnsafeBufferPointer<UInt8>?
        let uniform: [Double]

        func entries(of x: Int) -> Range<Int> { rowOffsets[x]..<rowOffsets[x + 1] }
        func column(_ e: Int) -> Int { Int(columns[e]) }
        func probability(_ e: Int) -> Double { probabilities[e] }
        func kind(_ e: Int) -> EdgeKind { kinds.map { EdgeKind(rawValue: $0[e])! } ?? .dense } // checked
        func uniformMass(of x: Int) -> Double { uniform.isEmpty ? 0 : uniform[x] }
    }

    /// Everything checked: header, layout, checksums, then every section's contents.
    private func validated() throws(ChainError) -> MappedRows {
        let (n, m, flags) = try readHeader()
        let extents = try checkLayout(stateCount: n, edgeCount: m, flags: flags)
        for section in Section.allCases where extents[section.rawValue] != .absent {
            try checkChecksum(section, extents[section.rawValue])
        }
        func elements<T>(_ section: Section, as type: T.Type) -> UnsafeBufferPointer<T> {
            let extent = extents[section.rawValue]
            let start = (bytes.baseAddress! + extent.offset).bindMemory(to: T.self, capacity: extent.size / section.stride)
            return UnsafeBufferPointer(start: start, count: extent.size / section.stride)
        }
        let rowOffsets = try readRowOffsets(elements(.rowOffsets, as: UInt64.self), edgeCount: m, at: extents[0].offset)
        let labels = try flags.contains(.labels) ? readLabels(elements(.labels, as: UInt32.self), at: extents[Section.labels.rawValue].offset) : nil
        let uniform = try flags.contains(.uniform) ? readUniformMass(elements(.uniformMass, as: Double.self), at: extents[Section.uniformMass.rawValue].offset) : []
        let columns = elements(.columns, as: UInt32.self), probabilities = elements(.probabilities, as: Double.self)
        try checkRows(
            rowOffsets, columns: columns, probabilities: probabilities,
            uniformMass: uniform, columnsAt: extents[Section.columns.rawValue].offset,
            probabilitiesAt: extents[Section.probabilities.rawValue].offset)
        let kinds = flags.contains(.kinds) ? elements(.kinds, as: UInt8.self) : nil
        if let kinds { try checkKinds(kinds, at: extents[Section.kinds.rawValue].offset) }
        let clusters: ClusterLabels?
        do {
            clusters = try labels.map { (labels) throws(ChainError) in try ClusterLabels(labels: labels) }
        } catch {
            throw ChainError(error.reason, "section '\(Section.labels)': \(error.message)", file: file)
        }
        return MappedRows(
            stateCount: n, clusters: clusters, rowOffsets: rowOffsets, columns: columns, probabilities: probabilities,
            kinds: kinds, uniform: uniform)
    }

    private func read(keepClusters keep: ((Int) -> Bool)?) throws(ChainError) -> (chain: Chain, recordsPerCluster: [Int]?) {
        let rows = try validated()
        let n = rows.stateCount, rowOffsets = rows.rowOffsets, uniform = rows.uniform, clusters = rows.clusters
        let labels = clusters?.labels, allColumns = rows.columns, allProbabilities = rows.probabilities, kind = rows.kind
        let m = allColumns.count
        var records: [Int]?
        if let labels, let clusters {
            var perCluster = [Int](repeating: 0, count: clusters.clusterCount)
            for x in 0..<n {
                perCluster[Int(labels[x])] += rowOffsets[x + 1] - rowOffsets[x] + (!uniform.isEmpty && uniform[x] > 0 ? 1 : 0)
            }
            records = perCluster
        }
        var offsets = rowOffsets, columns = [UInt32](), probabilities = [Double](), kinds = [EdgeKind]()
        if let keep, let labels {
            // Only the kept rows' entries, straight from the mapping; the other rows are empty.
            for x in 0..<n {
                offsets[x] = columns.count
                guard keep(Int(labels[x])) else { continue }
                for e in rowOffsets[x]..<rowOffsets[x + 1] {
                    columns.append(allColumns[e])
                    probabilities.append(allProbabilities[e])
                    kinds.append(kind(e))
                }
            }
            offsets[n] = columns.count
        } else {
            columns = Array(allColumns)
            probabilities = Array(allProbabilities)
            kinds = (0..<m).map(kind)
        }
        let chain = Chain(
            validatedStateCount: n, rowOffsets: offsets, columns: columns, probabilities: probabilities, kinds: kinds,
            // A Chain without any uniform mass stores none.
            uniformMass: uniform.allSatisfy { $0 == 0 } ? [] : uniform, clusters: clusters)
        return (chain, records)
    }

    // MARK: Header and layout

    private func readHeader() throws(ChainError) -> (stateCount: Int, edgeCount: Int, flags: Layout.Flags) {
        guard Self.hasMagic(bytes) || bytes.count < Layout.magic.count && Layout.magic.starts(with: bytes) else {
            throw error(.badHeader, "not a binary graph: the file does not start with the magic bytes \"MSGRAPH\\0\"")
        }
        guard bytes.count >= Layout.headerSize else {
            throw error(.badHeader, "truncated header: the file has \(bytes.count) bytes, the header alone \(Layout.headerSize)")
        }
        let mark = field(Layout.Field.byteOrderMark, as: UInt32.self)
        guard mark == Layout.byteOrderMark else {
            let why = mark == Layout.byteOrderMark.byteSwapped ? "the file was written with the other byte order" : "the byte-order mark is \(hex(mark))"
            throw error(.badHeader, "header (byte offset \(Layout.Field.byteOrderMark)): \(why)")
        }
        let version = field(Layout.Field.version, as: UInt32.self)
        guard version == Layout.version else {
            throw error(.badHeader, "header (byte offset \(Layout.Field.version)): format version \(version), this reader knows \(Layout.version)")
        }
        let stored = field(Layout.checksumOffset, as: UInt64.self)
        let computed = ms_xxh64(bytes.baseAddress, Layout.checksumOffset, 0)
        guard stored == computed else {
            throw error(.badHeader, "header (bytes 0..<\(Layout.checksumOffset)): checksum mismatch, stored \(hex(stored)), computed \(hex(computed))")
        }
        let n = field(Layout.Field.stateCount, as: UInt64.self)
        guard n > 0, n <= UInt64(UInt32.max >> 1) else {
            throw error(.badHeader, "header (byte offset \(Layout.Field.stateCount)): state count \(n) is not in 1...\(UInt32.max >> 1)")
        }
        let m = field(Layout.Field.edgeCount, as: UInt64.self)
        // Bounds every size computed from m; a real file is far smaller anyway.
        guard m < 1 << 58 else {
            throw error(.badHeader, "header (byte offset \(Layout.Field.edgeCount)): edge count \(m) is too large")
        }
        let flags = Layout.Flags(rawValue: field(Layout.Field.flags, as: UInt64.self))
        guard Layout.Flags.known.isSuperset(of: flags) else {
            throw error(.badHeader, "header (byte offset \(Layout.Field.flags)): unknown flags \(hex(flags.rawValue))")
        }
        guard !flags.contains(.uniform) || flags.contains(.labels) else {
            throw error(.badHeader, "header (byte offset \(Layout.Field.flags)): a uniform-within-cluster part needs cluster labels")
        }
        return (Int(n), Int(m), flags)
    }

    /// Checks the file size, the section table and the padding; returns the extents.
    private func checkLayout(stateCount n: Int, edgeCount m: Int, flags: Layout.Flags) throws(ChainError) -> [Layout.Extent] {
        let (extents, fileSize) = Layout.extents(stateCount: n, edgeCount: m, flags: flags)
        let storedSize = field(Layout.Field.fileSize, as: UInt64.self)
        guard storedSize == UInt64(fileSize) else {
            throw error(.badHeader, "header (byte offset \(Layout.Field.fileSize)): file size \(storedSize), but \(n) states and \(m) edges take \(fileSize) bytes")
        }
        guard bytes.count == fileSize else {
            let what = bytes.count < fileSize ? "truncated" : "trailing data"
            throw error(.badCount, "\(what): the file has \(bytes.count) bytes, its header says \(fileSize)")
        }
        for section in Section.allCases {
            let offset = field(section.tableOffset, as: UInt64.self), size = field(section.tableOffset + 8, as: UInt64.self)
            let expected = extents[section.rawValue]
            guard offset == UInt64(expected.offset), size == UInt64(expected.size) else {
                throw error(.badHeader, "header (byte offset \(section.tableOffset)): section '\(section)' is at \(offset) with \(size) bytes, the layout puts it at \(expected.offset) with \(expected.size)")
            }
            if expected == .absent, field(section.tableOffset + 16, as: UInt64.self) != 0 {
                throw error(.badHeader, "header (byte offset \(section.tableOffset + 16)): absent section '\(section)' has a checksum")
            }
        }
        // Padding is zero, so that every byte of the file is checked by something.
        var gaps = [Layout.Field.reserved..<Layout.checksumOffset]
        var end = Layout.headerSize
        for extent in extents where extent != .absent {
            gaps.append(end..<extent.offset)
            end = extent.end
        }
        for gap in gaps {
            if let i = gap.first(where: { bytes[$0] != 0 }) {
                throw error(.badHeader, "padding byte at byte offset \(i) is \(bytes[i]), not 0")
            }
        }
        return extents
    }

    private func checkChecksum(_ section: Section, _ extent: Layout.Extent) throws(ChainError) {
        let stored = field(section.tableOffset + 16, as: UInt64.self)
        let computed = ms_xxh64(bytes.baseAddress! + extent.offset, extent.size, 0)
        guard stored == computed else {
            throw error(.inconsistent, "section '\(section)' (bytes \(extent.offset)..<\(extent.end)): checksum mismatch, stored \(hex(stored)), computed \(hex(computed))")
        }
    }

    // MARK: Sections

    private func readRowOffsets(_ offsets: UnsafeBufferPointer<UInt64>, edgeCount m: Int, at base: Int) throws(ChainError) -> [Int] {
        guard offsets[0] == 0 else { throw entryError(.rowOffsets, 0, base, .inconsistent, "the first offset is \(offsets[0]), not 0") }
        var previous: UInt64 = 0
        for (x, offset) in offsets.enumerated() {
            guard offset >= previous, offset <= UInt64(m) else {
                throw entryError(.rowOffsets, x, base, .inconsistent, "offset \(offset) after \(previous): offsets must be non-decreasing and at most the edge count \(m)")
            }
            previous = offset
        }
        guard previous == UInt64(m) else {
            throw entryError(.rowOffsets, offsets.count - 1, base, .inconsistent, "the last offset is \(previous), not the edge count \(m)")
        }
        return offsets.map { Int(truncatingIfNeeded: $0) }
    }

    private func readLabels(_ labels: UnsafeBufferPointer<UInt32>, at base: Int) throws(ChainError) -> [UInt32] {
        if let x = labels.firstIndex(where: { Int($0) >= labels.count }) {
            throw entryError(.labels, x, base, .badLabel, "label \(labels[x]) of state \(x) is out of range: \(labels.count) states have at most \(labels.count) clusters")
        }
        return Array(labels)
    }

    private func readUniformMass(_ mass: UnsafeBufferPointer<Double>, at base: Int) throws(ChainError) -> [Double] {
        // `!(u >= 0 && u <= 1)` also catches NaN.
        if let x = mass.firstIndex(where: { !($0 >= 0 && $0 <= 1) }) {
            throw entryError(.uniformMass, x, base, .badProbability, "uniform mass \(mass[x]) of state \(x) is not a probability", row: x)
        }
        return Array(mass)
    }

    /// Columns in range and strictly increasing within each row, probabilities in (0, 1],
    /// each row (with its uniform mass) summing to 1. Rows are summed in the order the
    /// `Chain` initializer sums them, so a file accepts exactly the rows a chain does.
    private func checkRows(
        _ rowOffsets: [Int], columns: UnsafeBufferPointer<UInt32>, probabilities: UnsafeBufferPointer<Double>,
        uniformMass: [Double], columnsAt: Int, probabilitiesAt: Int
    ) throws(ChainError) {
        let n = rowOffsets.count - 1
        for x in 0..<n {
            var sum = uniformMass.isEmpty ? 0 : uniformMass[x]
            var previous = -1
            for e in rowOffsets[x]..<rowOffsets[x + 1] {
                let y = Int(columns[e])
                guard y < n else {
                    throw entryError(.columns, e, columnsAt, .badState, "entry (\(x), \(y)): state \(y) is out of range 0..<\(n)", row: x)
                }
                guard y > previous else {
                    throw entryError(.columns, e, columnsAt, .inconsistent, "entry (\(x), \(y)) follows column \(previous): columns must increase within a row", row: x)
                }
                previous = y
                let p = probabilities[e]
                guard p > 0, p <= 1 else {
                    throw entryError(.probabilities, e, probabilitiesAt, .badProbability, "entry (\(x), \(y)) has probability \(p), not in (0, 1]", row: x)
                }
                sum += p
            }
            guard abs(sum - 1) <= Chain.rowSumTolerance else {
                throw entryError(.probabilities, rowOffsets[x], probabilitiesAt, .badRowSum, "row \(x) sums to \(sum), not 1 (tolerance \(Chain.rowSumTolerance))", row: x)
            }
        }
    }

    private func checkKinds(_ kinds: UnsafeBufferPointer<UInt8>, at base: Int) throws(ChainError) {
        if let e = kinds.firstIndex(where: { EdgeKind(rawValue: $0) == nil }) {
            throw entryError(.kinds, e, base, .inconsistent, "edge kind \(kinds[e]) is not 0 (dense), 1 (sparse) or 2 (decoy)")
        }
    }

    // MARK: Helpers

    private func field<T: FixedWidthInteger>(_ offset: Int, as type: T.Type) -> T {
        bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
    }

    private func error(_ reason: ChainError.Reason, _ message: String) -> ChainError {
        ChainError(reason, message, file: file)
    }

    private func entryError(
        _ section: Section, _ index: Int, _ base: Int, _ reason: ChainError.Reason, _ message: String, row: Int? = nil
    ) -> ChainError {
        ChainError(reason, "section '\(section)', entry \(index) (byte offset \(base + index * section.stride)): \(message)", file: file, row: row)
    }

    private func hex<T: FixedWidthInteger>(_ value: T) -> String { "0x" + String(value, radix: 16) }
}
