import CMetastableSupport

/// Writes a chain as a binary graph file (see `BinaryGraphLayout`).
///
/// The arrays are written as they are in memory: `Chain.rowOffsets` is `[Int]`, 64 bits on
/// every supported platform, so its bytes are the file's UInt64 offsets. Only the edge
/// kinds are converted. Checksums are computed first, because the header comes first.
enum BinaryGraphWriter {
    private static let chunkSize = 4 << 20

    static func encode<Failure>(_ chain: Chain, to sink: ([UInt8]) throws(Failure) -> Void) throws(Failure) {
        let kinds: [UInt8]? = chain.kinds.contains { $0 != .dense } ? chain.kinds.map(\.rawValue) : nil
        let labels = chain.clusters?.labels
        var flags = BinaryGraphLayout.Flags()
        if labels != nil { flags.insert(.labels) }
        if kinds != nil { flags.insert(.kinds) }
        if !chain.uniformMass.isEmpty { flags.insert(.uniform) }
        let (extents, fileSize) = BinaryGraphLayout.extents(stateCount: chain.stateCount, edgeCount: chain.entryCount, flags: flags)

        try withSectionBytes(chain, kinds: kinds, labels: labels) { (sections) throws(Failure) in
            var header = [UInt8](repeating: 0, count: BinaryGraphLayout.headerSize)
            header.withUnsafeMutableBytes { raw in
                raw.copyBytes(from: BinaryGraphLayout.magic)
                raw.storeBytes(of: BinaryGraphLayout.version, toByteOffset: BinaryGraphLayout.Field.version, as: UInt32.self)
                raw.storeBytes(of: BinaryGraphLayout.byteOrderMark, toByteOffset: BinaryGraphLayout.Field.byteOrderMark, as: UInt32.self)
                raw.storeBytes(of: UInt64(chain.stateCount), toByteOffset: BinaryGraphLayout.Field.stateCount, as: UInt64.self)
                raw.storeBytes(of: UInt64(chain.entryCount), toByteOffset: BinaryGraphLayout.Field.edgeCount, as: UInt64.self)
                raw.storeBytes(of: flags.rawValue, toByteOffset: BinaryGraphLayout.Field.flags, as: UInt64.self)
                raw.storeBytes(of: UInt64(fileSize), toByteOffset: BinaryGraphLayout.Field.fileSize, as: UInt64.self)
                for section in BinaryGraphLayout.Section.allCases {
                    let extent = extents[section.rawValue]
                    guard extent != .absent, let bytes = sections[section.rawValue] else { continue }
                    let checksum = ms_xxh64(bytes.baseAddress, bytes.count, 0)
                    raw.storeBytes(of: UInt64(extent.offset), toByteOffset: section.tableOffset, as: UInt64.self)
                    raw.storeBytes(of: UInt64(extent.size), toByteOffset: section.tableOffset + 8, as: UInt64.self)
                    raw.storeBytes(of: checksum, toByteOffset: section.tableOffset + 16, as: UInt64.self)
                }
                let checksum = ms_xxh64(raw.baseAddress, BinaryGraphLayout.checksumOffset, 0)
                raw.storeBytes(of: checksum, toByteOffset: BinaryGraphLayout.checksumOffset, as: UInt64.self)
            }
            try sink(header)
            var written = header.count
            for section in BinaryGraphLayout.Section.allCases {
                let extent = extents[section.rawValue]
                guard extent != .absent, let bytes = sections[section.rawValue] else { continue }
                if extent.offset > written { try sink([UInt8](repeating: 0, count: extent.offset - written)) }
                var start = 0
                while start < bytes.count {
                    let end = min(start + chunkSize, bytes.count)
                    try sink(Array(UnsafeRawBufferPointer(rebasing: bytes[start..<end])))
                    start = end
                }
                written = extent.end
            }
        }
    }

    /// Calls `body` with the bytes of each section, in `Section` order (nil when absent).
    private static func withSectionBytes<Failure>(
        _ chain: Chain, kinds: [UInt8]?, labels: [UInt32]?,
        _ body: ([UnsafeRawBufferPointer?]) throws(Failure) -> Void
    ) throws(Failure) {
        try chain.rowOffsets.withUnsafeBufferPointer { (offsets) throws(Failure) in
            try chain.columns.withUnsafeBufferPointer { (columns) throws(Failure) in
                try chain.probabilities.withUnsafeBufferPointer { (probabilities) throws(Failure) in
                    try withOptionalBytes(kinds) { (kinds) throws(Failure) in
                        try withOptionalBytes(chain.uniformMass.isEmpty ? nil : chain.uniformMass) { (uniform) throws(Failure) in
                            try withOptionalBytes(labels) { (labels) throws(Failure) in
                                try body([
                                    UnsafeRawBufferPointer(offsets), UnsafeRawBufferPointer(columns),
                                    UnsafeRawBufferPointer(probabilities), kinds, uniform, labels,
                                ])
                            }
                        }
                    }
                }
            }
        }
    }

    private static func withOptionalBytes<Element, Failure>(
        _ array: [Element]?, _ body: (UnsafeRawBufferPointer?) throws(Failure) -> Void
    ) throws(Failure) {
        guard let array else { return try body(nil) }
        try array.withUnsafeBufferPointer { (buffer) throws(Failure) in try body(UnsafeRawBufferPointer(buffer)) }
    }
}
