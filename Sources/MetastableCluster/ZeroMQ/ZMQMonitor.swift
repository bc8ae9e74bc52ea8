internal import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The connection events of one socket (zmq_socket_monitor), read from a PAIR socket.
///
/// The only way a ZeroMQ client learns why a handshake failed: a CURVE server that refuses
/// the client's key (its ZAP handler says 400) sends nothing the application can receive.
/// Like every socket, a monitor belongs to one thread; add `socket` to a `ZMQPoller`.
public final class ZMQMonitor {
    public struct Events: OptionSet, Sendable, Hashable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        public static let connected = Events(rawValue: ZMQ_EVENT_CONNECTED)
        public static let disconnected = Events(rawValue: ZMQ_EVENT_DISCONNECTED)
        public static let handshakeSucceeded = Events(rawValue: ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
        /// The peer closed or the connection broke during the handshake (value: an errno),
        /// e.g. a CURVE client that has the wrong server key.
        public static let handshakeFailedNoDetail = Events(rawValue: ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        /// The peers do not speak the same ZMTP (value: a ZMQ_PROTOCOL_ERROR_* code).
        public static let handshakeFailedProtocol = Events(rawValue: ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        /// The server's ZAP handler refused this peer (value: its status code, e.g. 400).
        public static let handshakeFailedAuth = Events(rawValue: ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
    }

    public struct Event: Sendable, Equatable {
        /// Exactly one of `Events`.
        public var kind: Events
        public var value: UInt32
        /// The endpoint the event is about.
        public var endpoint: String
    }

    /// The PAIR socket the events arrive on.
    public let socket: ZMQSocket

    /// Starts monitoring `events` of `watched`, published on `endpoint` (an inproc address
    /// unique within `context`). Call before `watched` connects, or early events are missed.
    /// Monitoring ends when `watched` closes.
    public init(_ context: ZMQContext, watching watched: ZMQSocket, events: Events, endpoint: String) throws(ZMQError) {
        guard zmq_socket_monitor(try watched.open(), endpoint, events.rawValue) == 0 else {
            throw ZMQError.last("zmq_socket_monitor(\(endpoint))")
        }
        socket = try ZMQSocket(context, type: .pair)
        try socket.connect(endpoint)
    }

    /// The next event, or nil when none arrives within `timeout`.
    public func receive(timeout: Duration) throws(ZMQError) -> Event? {
        guard let frames = try socket.receive(timeout: timeout) else { return nil }
        // libzmq 4.x: a 6-byte frame (event: UInt16, value: UInt32, native byte order),
        // then the endpoint.
        guard frames.count == 2, frames[0].count == 6 else {
            throw ZMQError(code: EPROTO, operation: "zmq_socket_monitor: an event of \(frames.count) frames")
        }
        let (kind, value) = frames[0].withUnsafeBytes {
            ($0.loadUnaligned(as: UInt16.self), $0.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        }
        return Event(
            kind: Events(rawValue: Int32(kind)), value: value, endpoint: String(decoding: frames[1], as: UTF8.self))
    }

    public func close() {
        socket.close()
    }
}

@available(*, unavailable, message: "libzmq sockets are not thread-safe")
extension ZMQMonitor: Sendable {}
