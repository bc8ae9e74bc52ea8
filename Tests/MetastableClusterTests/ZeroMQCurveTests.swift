import MetastableCluster
import Testing

@Suite("ZeroMQ: CURVE")
struct ZeroMQCurveTests {
    @Test func keyPairsRoundTripThroughZ85() throws {
        let pair = try ZMQCurve.keyPair()
        #expect(pair.publicKey != pair.secretKey)
        for key in [pair.publicKey, pair.secretKey] {
            #expect(key.bytes.count == 32 && key.z85.utf8.count == 40)
            #expect(ZMQCurveKey(z85: key.z85) == key)
            #expect(ZMQCurveKey(bytes: key.bytes) == key)
        }
        #expect(try ZMQCurve.keyPair() != pair)
    }

    @Test func z85MatchesTheSpecification() {
        // The test vector of ZeroMQ RFC 32/Z85.
        let bytes: [UInt8] = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]
        #expect(ZMQCurve.z85Encode(bytes) == "HelloWorld")
        #expect(ZMQCurve.z85Decode("HelloWorld") == bytes)
        #expect(ZMQCurve.z85Encode([]) == "" && ZMQCurve.z85Decode("") == [])

        #expect(ZMQCurve.z85Encode([1, 2, 3]) == nil) // not a multiple of 4
        // Wrong lengths, a NUL, a space, a character outside the alphabet, a value above
        // 2^32, non-ASCII.
        for bad in ["HelloWorl", "Hello\u{0}orld", "Hello Worl", "Hello~orld", "%%%%%", "HelloWörld"] {
            #expect(ZMQCurve.z85Decode(bad) == nil, "\(bad)")
        }
        #expect(ZMQCurveKey(bytes: [1, 2]) == nil && ZMQCurveKey(z85: "HelloWorld") == nil)
    }

    @Test func curveDealerTalksToCurveRouter() throws {
        let context = try ZMQContext()
        let serverKeys = try ZMQCurve.keyPair(), clientKeys = try ZMQCurve.keyPair()

        let router = try ZMQSocket(context, type: .router)
        try router.set(.curveServer(true))
        try router.set(.curveSecretKey(serverKeys.secretKey))
        try router.bind("tcp://127.0.0.1:0")
        let endpoint = try router.lastEndpoint()

        let dealer = try ZMQSocket(context, type: .dealer)
        try dealer.set(.curveServerKey(serverKeys.publicKey))
        try dealer.set(.curvePublicKey(clientKeys.publicKey))
        try dealer.set(.curveSecretKey(clientKeys.secretKey))
        try dealer.connect(endpoint)

        try dealer.send([Array("sealed".utf8)], timeout: .seconds(5))
        let received = try #require(try router.receive(timeout: .seconds(5)))
        #expect(received.last == Array("sealed".utf8))
        try router.send([received[0], Array("ack".utf8)], timeout: .seconds(5))
        #expect(try dealer.receive(timeout: .seconds(5)) == [Array("ack".utf8)])

        // A client that expects another server key never completes the handshake.
        let impostor = try ZMQSocket(context, type: .dealer)
        try impostor.set(.curveServerKey(clientKeys.publicKey))
        try impostor.set(.curvePublicKey(clientKeys.publicKey))
        try impostor.set(.curveSecretKey(clientKeys.secretKey))
        try impostor.connect(endpoint)
        try impostor.send([Array("forged".utf8)], timeout: .seconds(1))
        #expect(try router.receive(timeout: .milliseconds(500)) == nil)
    }
}
