internal import CZeroMQ

/// A CURVE key (Curve25519): 32 bytes, written as 40 Z85 characters in files and logs.
public struct ZMQCurveKey: Sendable, Hashable {
    public let bytes: [UInt8]

    /// Nil unless `bytes` has 32 bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    /// Nil unless `z85` is 40 valid Z85 characters.
    public init?(z85: String) {
        guard let bytes = ZMQCurve.z85Decode(z85) else { return nil }
        self.init(bytes: bytes)
    }

    public var z85: String { ZMQCurve.z85Encode(bytes)! } // 32 is a multiple of 4
}

public enum ZMQCurve {
    public struct KeyPair: Sendable, Hashable {
        public var publicKey: ZMQCurveKey
        public var secretKey: ZMQCurveKey
    }

    /// A new random key pair (zmq_curve_keypair). Throws ENOTSUP when libzmq was built
    /// without CURVE.
    public static func keyPair() throws(ZMQError) -> KeyPair {
        var publicText = [CChar](repeating: 0, count: 41), secretText = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicText, &secretText) == 0 else { throw ZMQError.last("zmq_curve_keypair") }
        func key(_ text: [CChar]) -> ZMQCurveKey? {
            ZMQCurveKey(z85: String(decoding: text.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        guard let publicKey = key(publicText), let secretKey = key(secretText) else {
            throw ZMQError(code: EPROTO, operation: "zmq_curve_keypair returned keys that are not Z85")
        }
        return KeyPair(publicKey: publicKey, secretKey: secretKey)
    }

    /// The public key that goes with `secretKey` (zmq_curve_public), so that a key file
    /// needs to hold only the secret.
    public static func publicKey(for secretKey: ZMQCurveKey) throws(ZMQError) -> ZMQCurveKey {
        var publicText = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicText, secretKey.z85) == 0 else { throw ZMQError.last("zmq_curve_public") }
        guard let key = ZMQCurveKey(z85: String(decoding: publicText.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)) else {
            throw ZMQError(code: EPROTO, operation: "zmq_curve_public returned a key that is not Z85")
        }
        return key
    }

    /// Z85 text for `bytes` (zmq_z85_encode), or nil unless the count is a multiple of 4.
    public static func z85Encode(_ bytes: [UInt8]) -> String? {
        guard bytes.count % 4 == 0 else { return nil }
        var text = [CChar](repeating: 0, count: bytes.count / 4 * 5 + 1)
        guard zmq_z85_encode(&text, bytes, bytes.count) != nil else { return nil }
        return String(decoding: text.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The bytes Z85 `text` stands for (zmq_z85_decode), or nil unless its length is a
    /// multiple of 5 and it holds only Z85 characters that encode 32-bit values.
    public static func z85Decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 5 == 0 else { return nil }
        guard !characters.isEmpty else { return [] }
        // libzmq reads a C string: a NUL inside would cut it short.
        guard characters.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        var bytes = [UInt8](repeating: 0, count: characters.count / 5 * 4)
        guard zmq_z85_decode(&bytes, text) != nil else { return nil }
        return bytes
    }
}
