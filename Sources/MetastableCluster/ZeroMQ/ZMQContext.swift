internal import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A libzmq context: the I/O threads behind a process's sockets.
///
/// Contexts are thread-safe in libzmq, and `handle` never changes, hence the unchecked
/// `Sendable`. Every socket keeps its context alive, so the context is terminated (on
/// deinit) only after all its sockets are closed; with their LINGER 0 that is immediate.
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    public init() throws(ZMQError) {
        guard let handle = zmq_ctx_new() else { throw ZMQError.last("zmq_ctx_new") }
        self.handle = handle
    }

    deinit {
        // EINTR: a signal arrived while terminating; termination must still happen.
        while zmq_ctx_term(handle) != 0, zmq_errno() == EINTR {}
    }
}
