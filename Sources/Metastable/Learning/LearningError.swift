/// Why a learning step, a search or a process reward model could not run.
///
/// `field` names the argument or configuration field that is wrong, so a caller (or a
/// spec file) can point at it.
public struct LearningError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        /// Sizes of arrays that must match do not.
        case inconsistent
        /// A number outside its allowed range (a learning rate, a probability, a count).
        case badValue
        /// A state id outside the chain.
        case badState
        /// The chain or model lacks something the operation needs (cluster labels, edges).
        case unsupported
    }

    public var reason: Reason
    public var field: String
    public var message: String

    public init(_ reason: Reason, field: String, _ message: String) {
        self.reason = reason
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}
