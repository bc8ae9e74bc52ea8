internal import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed libzmq call: the errno it reported and what was being done.
public struct ZMQError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The errno value (POSIX, or one of libzmq's own such as ETERM).
    public var code: Int32
    /// The call that failed, e.g. `zmq_bind(tcp://127.0.0.1:0)`.
    public var operation: String

    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    /// zmq_strerror's text for `code`.
    public var message: String { String(cString: zmq_strerror(code)) }

    /// Whether the call timed out or would have blocked (EAGAIN).
    public var isTimeout: Bool { code == EAGAIN }

    public var description: String { "\(operation): \(message) (errno \(code))" }

    /// The error of the libzmq call that just failed. Call it first thing after the
    /// failure: errno belongs to the thread, and the next call may change it.
    static func last(_ operation: @autoclosure () -> String) -> ZMQError {
        let code = zmq_errno()
        return ZMQError(code: code, operation: operation())
    }
}

extension Duration {
    /// Whole milliseconds for libzmq, rounded up so that a wait never ends early, and
    /// clamped to 0...Int32.max: negative means "now", and nothing waits forever.
    var zmqMilliseconds: Int32 {
        guard self > .zero else { return 0 }
        let (seconds, attoseconds) = components
        guard seconds < Int64(Int32.max / 1000) else { return Int32.max }
        let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(Swift.min(milliseconds, Int64(Int32.max)))
    }
}
