#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file reads and chunked writes with POSIX calls, so that failures carry the
/// system's reason ("No such file or directory", "Is a directory", ...).
enum FileBytes {
    private static let chunkSize = 4 << 20

    static func contents(atPath path: String) throws(ChainError) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ioError("cannot open", path) }
        defer { close(fd) }
        var info = stat()
        var bytes = [UInt8]()
        if fstat(fd, &info) == 0, info.st_size > 0 { bytes.reserveCapacity(Int(info.st_size)) }
        // Reading until end of file rather than trusting the size serves pipes and files
        // that change while being read.
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count == 0 { return bytes }
            if count < 0 {
                if errno == EINTR { continue }
                throw ioError("cannot read", path)
            }
            bytes.append(contentsOf: chunk[..<count])
        }
    }

    /// Creates or truncates `path` and lets `produce` write to it through `sink`.
    static func create(
        atPath path: String,
        _ produce: (_ sink: ([UInt8]) throws(ChainError) -> Void) throws(ChainError) -> Void
    ) throws(ChainError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw ioError("cannot create", path) }
        do {
            try produce { (chunk: [UInt8]) throws(ChainError) in
                var done = 0
                while done < chunk.count {
                    let count = chunk.withUnsafeBytes { all in
                        let rest = UnsafeRawBufferPointer(rebasing: all[done...])
                        return write(fd, rest.baseAddress, rest.count)
                    }
                    if count < 0 {
                        if errno == EINTR { continue }
                        throw ioError("cannot write", path)
                    }
                    done += count
                }
            }
        } catch {
            close(fd)
            throw error
        }
        // Some file systems report a failed write only at close.
        guard close(fd) == 0 else { throw ioError("cannot write", path) }
    }

    private static func ioError(_ what: String, _ path: String) -> ChainError {
        ChainError(.io, "\(what): \(String(cString: strerror(errno)))", file: path)
    }
}

/// Text output built in chunks: encoders append lines here, and each full chunk goes to a
/// sink (a file, or the bytes of a string) so a large chain is never all in memory as text.
struct ChunkedOutput {
    private static var chunkSize: Int { 1 << 20 }
    private var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(Self.chunkSize) }

    mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    mutating func append(_ value: Int) { append(String(value)) }

    /// The shortest decimal that reads back as exactly `value` (Swift's `description`).
    mutating func append(_ value: Double) { append(value.description) }

    mutating func append(byte: UInt8) { bytes.append(byte) }

    mutating func endLine() { bytes.append(UInt8(ascii: "\n")) }

    /// Hands the chunk to `sink` if it is full. Encoders call this between rows, so a
    /// chunk may exceed the size by one row.
    mutating func flushIfFull<Failure>(_ sink: ([UInt8]) throws(Failure) -> Void) throws(Failure) {
        if bytes.count >= Self.chunkSize { try flush(sink) }
    }

    mutating func flush<Failure>(_ sink: ([UInt8]) throws(Failure) -> Void) throws(Failure) {
        guard !bytes.isEmpty else { return }
        try sink(bytes)
        bytes.removeAll(keepingCapacity: true)
    }
}
