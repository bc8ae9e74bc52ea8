#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Walks a byte buffer line by line without copying, numbering lines from 1.
///
/// Chain files can hold tens of millions of lines, so nothing here allocates per line:
/// lines and fields are ranges into the one buffer holding the whole file.
struct LineReader {
    let bytes: UnsafeBufferPointer<UInt8>
    private var position: Int
    /// The number of the line last returned by `next()`, 0 before the first.
    private(set) var lineNumber = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        // A UTF-8 byte order mark, as some editors write, is not part of the first line.
        position = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
    }

    /// The next line without its terminator (`\n` or `\r\n`), or nil at the end of the input.
    mutating func next() -> Range<Int>? {
        guard position < bytes.count, let base = bytes.baseAddress else { return nil }
        lineNumber += 1
        let start = position
        var end = bytes.count
        if let newline = memchr(base + start, 0x0A, bytes.count - start) {
            end = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(newline))
        }
        position = end + 1
        if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return start..<end
    }

    /// The next line that is neither blank nor a comment starting with `commentMarker`
    /// (after leading blanks), trimmed of surrounding blanks.
    mutating func nextContent(commentMarker: UInt8) -> Range<Int>? {
        while let line = next() {
            let trimmed = bytes.trimmingBlanks(line)
            if !trimmed.isEmpty, bytes[trimmed.lowerBound] != commentMarker { return trimmed }
        }
        return nil
    }
}

extension UnsafeBufferPointer<UInt8> {
    @inline(__always)
    static func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }

    func trimmingBlanks(_ range: Range<Int>) -> Range<Int> {
        var lo = range.lowerBound, hi = range.upperBound
        while lo < hi, Self.isBlank(self[lo]) { lo += 1 }
        while hi > lo, Self.isBlank(self[hi - 1]) { hi -= 1 }
        return lo..<hi
    }

    /// Splits `line` at runs of blanks. Stops after `limit` fields: callers only need to
    /// know that a line has too many, and a hostile line may have millions.
    func splitBlanks(_ line: Range<Int>, limit: Int, into fields: inout [Range<Int>]) {
        fields.removeAll(keepingCapacity: true)
        var i = line.lowerBound
        while fields.count < limit {
            while i < line.upperBound, Self.isBlank(self[i]) { i += 1 }
            guard i < line.upperBound else { return }
            let start = i
            while i < line.upperBound, !Self.isBlank(self[i]) { i += 1 }
            fields.append(start..<i)
        }
    }

    /// Splits `line` at commas, trimming blanks around each field. Stops after `limit` fields.
    func splitCommas(_ line: Range<Int>, limit: Int, into fields: inout [Range<Int>]) {
        fields.removeAll(keepingCapacity: true)
        var start = line.lowerBound
        while fields.count < limit {
            var end = start
            while end < line.upperBound, self[end] != UInt8(ascii: ",") { end += 1 }
            fields.append(trimmingBlanks(start..<end))
            guard end < line.upperBound else { return }
            start = end + 1
        }
    }

    /// Whether the bytes in `range` equal `word`, ignoring ASCII case.
    func equalsIgnoringCase(_ range: Range<Int>, _ word: String) -> Bool {
        guard range.count == word.utf8.count else { return false }
        return zip(range, word.utf8).allSatisfy { i, c in asciiLowercased(self[i]) == asciiLowercased(c) }
    }

    /// A non-negative decimal integer made of digits only, or nil (also on overflow).
    func parseUnsigned(_ range: Range<Int>) -> Int? {
        guard !range.isEmpty else { return nil }
        var value = 0
        for i in range {
            let digit = Int(self[i]) &- 48
            guard digit >= 0, digit <= 9 else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(digit)
            guard !o1, !o2 else { return nil }
            value = sum
        }
        return value
    }

    /// Whether `range` is an optionally signed run of digits.
    func isSignedInteger(_ range: Range<Int>) -> Bool {
        var digits = range
        if let first = range.first, self[first] == UInt8(ascii: "+") || self[first] == UInt8(ascii: "-") {
            digits = range.dropFirst()
        }
        return !digits.isEmpty && digits.allSatisfy { self[$0] &- 48 <= 9 }
    }

    /// A decimal floating-point number, or nil if `range` is not one. Accepts what
    /// `Double(String)` accepts, including "nan" and "inf": callers check finiteness so they
    /// can say why a value is rejected.
    func parseDouble(_ range: Range<Int>) -> Double? {
        if let value = fastDecimal(range) { return value }
        // The standard library parses a C string, so it would read "1\0x" as 1.
        guard !self[range].contains(0) else { return nil }
        return Double(String(decoding: self[range], as: UTF8.self))
    }

    /// Clinger's fast path: when the significand fits in 53 bits and the power of ten is
    /// exact (|e| <= 22), one IEEE multiply or divide rounds correctly. That covers what
    /// scipy and this package write for most values, with no allocation; everything else
    /// goes to the standard library's correctly rounded parser.
    private func fastDecimal(_ range: Range<Int>) -> Double? {
        var i = range.lowerBound
        let end = range.upperBound
        var negative = false
        if i < end, self[i] == UInt8(ascii: "-") || self[i] == UInt8(ascii: "+") {
            negative = self[i] == UInt8(ascii: "-")
            i += 1
        }
        var significand: UInt64 = 0
        var significantDigits = 0
        var exponent = 0
        var sawDigit = false
        var sawPoint = false
        while i < end {
            let byte = self[i]
            if byte == UInt8(ascii: ".") {
                guard !sawPoint else { return nil }
                sawPoint = true
            } else if byte &- 48 <= 9 {
                sawDigit = true
                if significand != 0 || byte != UInt8(ascii: "0") {
                    guard significantDigits < 19 else { return nil }
                    significand = significand * 10 + UInt64(byte &- 48)
                    significantDigits += 1
                }
                if sawPoint { exponent -= 1 }
            } else {
                break
            }
            i += 1
        }
        guard sawDigit else { return nil }
        if i < end {
            guard self[i] == UInt8(ascii: "e") || self[i] == UInt8(ascii: "E") else { return nil }
            i += 1
            var exponentNegative = false
            if i < end, self[i] == UInt8(ascii: "-") || self[i] == UInt8(ascii: "+") {
                exponentNegative = self[i] == UInt8(ascii: "-")
                i += 1
            }
            guard i < end, let written = parseUnsigned(i..<end), written <= 1_000 else { return nil }
            exponent += exponentNegative ? -written : written
        }
        let magnitude: Double
        if significand == 0 {
            magnitude = 0
        } else {
            guard significand <= 1 << 53, (-22...22).contains(exponent) else { return nil }
            let power = exactPowersOfTen[abs(exponent)]
            magnitude = exponent < 0 ? Double(significand) / power : Double(significand) * power
        }
        return negative ? -magnitude : magnitude
    }

    /// The bytes in `range` as a quoted string for an error message, cut short if long.
    func quoted(_ range: Range<Int>) -> String {
        let shown = range.prefix(60)
        let text = String(decoding: self[shown], as: UTF8.self)
        return "\"" + text + (shown.count < range.count ? "…" : "") + "\""
    }

    func text(_ range: Range<Int>) -> String { String(decoding: self[range], as: UTF8.self) }
}

@inline(__always)
func asciiLowercased(_ byte: UInt8) -> UInt8 {
    byte &- 65 < 26 ? byte | 0x20 : byte
}

/// 10^0 ... 10^22, every one exactly representable as a Double.
private let exactPowersOfTen: [Double] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
]
