import Foundation
import MetastableCluster
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("ZeroMQ")
struct ZeroMQTests {
    enum Transport: String, CaseIterable, Sendable {
        case inproc, ipc, tcp
    }

    @Test(arguments: Transport.allCases)
    func routerAndDealerExchangeMultipartMessages(over transport: Transport) throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, type: .router)
        let dealer = try ZMQSocket(context, type: .dealer)
        let scratch = try TemporaryDirectory()

        let endpoint: String
        switch transport {
        case .inproc: endpoint = "inproc://router-\(UUID().uuidString)"
        case .ipc: endpoint = "ipc://\(scratch.path)/coordinator.ipc"
        case .tcp: endpoint = "tcp://127.0.0.1:0"
        }
        try router.bind(endpoint)
        let bound = try router.lastEndpoint()
        if transport == .tcp {
            let port = try #require(Int(bound.split(separator: ":").last ?? ""))
            #expect(bound.hasPrefix("tcp://127.0.0.1:") && port > 0)
        } else {
            #expect(bound == endpoint)
        }
        try dealer.set(.routingID(Array("worker-1".utf8)))
        try dealer.connect(bound)

        // A real envelope over the wire, with an empty frame and a large one beside it.
        let hello = WireEnvelope(runID: "", message: WireFixtures.messages[0].1)
        let large = [UInt8](repeating: 7, count: 1 << 20)
        try dealer.send([WireCodec.encode(hello), [], large], timeout: .seconds(5))
        let received = try #require(try router.receive(timeout: .seconds(5)))
        #expect(received.count == 4)
        #expect(received[0] == Array("worker-1".utf8))
        #expect(try WireCodec.decode(received[1]) == hello)
        #expect(received[2].isEmpty && received[3] == large)

        try router.send([received[0], Array("welcome".utf8)], timeout: .seconds(5))
        #expect(try dealer.receive(timeout: .seconds(5)) == [Array("welcome".utf8)])
    }

    @Test func receiveGivesUpAfterItsTimeout() throws {
        let context = try ZMQContext()
        let dealer = try ZMQSocket(context, type: .dealer)
        try dealer.connect("tcp://127.0.0.1:1") // nobody there
        let clock = ContinuousClock()
        let start = clock.now
        #expect(try dealer.receive(timeout: .milliseconds(150)) == nil)
        let waited = start.duration(to: clock.now)
        #expect(waited >= .milliseconds(150) && waited < .seconds(2))

        // The default timeout, as set by option.
        try dealer.set(.receiveTimeout(.milliseconds(20)))
        #expect(dealer.receiveTimeout == .milliseconds(20))
        #expect(try dealer.receive() == nil)
        #expect(try dealer.receive(timeout: .zero) == nil)
    }

    @Test func sendWithNoPeerTimesOut() throws {
        let context = try ZMQContext()
        let dealer = try ZMQSocket(context, type: .dealer) // not connected: nowhere to queue
        let error = try #require(throws: ZMQError.self) { try dealer.send([[1]], timeout: .milliseconds(50)) }
        #expect(error.isTimeout)
    }

    @Test func mandatoryRoutingRefusesUnknownPeers() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, type: .router)
        try router.set(.routerMandatory(true))
        try router.bind("inproc://mandatory-\(UUID().uuidString)")
        let error = try #require(throws: ZMQError.self) { try router.send([Array("ghost".utf8), [1]]) }
        #expect(error.code == EHOSTUNREACH)
        #expect(!error.message.isEmpty && error.description.contains("zmq_send"))
    }

    @Test func oversizedMessagesAreDroppedWithTheirConnection() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, type: .router, maxMessageSize: 1024)
        let dealer = try ZMQSocket(context, type: .dealer)
        try router.bind("tcp://127.0.0.1:0")
        try dealer.set(.reconnectInterval(.milliseconds(10)))
        try dealer.connect(try router.lastEndpoint())

        try dealer.send([[UInt8](repeating: 1, count: 4096)])
        #expect(try router.receive(timeout: .milliseconds(300)) == nil)

        // The dealer reconnects, and messages within the limit get through again.
        var delivered: [[UInt8]]?
        for attempt in 0..<50 where delivered == nil {
            try dealer.send([[UInt8(attempt)]])
            delivered = try router.receive(timeout: .milliseconds(100))
        }
        #expect(delivered?.last?.count == 1)
    }

    @Test func pollerReportsWhichSocketIsReady() throws {
        let context = try ZMQContext()
        let endpoint = "inproc://poller-\(UUID().uuidString)"
        let a = try ZMQSocket(context, type: .pair), b = try ZMQSocket(context, type: .pair)
        let idle = try ZMQSocket(context, type: .dealer)
        try a.bind(endpoint)
        try b.connect(endpoint)

        var poller = ZMQPoller()
        let aIndex = poller.add(a), idleIndex = poller.add(idle)
        let writable = poller.add(b, for: .writable)
        #expect(try poller.poll(timeout: .milliseconds(50)) == [[], [], .writable])

        try b.send([[42]])
        let ready = try poller.poll(timeout: .seconds(5))
        #expect(ready[aIndex] == .readable && ready[idleIndex] == [] && ready[writable] == .writable)
        #expect(try a.receive(timeout: .zero) == [[42]])

        var quiet = ZMQPoller()
        quiet.add(idle)
        let clock = ContinuousClock(), start = clock.now
        #expect(try quiet.poll(timeout: .milliseconds(100)) == [[]])
        #expect(start.duration(to: clock.now) >= .milliseconds(100))

        idle.close()
        #expect(throws: ZMQError.self) { try quiet.poll(timeout: .zero) }
        #expect(throws: ZMQError.self) { try idle.receive(timeout: .zero) }
        idle.close() // twice is fine
    }

    @Test func everyOptionCanBeSet() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, type: .router)
        let keys = try ZMQCurve.keyPair(), server = try ZMQCurve.keyPair()
        let options: [ZMQSocketOption] = [
            .receiveTimeout(.milliseconds(250)), .sendTimeout(.milliseconds(250)), .routingID([1, 2, 3]),
            .routerMandatory(true), .heartbeatInterval(.seconds(1)), .heartbeatTTL(.seconds(3)),
            .heartbeatTimeout(.seconds(3)), .reconnectInterval(.milliseconds(100)), .reconnectIntervalMax(.seconds(5)),
            .curvePublicKey(keys.publicKey), .curveSecretKey(keys.secretKey), .curveServerKey(server.publicKey),
            .curveServer(true), .zapDomain("metastable"),
        ]
        for option in options { try socket.set(option) }
        #expect(socket.sendTimeout == .milliseconds(250))
        // libzmq's own range checks surface as errors, not traps.
        #expect(throws: ZMQError.self) { try socket.set(.routingID([])) }
        #expect(throws: ZMQError.self) { try socket.bind("nonsense://") }
    }
}

/// A fresh directory, removed on deinit; short, since ipc:// paths are limited to ~100 bytes.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = "/tmp/ms-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
