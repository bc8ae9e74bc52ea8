internal import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Waits on several sockets at once with zmq_poll (libzmq 4.3's stable API has no
/// zmq_poller), always with a timeout.
///
/// Holds its sockets, and like them belongs to one thread.
public struct ZMQPoller {
    public struct Events: OptionSet, Sendable {
        public let rawValue: Int16
        public init(rawValue: Int16) { self.rawValue = rawValue }

        /// A whole message can be received without waiting.
        public static let readable = Events(rawValue: Int16(ZMQ_POLLIN))
        /// A message can be sent without waiting.
        public static let writable = Events(rawValue: Int16(ZMQ_POLLOUT))
    }

    private enum Source {
        case socket(ZMQSocket)
        /// A plain file descriptor, e.g. a pipe other threads write to in order to wake the poll.
        case file(Int32)
    }

    private var sources: [(source: Source, events: Events)] = []

    public init() {}

    /// Adds `socket`, to wait for `events`; returns its index in `poll`'s answer.
    @discardableResult
    public mutating func add(_ socket: ZMQSocket, for events: Events = .readable) -> Int {
        sources.append((.socket(socket), events))
        return sources.count - 1
    }

    /// Adds a file descriptor, to wait for `events`; returns its index in `poll`'s answer.
    @discardableResult
    public mutating func add(fileDescriptor: Int32, for events: Events = .readable) -> Int {
        sources.append((.file(fileDescriptor), events))
        return sources.count - 1
    }

    /// Waits up to `timeout` for any of the sockets to be ready. Returns, for each socket
    /// in the order added, which of its events are ready (all empty on timeout). Throws
    /// ENOTSOCK when one of the sockets was closed.
    public func poll(timeout: Duration) throws(ZMQError) -> [Events] {
        // Built on each call from open sockets only: a closed socket's handle is freed memory.
        var items: [zmq_pollitem_t] = []
        items.reserveCapacity(sources.count)
        for (source, events) in sources {
            switch source {
            case .socket(let socket):
                items.append(zmq_pollitem_t(socket: try socket.open(), fd: 0, events: events.rawValue, revents: 0))
            case .file(let fd):
                items.append(zmq_pollitem_t(socket: nil, fd: fd, events: events.rawValue, revents: 0))
            }
        }
        guard try zmqPoll(&items, timeout: timeout) > 0 else { return Array(repeating: [], count: items.count) }
        return items.map { Events(rawValue: $0.revents).intersection([.readable, .writable]) }
    }
}

@available(*, unavailable, message: "libzmq sockets are not thread-safe")
extension ZMQPoller: Sendable {}

/// zmq_poll for at most `timeout`, resumed after signals (EINTR) with the time left.
/// Returns how many items are ready.
private func zmqPoll(_ items: inout [zmq_pollitem_t], timeout: Duration) throws(ZMQError) -> Int {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: .milliseconds(timeout.zmqMilliseconds))
    while true {
        let ready = zmq_poll(&items, Int32(items.count), Int(clock.now.duration(to: deadline).zmqMilliseconds))
        if ready >= 0 { return Int(ready) }
        let error = ZMQError.last("zmq_poll")
        guard error.code == EINTR else { throw error }
    }
}
