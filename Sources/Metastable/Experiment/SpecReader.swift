import Foundation
import Yams

/// A bad experiment spec: which field, what is wrong with it, and where.
public struct SpecError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Dotted path of the field, e.g. `chain.epsilon`; empty for the document itself.
    public var field: String
    public var message: String
    public var file: String?
    public var line: Int?

    public init(field: String, _ message: String, file: String? = nil, line: Int? = nil) {
        self.field = field
        self.message = message
        self.file = file
        self.line = line
    }

    public var description: String {
        let place = [file, line.map(String.init)].compactMap { $0 }.joined(separator: ":")
        let what = field.isEmpty ? message : "\(field): \(message)"
        return place.isEmpty ? what : "\(place): \(what)"
    }
}

/// A YAML node with the dotted path that led to it, so that every error can name its field.
struct SpecNode {
    let node: Node
    let path: String
    let file: String?

    var line: Int? { node.mark?.line }

    func error(_ message: String) -> SpecError {
        SpecError(field: path, message, file: file, line: line)
    }

    func child(_ key: String, _ node: Node) -> SpecNode {
        SpecNode(node: node, path: path.isEmpty ? key : "\(path).\(key)", file: file)
    }

    /// The entries of a mapping, in document order; rejects keys not in `allowed` (nil: any key).
    func mapping(allowed: Set<String>? = nil) throws(SpecError) -> [(String, SpecNode)] {
        guard let mapping = node.mapping else { throw error("expected a mapping of fields") }
        var entries = [(String, SpecNode)]()
        for (key, value) in mapping {
            guard let name = key.string else { throw error("a field name must be a string") }
            let child = child(name, value)
            guard allowed?.contains(name) ?? true else {
                throw child.error("unknown field (expected one of: \(allowed!.sorted().joined(separator: ", ")))")
            }
            entries.append((name, child))
        }
        return entries
    }

    var isMapping: Bool { node.mapping != nil }
    var isSequence: Bool { node.sequence != nil }

    func sequence() throws(SpecError) -> [SpecNode] {
        guard let sequence = node.sequence else { throw error("expected a list") }
        return sequence.enumerated().map { SpecNode(node: $1, path: "\(path)[\($0)]", file: file) }
    }

    func string() throws(SpecError) -> String {
        guard let scalar = node.scalar else { throw error("expected a value, got a \(node.mapping != nil ? "mapping" : "list")") }
        return scalar.string
    }

    func double() throws(SpecError) -> Double {
        let text = try string()
        guard let value = Double(text.replacingOccurrences(of: "_", with: "")), value.isFinite else {
            throw error("expected a number, got '\(text)'")
        }
        return value
    }

    /// An integer; also accepts integral floating-point notation such as `1e9`.
    func int(min: Int = 0) throws(SpecError) -> Int {
        let text = try string()
        let cleaned = text.replacingOccurrences(of: "_", with: "")
        let value: Int
        if let v = Int(cleaned) {
            value = v
        } else if let d = Double(cleaned), d.rounded() == d, abs(d) < 9.0e18 {
            value = Int(d)
        } else {
            throw error("expected an integer, got '\(text)'")
        }
        guard value >= min else { throw error("must be at least \(min), got \(value)") }
        return value
    }

    func uint64() throws(SpecError) -> UInt64 {
        let text = try string()
        guard let value = UInt64(text.replacingOccurrences(of: "_", with: "")) else {
            throw error("expected a non-negative integer, got '\(text)'")
        }
        return value
    }

    func bool() throws(SpecError) -> Bool {
        switch try string().lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        case let text: throw error("expected true or false, got '\(text)'")
        }
    }
}
