/// Why walks could not run. Raised before any walk starts, never half way through a batch.
public struct WalkError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        /// The observer needs cluster labels and the chain has none.
        case noClusterLabels
        /// The start or target was made for a chain of another size.
        case mismatch
        /// A count, range or size that cannot work (no threads, empty batches, ...).
        case badArgument
        case outOfMemory
    }

    public var reason: Reason
    public var message: String

    public init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    public var description: String { message }
}
