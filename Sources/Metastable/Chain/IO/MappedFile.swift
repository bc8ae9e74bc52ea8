#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only, for binary graphs: the reader validates the pages in
/// place, and only what a `Chain` keeps is copied. The mapping ends with `withBytes`.
enum MappedFile {
    static func withBytes<R>(
        atPath path: String, _ body: (UnsafeRawBufferPointer) throws(ChainError) -> R
    ) throws(ChainError) -> R {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ioError("cannot open", path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ioError("cannot stat", path) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw ChainError(.io, "not a regular file: a binary graph is memory-mapped", file: path)
        }
        let size = Int(info.st_size)
        // mmap rejects empty mappings; an empty file is still read, and rejected by its size.
        guard size > 0 else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let address, address != MAP_FAILED else { throw ioError("cannot map", path) }
        defer { munmap(address, size) }
        _ = madvise(address, size, MADV_SEQUENTIAL)
        return try body(UnsafeRawBufferPointer(start: address, count: size))
    }

    private static func ioError(_ what: String, _ path: String) -> ChainError {
        ChainError(.io, "\(what): \(String(cString: strerror(errno)))", file: path)
    }
}
