import Foundation

/// CURVE keys on disk: `NAME.key` holds a secret key and `NAME.pub` its public key, each as
/// one line of 40 Z85 characters. A coordinator admits the workers whose `.pub` files are
/// in its authorized-keys directory.
public enum CurveKeyFiles {
    /// Writes a new key pair as DIR/NAME.key (mode 0600) and DIR/NAME.pub; returns the pair.
    public static func generate(in directory: String, name: String) throws -> ZMQCurve.KeyPair {
        guard !name.isEmpty, !name.contains("/") else { throw CoordinatorError("keygen: '\(name)' is not a file name") }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let pair = try ZMQCurve.keyPair()
        let secretPath = (directory as NSString).appendingPathComponent("\(name).key")
        let publicPath = (directory as NSString).appendingPathComponent("\(name).pub")
        for path in [secretPath, publicPath] where FileManager.default.fileExists(atPath: path) {
            throw CoordinatorError("keygen: \(path) exists; refusing to overwrite a key")
        }
        guard FileManager.default.createFile(
            atPath: secretPath, contents: Data((pair.secretKey.z85 + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else { throw CoordinatorError("keygen: cannot write \(secretPath)") }
        try Data((pair.publicKey.z85 + "\n").utf8).write(to: URL(fileURLWithPath: publicPath))
        return pair
    }

    /// The key pair of a secret-key file (the public half is derived from the secret).
    public static func readSecret(_ path: String) throws -> ZMQCurve.KeyPair {
        let secret = try readKey(path)
        return ZMQCurve.KeyPair(publicKey: try ZMQCurve.publicKey(for: secret), secretKey: secret)
    }

    /// One key: a file whose first line is 40 Z85 characters.
    public static func readKey(_ path: String) throws -> ZMQCurveKey {
        guard let data = FileManager.default.contents(atPath: path) else { throw CoordinatorError("cannot read the key file \(path)") }
        let line = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        guard let key = ZMQCurveKey(z85: line.trimmingCharacters(in: .whitespaces)) else {
            throw CoordinatorError("\(path): line 1 is not a CURVE key (40 Z85 characters)")
        }
        return key
    }

    /// Every DIR/*.pub key. An empty directory is an error: it would admit nobody.
    public static func readAuthorized(_ directory: String) throws -> Set<ZMQCurveKey> {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw CoordinatorError("cannot read the authorized-keys directory \(directory)")
        }
        var keys = Set<ZMQCurveKey>()
        for name in names.sorted() where name.hasSuffix(".pub") {
            keys.insert(try readKey((directory as NSString).appendingPathComponent(name)))
        }
        guard !keys.isEmpty else { throw CoordinatorError("\(directory) holds no .pub keys: no worker could join") }
        return keys
    }
}
