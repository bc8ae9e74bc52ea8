internal import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum ZMQSocketType: Sendable {
    case pair, pub, sub, req, rep, dealer, router, pull, push, xpub, xsub, stream

    var rawValue: Int32 {
        switch self {
        case .pair: ZMQ_PAIR
        case .pub: ZMQ_PUB
        case .sub: ZMQ_SUB
        case .req: ZMQ_REQ
        case .rep: ZMQ_REP
        case .dealer: ZMQ_DEALER
        case .router: ZMQ_ROUTER
        case .pull: ZMQ_PULL
        case .push: ZMQ_PUSH
        case .xpub: ZMQ_XPUB
        case .xsub: ZMQ_XSUB
        case .stream: ZMQ_STREAM
        }
    }
}

/// The socket options this project sets after creating a socket. LINGER (always 0) and
/// MAXMSGSIZE are set when the socket is made.
public enum ZMQSocketOption: Sendable {
    /// The timeout of `receive` calls that give none (ZMQ_RCVTIMEO).
    case receiveTimeout(Duration)
    /// The timeout of `send` calls that give none (ZMQ_SNDTIMEO).
    case sendTimeout(Duration)
    /// 1 to 255 bytes, the first not 0: how a ROUTER peer addresses this socket.
    case routingID([UInt8])
    /// A ROUTER's send to an unknown routing id fails with EHOSTUNREACH instead of
    /// silently dropping the message.
    case routerMandatory(Bool)
    /// ZMTP heartbeats: how often to ping, the time-to-live the peer is told, and how long
    /// to wait for any traffic before the connection is considered dead.
    case heartbeatInterval(Duration)
    case heartbeatTTL(Duration)
    case heartbeatTimeout(Duration)
    /// Reconnection back-off: the first delay, and the cap it doubles up to.
    case reconnectInterval(Duration)
    case reconnectIntervalMax(Duration)
    /// CURVE: a server sets `curveServer(true)` and its secret key; a client sets the
    /// server's public key and its own key pair.
    case curveServer(Bool)
    case curvePublicKey(ZMQCurveKey)
    case curveSecretKey(ZMQCurveKey)
    case curveServerKey(ZMQCurveKey)
    /// The ZAP domain that authentication requests name.
    case zapDomain(String)
}

/// A libzmq socket with multipart frames as `[[UInt8]]`, and a timeout on every call that
/// waits: nothing here can block forever.
///
/// libzmq sockets are not thread-safe: create and use each one on one thread (it is not
/// `Sendable`). LINGER is 0, so closing drops unsent messages instead of waiting for
/// peers that may never come; the socket closes on deinit.
public final class ZMQSocket {
    /// 64 MiB, the same as `WireCodec.maxMessageSize`.
    public static let defaultMaxMessageSize = Int64(WireCodec.maxMessageSize)
    /// The timeout of `send` and `receive` until set with `.sendTimeout` / `.receiveTimeout`.
    public static let defaultTimeout = Duration.seconds(1)

    public let type: ZMQSocketType
    /// Inbound messages (each frame) larger than this make libzmq drop the connection.
    public let maxMessageSize: Int64
    public private(set) var receiveTimeout = ZMQSocket.defaultTimeout
    public private(set) var sendTimeout = ZMQSocket.defaultTimeout

    // Closing the context waits for its sockets: hold it so that it outlives this one.
    private let context: ZMQContext
    private var handle: UnsafeMutableRawPointer?
    // The ZMQ_RCVTIMEO and ZMQ_SNDTIMEO now in force: a call with its own timeout sets
    // them, the next call with another one sets them again. -1 is libzmq's default.
    private var appliedReceiveTimeout: Int32 = -1
    private var appliedSendTimeout: Int32 = -1
    // zmq_msg_t keeps small messages inline and must not move while in use: one heap
    // slot, reused by every receive.
    private let frame: UnsafeMutablePointer<zmq_msg_t>

    public init(
        _ context: ZMQContext, type: ZMQSocketType, maxMessageSize: Int64 = ZMQSocket.defaultMaxMessageSize
    ) throws(ZMQError) {
        guard let handle = zmq_socket(context.handle, type.rawValue) else { throw ZMQError.last("zmq_socket") }
        self.context = context
        self.type = type
        self.maxMessageSize = maxMessageSize
        self.handle = handle
        frame = .allocate(capacity: 1)
        // From here on a throw runs deinit, which closes the socket.
        try set(ZMQ_LINGER, Int32(0), "ZMQ_LINGER")
        try set(ZMQ_MAXMSGSIZE, maxMessageSize, "ZMQ_MAXMSGSIZE")
        try set(.receiveTimeout(receiveTimeout))
        try set(.sendTimeout(sendTimeout))
    }

    deinit {
        close()
        frame.deallocate()
    }

    /// Closes the socket; later calls throw ENOTSOCK. Unsent messages are dropped.
    public func close() {
        guard let handle else { return }
        zmq_close(handle)
        self.handle = nil
    }

    public func bind(_ endpoint: String) throws(ZMQError) {
        guard zmq_bind(try open(), endpoint) == 0 else { throw ZMQError.last("zmq_bind(\(endpoint))") }
    }

    public func connect(_ endpoint: String) throws(ZMQError) {
        guard zmq_connect(try open(), endpoint) == 0 else { throw ZMQError.last("zmq_connect(\(endpoint))") }
    }

    /// The endpoint last bound or connected, with the port the system chose for
    /// `tcp://host:0` or `tcp://host:*`.
    public func lastEndpoint() throws(ZMQError) -> String {
        var buffer = [UInt8](repeating: 0, count: 1024)
        var size = buffer.count
        guard zmq_getsockopt(try open(), ZMQ_LAST_ENDPOINT, &buffer, &size) == 0 else {
            throw ZMQError.last("zmq_getsockopt(ZMQ_LAST_ENDPOINT)")
        }
        return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
    }

    public func set(_ option: ZMQSocketOption) throws(ZMQError) {
        switch option {
        case .receiveTimeout(let timeout):
            try apply(ZMQ_RCVTIMEO, timeout, &appliedReceiveTimeout, "ZMQ_RCVTIMEO")
            receiveTimeout = timeout
        case .sendTimeout(let timeout):
            try apply(ZMQ_SNDTIMEO, timeout, &appliedSendTimeout, "ZMQ_SNDTIMEO")
            sendTimeout = timeout
        case .routingID(let id):
            try set(ZMQ_ROUTING_ID, bytes: id, "ZMQ_ROUTING_ID")
        case .routerMandatory(let on):
            try set(ZMQ_ROUTER_MANDATORY, Int32(on ? 1 : 0), "ZMQ_ROUTER_MANDATORY")
        case .heartbeatInterval(let interval):
            try set(ZMQ_HEARTBEAT_IVL, interval.zmqMilliseconds, "ZMQ_HEARTBEAT_IVL")
        case .heartbeatTTL(let ttl):
            try set(ZMQ_HEARTBEAT_TTL, ttl.zmqMilliseconds, "ZMQ_HEARTBEAT_TTL")
        case .heartbeatTimeout(let timeout):
            try set(ZMQ_HEARTBEAT_TIMEOUT, timeout.zmqMilliseconds, "ZMQ_HEARTBEAT_TIMEOUT")
        case .reconnectInterval(let interval):
            try set(ZMQ_RECONNECT_IVL, interval.zmqMilliseconds, "ZMQ_RECONNECT_IVL")
        case .reconnectIntervalMax(let interval):
            try set(ZMQ_RECONNECT_IVL_MAX, interval.zmqMilliseconds, "ZMQ_RECONNECT_IVL_MAX")
        case .curveServer(let on):
            try set(ZMQ_CURVE_SERVER, Int32(on ? 1 : 0), "ZMQ_CURVE_SERVER")
        case .curvePublicKey(let key):
            try set(ZMQ_CURVE_PUBLICKEY, bytes: key.bytes, "ZMQ_CURVE_PUBLICKEY")
        case .curveSecretKey(let key):
            try set(ZMQ_CURVE_SECRETKEY, bytes: key.bytes, "ZMQ_CURVE_SECRETKEY")
        case .curveServerKey(let key):
            try set(ZMQ_CURVE_SERVERKEY, bytes: key.bytes, "ZMQ_CURVE_SERVERKEY")
        case .zapDomain(let domain):
            try set(ZMQ_ZAP_DOMAIN, bytes: Array(domain.utf8), "ZMQ_ZAP_DOMAIN")
        }
    }

    /// Sends one multipart message, waiting up to `timeout` (default `sendTimeout`) for
    /// room. A timeout throws EAGAIN (`isTimeout`); a ROUTER_MANDATORY send to an unknown
    /// peer throws EHOSTUNREACH.
    public func send(_ frames: [[UInt8]], timeout: Duration? = nil) throws(ZMQError) {
        let handle = try open()
        guard !frames.isEmpty else { throw ZMQError(code: EINVAL, operation: "zmq_send: no frames") }
        // libzmq itself waits, bounded by ZMQ_SNDTIMEO: it knows which peer the message
        // goes to (a ROUTER's addressee), which zmq_poll's POLLOUT cannot say.
        try apply(ZMQ_SNDTIMEO, timeout ?? sendTimeout, &appliedSendTimeout, "ZMQ_SNDTIMEO")
        for (index, frame) in frames.enumerated() {
            let flags = index < frames.count - 1 ? ZMQ_SNDMORE : 0
            while frame.withUnsafeBytes({ zmq_send(handle, $0.baseAddress, $0.count, flags) }) < 0 {
                let error = ZMQError.last("zmq_send")
                guard error.code == EINTR else { throw error }
            }
        }
    }

    /// Receives one multipart message, or nil when none arrives within `timeout` (default
    /// `receiveTimeout`).
    public func receive(timeout: Duration? = nil) throws(ZMQError) -> [[UInt8]]? {
        let handle = try open()
        try apply(ZMQ_RCVTIMEO, timeout ?? receiveTimeout, &appliedReceiveTimeout, "ZMQ_RCVTIMEO")
        var frames: [[UInt8]] = []
        var more = true
        while more {
            zmq_msg_init(frame)
            defer { zmq_msg_close(frame) }
            while zmq_msg_recv(frame, handle, 0) < 0 {
                let error = ZMQError.last("zmq_msg_recv")
                // Only the first frame can time out: the others arrive with it.
                if error.isTimeout, frames.isEmpty { return nil }
                guard error.code == EINTR else { throw error }
            }
            frames.append([UInt8](UnsafeRawBufferPointer(start: zmq_msg_data(frame), count: zmq_msg_size(frame))))
            more = zmq_msg_more(frame) != 0
        }
        return frames
    }

    /// The libzmq handle, for `ZMQPoller`; throws ENOTSOCK once closed.
    func open() throws(ZMQError) -> UnsafeMutableRawPointer {
        guard let handle else { throw ZMQError(code: ENOTSOCK, operation: "socket already closed") }
        return handle
    }

    /// Sets a timeout option for one call, unless it already has that value.
    private func apply(_ name: Int32, _ timeout: Duration, _ applied: inout Int32, _ label: String) throws(ZMQError) {
        let milliseconds = timeout.zmqMilliseconds
        guard milliseconds != applied else { return }
        try set(name, milliseconds, label)
        applied = milliseconds
    }

    private func set<Value: FixedWidthInteger>(_ name: Int32, _ value: Value, _ label: String) throws(ZMQError) {
        var value = value
        guard zmq_setsockopt(try open(), name, &value, MemoryLayout<Value>.size) == 0 else {
            throw ZMQError.last("zmq_setsockopt(\(label))")
        }
    }

    private func set(_ name: Int32, bytes: [UInt8], _ label: String) throws(ZMQError) {
        let handle = try open()
        let result = bytes.withUnsafeBytes { zmq_setsockopt(handle, name, $0.baseAddress, $0.count) }
        guard result == 0 else { throw ZMQError.last("zmq_setsockopt(\(label))") }
    }
}

@available(*, unavailable, message: "libzmq sockets are not thread-safe")
extension ZMQSocket: Sendable {}
