/// Why bytes received from a peer were refused: what is wrong, and in which field.
public struct WireError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        /// Larger than the decoder's limit.
        case tooLarge
        /// Not a protobuf `Envelope` at all.
        case malformed
        /// A protocol version other than `WireEnvelope.currentVersion`.
        case unsupportedVersion
        /// No verb set (or one this version does not know).
        case missingVerb
        /// A field is missing, out of range, too long, or inconsistent with another.
        case invalidField
    }

    public var reason: Reason
    /// The field's path in proto names, e.g. `result.hitting_time.bins`; empty for the
    /// message as a whole.
    public var field: String
    public var message: String

    public init(_ reason: Reason, field: String = "", _ message: String) {
        self.reason = reason
        self.field = field
        self.message = message
    }

    public var description: String {
        field.isEmpty ? message : "\(field): \(message)"
    }
}
