/// Cluster label files: line i holds the cluster of state i, a non-negative integer.
/// Blank lines and lines starting with `#` are skipped.
enum LabelsFile {
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, file: String, stateCount: Int) throws(ChainError) -> ClusterLabels {
        var lines = LineReader(bytes)
        var labels = [UInt32]()
        // `stateCount` is bounded by the chain file's size, so this is safe to reserve.
        labels.reserveCapacity(stateCount)
        while let line = lines.nextContent(commentMarker: UInt8(ascii: "#")) {
            do throws(ChainError) {
                guard labels.count < stateCount else {
                    throw ChainError(.badCount, "more labels than the chain's \(stateCount) states: \(bytes.quoted(line))")
                }
                guard let label = bytes.parseUnsigned(line) else {
                    throw ChainError(.badLabel, "label \(bytes.quoted(line)) of state \(labels.count) is not a non-negative integer")
                }
                // Checked here, not only by `ClusterLabels`, which allocates per cluster up
                // to the largest label.
                guard label < stateCount else {
                    throw ChainError(.badLabel, "label \(bytes.quoted(line)) of state \(labels.count) is out of range: \(stateCount) states have at most \(stateCount) clusters, 0..<\(stateCount)")
                }
                labels.append(UInt32(label))
            } catch {
                throw error.located(file: file, line: lines.lineNumber)
            }
        }
        guard labels.count == stateCount else {
            throw ChainError(
                .badCount, "the file ends after \(labels.count) labels, but the chain has \(stateCount) states",
                file: file, line: max(lines.lineNumber, 1))
        }
        do {
            return try ClusterLabels(labels: labels)
        } catch {
            throw error.located(file: file)
        }
    }

    static func encode<Failure>(_ clusters: ClusterLabels, to sink: ([UInt8]) throws(Failure) -> Void) throws(Failure) {
        var out = ChunkedOutput()
        for label in clusters.labels {
            out.append(Int(label))
            out.endLine()
            try out.flushIfFull(sink)
        }
        try out.flush(sink)
    }
}
