/// The layout of a binary graph file (`.msgraph`), shared by the writer and the reader.
///
/// A 256-byte header, then the sections in `Section` order, each starting at the next
/// 64-byte boundary (so that a memory-mapped file can be read as typed arrays), the gaps
/// zero. Numbers are in the writer's byte order, little-endian on every supported platform;
/// the byte-order mark lets a reader reject the other one. The header:
///
///     0    magic "MSGRAPH\0"
///     8    format version (UInt32, 1)
///     12   byte-order mark (UInt32, 0x01020304)
///     16   state count n (UInt64)
///     24   edge count m (UInt64)
///     32   flags (UInt64): 1 labels, 2 edge kinds, 4 uniform part
///     40   file size (UInt64)
///     48   per section: offset, size, XXH64 of its bytes (3 × UInt64); all 0 if absent
///     192  reserved, zero
///     248  XXH64 of bytes 0..<248
///
/// Sections hold 8 (n + 1) bytes of row offsets, 4 m of columns, 8 m of probabilities,
/// m of edge kinds, 8 n of uniform mass and 4 n of cluster labels: 13 bytes per edge.
/// The layout is fully determined by n, m and the flags; a reader checks the table says so.
enum BinaryGraphLayout {
    static let magic: [UInt8] = Array("MSGRAPH\0".utf8)
    static let version: UInt32 = 1
    static let byteOrderMark: UInt32 = 0x0102_0304
    static let headerSize = 256
    static let alignment = 64
    static let checksumOffset = 248

    enum Field {
        static let version = 8
        static let byteOrderMark = 12
        static let stateCount = 16
        static let edgeCount = 24
        static let flags = 32
        static let fileSize = 40
        static let sectionTable = 48
        static let reserved = 192
    }

    struct Flags: OptionSet {
        let rawValue: UInt64
        static let labels = Flags(rawValue: 1)
        static let kinds = Flags(rawValue: 2)
        static let uniform = Flags(rawValue: 4)
        static let known: Flags = [.labels, .kinds, .uniform]
    }

    enum Section: Int, CaseIterable, CustomStringConvertible {
        case rowOffsets, columns, probabilities, kinds, uniformMass, labels

        var description: String {
            switch self {
            case .rowOffsets: "row offsets"
            case .columns: "columns"
            case .probabilities: "probabilities"
            case .kinds: "edge kinds"
            case .uniformMass: "uniform mass"
            case .labels: "cluster labels"
            }
        }

        /// Where this section's offset, size and checksum sit in the header.
        var tableOffset: Int { Field.sectionTable + rawValue * 24 }

        /// Bytes per element.
        var stride: Int {
            switch self {
            case .rowOffsets, .probabilities, .uniformMass: 8
            case .columns, .labels: 4
            case .kinds: 1
            }
        }

        /// The flag a section depends on; the CSR sections are always present.
        var flag: Flags? {
            switch self {
            case .rowOffsets, .columns, .probabilities: nil
            case .kinds: .kinds
            case .uniformMass: .uniform
            case .labels: .labels
            }
        }

        func elementCount(stateCount n: Int, edgeCount m: Int) -> Int {
            switch self {
            case .rowOffsets: n + 1
            case .columns, .probabilities, .kinds: m
            case .uniformMass, .labels: n
            }
        }
    }

    /// Where one section lives in the file.
    struct Extent: Equatable {
        var offset: Int
        var size: Int
        static let absent = Extent(offset: 0, size: 0)
        var end: Int { offset + size }
    }

    /// The extent of every section (absent ones `.absent`) and the file size, for counts
    /// a caller has bounded so that nothing overflows (n < 2^31, m < 2^58).
    static func extents(stateCount n: Int, edgeCount m: Int, flags: Flags) -> (sections: [Extent], fileSize: Int) {
        var sections = [Extent]()
        var end = headerSize
        for section in Section.allCases {
            guard section.flag.map(flags.contains) ?? true else {
                sections.append(.absent)
                continue
            }
            let offset = (end + alignment - 1) / alignment * alignment
            let extent = Extent(offset: offset, size: section.elementCount(stateCount: n, edgeCount: m) * section.stride)
            sections.append(extent)
            end = extent.end
        }
        return (sections, end)
    }
}
