import CMetastableSupport

/// `count` elements from `ms_aligned_alloc`: 64-byte aligned, on transparent huge pages
/// when the block is 2 MiB or more. The memory is freed when the buffer goes away.
///
/// Kernels copy `base` into a local before their loops and never touch the class inside
/// them: a class access in a loop costs exclusivity checks, a raw pointer costs nothing.
@usableFromInline
final class AlignedBuffer<Element: BitwiseCopyable> {
    @usableFromInline let base: UnsafeMutablePointer<Element>
    @usableFromInline let count: Int

    /// Uninitialised memory; the caller writes every element before reading it.
    @usableFromInline
    init(uninitializedCount count: Int, hugePages: Bool = true) throws(WalkError) {
        precondition(count >= 0)
        let (bytes, overflow) = Swift.max(count, 1).multipliedReportingOverflow(by: MemoryLayout<Element>.stride)
        guard !overflow, let raw = ms_aligned_alloc(bytes, hugePages ? 1 : 0) else {
            throw WalkError(.outOfMemory, "could not allocate \(count) × \(MemoryLayout<Element>.stride) bytes")
        }
        base = raw.bindMemory(to: Element.self, capacity: Swift.max(count, 1))
        self.count = count
    }

    @usableFromInline
    convenience init(repeating value: Element, count: Int, hugePages: Bool = true) throws(WalkError) {
        try self.init(uninitializedCount: count, hugePages: hugePages)
        base.initialize(repeating: value, count: count)
    }

    @usableFromInline
    convenience init(_ elements: some Collection<Element>, hugePages: Bool = true) throws(WalkError) {
        try self.init(uninitializedCount: elements.count, hugePages: hugePages)
        _ = UnsafeMutableBufferPointer(start: base, count: count).initialize(fromContentsOf: elements)
    }

    /// The size of the block in bytes.
    var bytes: Int { count * MemoryLayout<Element>.stride }

    deinit { ms_aligned_free(base) }
}
