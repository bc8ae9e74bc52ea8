import Yams

/// An algorithm's parameters, read from the spec's `algorithm:` mapping (its `name` picks
/// the type), with the experiment's chain, start and target around them.
public protocol AlgorithmConfiguration: Sendable {
    /// The value of `algorithm.name` that picks this type, e.g. "ppo".
    static var name: String { get }
    /// One sentence for help texts: what the experiment shows.
    static var summary: String { get }
    /// Reads the parameters; every one has a documented default. Keys this reader never asks
    /// for are rejected afterwards, naming the field.
    init(_ parameters: AlgorithmParameters) throws(SpecError)
    /// Builds one grid point (on the coordinator and on every worker).
    func prepare(_ context: AlgorithmContext) throws -> any AlgorithmPoint
    /// The figures scripts/plot.py draws for an experiment of this algorithm.
    static func figures(gridParameters: [String]) -> [FigureSpec]
    /// The headline values the end-of-run table shows, in order; nil: every value.
    static var tableValues: [String]? { get }
}

extension AlgorithmConfiguration {
    public static var tableValues: [String]? { nil }
}

/// What a grid point of an algorithm experiment starts from: its spec and the objects the
/// spec builds. The chain is built lazily: algorithms that draw their own chains (the
/// local-information experiment) never build it.
public struct AlgorithmContext: Sendable {
    public var spec: ExperimentSpec
    public var pointIndex: Int
    /// The seed of this point's random streams, derived from the spec's seed and the index
    /// (as for hitting-time points).
    public var seed: UInt64

    public init(spec: ExperimentSpec, pointIndex: Int) {
        self.spec = spec
        self.pointIndex = pointIndex
        seed = PreparedPoint.walkSeed(spec.seed, point: pointIndex)
    }

    /// The chain, start distribution and target set of the spec, checked as for hitting-time
    /// experiments (the target is reachable from every start state).
    public func problem() throws -> (chain: Chain, start: StartDistribution, target: TargetSet) {
        let chain = try ChainLoader.load(spec.chain)
        let start = try spec.start.resolve(in: chain)
        let target = try spec.target.resolve(in: chain)
        for s in start.states { try chain.checkReachable(from: s, to: target.states) }
        return (chain, start, target)
    }
}

/// The `algorithm:` mapping of a spec, as read: its name, its canonical text (so that two
/// specs compare equal when their parameters do), and the parsed configuration.
public struct AlgorithmSpec: Sendable, Equatable {
    public var name: String
    public var text: String
    public var configuration: any AlgorithmConfiguration

    public static func == (a: AlgorithmSpec, b: AlgorithmSpec) -> Bool { a.name == b.name && a.text == b.text }
}

/// The parameters of an `algorithm:` mapping, read with errors that name the field and line.
public final class AlgorithmParameters {
    private let node: SpecNode
    private let fields: [String: SpecNode]
    private var read: Set<String> = ["name"]

    init(node: SpecNode) throws(SpecError) {
        guard let mapping = node.node.mapping else { throw node.error("expected a mapping with at least 'name'") }
        var fields = [String: SpecNode]()
        for (key, value) in mapping {
            guard let name = key.string else { throw node.error("a field name must be a string") }
            fields[name] = node.child(name, value)
        }
        self.node = node
        self.fields = fields
    }

    /// Whether the spec gives `key`.
    public func has(_ key: String) -> Bool { fields[key] != nil }

    /// An error about `key` (or about the mapping when the spec does not give it).
    public func error(_ key: String, _ message: String) -> SpecError {
        fields[key]?.error(message) ?? SpecError(field: node.path.isEmpty ? key : "\(node.path).\(key)", message, file: node.file, line: node.line)
    }

    public func double(_ key: String, default value: Double, _ check: Check<Double> = .any) throws(SpecError) -> Double {
        guard let n = take(key) else { return value }
        return try check.apply(try n.double(), n)
    }

    public func optionalDouble(_ key: String, _ check: Check<Double> = .any) throws(SpecError) -> Double? {
        guard let n = take(key) else { return nil }
        return try check.apply(try n.double(), n)
    }

    public func int(_ key: String, default value: Int, min: Int = 0) throws(SpecError) -> Int {
        guard let n = take(key) else { return value }
        return try n.int(min: min)
    }

    public func optionalInt(_ key: String, min: Int = 0) throws(SpecError) -> Int? {
        guard let n = take(key) else { return nil }
        return try n.int(min: min)
    }

    public func bool(_ key: String, default value: Bool) throws(SpecError) -> Bool {
        guard let n = take(key) else { return value }
        return try n.bool()
    }

    public func string(_ key: String, default value: String, allowed: [String]? = nil) throws(SpecError) -> String {
        guard let n = take(key) else { return value }
        let text = try n.string()
        if let allowed, !allowed.contains(text) {
            throw n.error("unknown value '\(text)' (expected \(allowed.joined(separator: ", ")))")
        }
        return text
    }

    /// A list of numbers (a single number is a list of one).
    public func doubles(_ key: String, default value: [Double], _ check: Check<Double> = .any) throws(SpecError) -> [Double] {
        guard let n = take(key) else { return value }
        let items = n.isSequence ? try n.sequence() : [n]
        guard !items.isEmpty else { throw n.error("the list is empty") }
        var values = [Double]()
        for item in items { values.append(try check.apply(try item.double(), item)) }
        return values
    }

    /// A list of integers (a single integer is a list of one).
    public func ints(_ key: String, default value: [Int], min: Int = 0) throws(SpecError) -> [Int] {
        guard let n = take(key) else { return value }
        let items = n.isSequence ? try n.sequence() : [n]
        guard !items.isEmpty else { throw n.error("the list is empty") }
        var values = [Int]()
        for item in items { values.append(try item.int(min: min)) }
        return values
    }

    /// The parameters of a nested mapping (none when the spec does not give `key`), for an
    /// algorithm made of others. Check them with `checkAllRead()` once read.
    public func nested(_ key: String) throws(SpecError) -> AlgorithmParameters {
        guard let n = take(key) else {
            return try AlgorithmParameters(node: node.child(key, .mapping(.init([]))))
        }
        return try AlgorithmParameters(node: n)
    }

    /// A list of names (a single name is a list of one).
    public func strings(_ key: String, default value: [String], allowed: [String]) throws(SpecError) -> [String] {
        guard let n = take(key) else { return value }
        let items = n.isSequence ? try n.sequence() : [n]
        guard !items.isEmpty else { throw n.error("the list is empty") }
        var values = [String]()
        for item in items {
            let text = try item.string()
            guard allowed.contains(text) else {
                throw item.error("unknown value '\(text)' (expected \(allowed.joined(separator: ", ")))")
            }
            guard !values.contains(text) else { throw item.error("'\(text)' is listed twice") }
            values.append(text)
        }
        return values
    }

    /// Rejects keys no reader asked for.
    public func checkAllRead() throws(SpecError) {
        if let extra = fields.keys.filter({ !read.contains($0) }).sorted().first {
            throw fields[extra]!.error("unknown field (expected one of: \(read.sorted().joined(separator: ", ")))")
        }
    }

    private func take(_ key: String) -> SpecNode? {
        read.insert(key)
        return fields[key]
    }

    /// A range check whose failure names the field.
    public struct Check<Value: Comparable & Sendable>: Sendable {
        let test: @Sendable (Value) -> String?

        public init(_ test: @escaping @Sendable (Value) -> String?) { self.test = test }

        public static var any: Check { Check { _ in nil } }
        public static func open(_ lo: Value, _ hi: Value) -> Check {
            Check { $0 > lo && $0 < hi ? nil : "must be in (\(lo), \(hi)), got \($0)" }
        }
        public static func atLeast(_ lo: Value) -> Check { Check { $0 >= lo ? nil : "must be at least \(lo), got \($0)" } }
        public static func above(_ lo: Value) -> Check { Check { $0 > lo ? nil : "must be greater than \(lo), got \($0)" } }

        func apply(_ value: Value, _ node: SpecNode) throws(SpecError) -> Value {
            if let why = test(value) { throw node.error(why) }
            return value
        }
    }
}

/// The algorithms a spec can name.
public enum AlgorithmRegistry {
    public static let all: [any AlgorithmConfiguration.Type] = [
        PretrainingExperiment.self,
        SearchExperiment.self,
        PRMExperiment.self,
        PPOExperiment.self,
        ReinforceExperiment.self,
        DistillConfiguration.self,
        LocalLimitConfiguration.self,
        ComparisonConfiguration.self,
    ]

    public static func configuration(named name: String) -> (any AlgorithmConfiguration.Type)? {
        all.first { $0.name == name }
    }

    /// Reads an `algorithm:` mapping.
    static func parse(_ node: SpecNode) throws(SpecError) -> AlgorithmSpec {
        let parameters = try AlgorithmParameters(node: node)
        guard parameters.has("name") else {
            throw node.error("missing required field 'name' (expected one of: \(all.map { $0.name }.joined(separator: ", ")))")
        }
        let name = try parameters.string("name", default: "")
        guard let type = configuration(named: name) else {
            throw parameters.error("name", "unknown algorithm '\(name)' (expected one of: \(all.map { $0.name }.joined(separator: ", ")))")
        }
        let configuration = try type.init(parameters)
        try parameters.checkAllRead()
        let text = (try? Yams.serialize(node: node.node)) ?? name
        return AlgorithmSpec(name: name, text: text, configuration: configuration)
    }
}
