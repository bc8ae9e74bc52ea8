import Foundation
import Yams

/// One experiment: a chain, where walks start and what they must hit, how many walks, and
/// optionally a grid of parameter values to sweep (every combination is one grid point).
public struct ExperimentSpec: Sendable, Equatable {
    public var name: String
    public var summary: String?
    public var chain: ChainSource
    public var start: StartSpec
    public var target: TargetSpec
    public var walks: Int
    /// Walks still running after this many steps are stopped and reported as censored.
    public var maxSteps: UInt64
    public var seed: UInt64
    /// Walks per batch: the unit of parallel work and of exact merging.
    public var batchSize: Int
    /// Whether to run the exact solver next to the Monte Carlo estimate.
    public var exact: Bool
    /// The algorithm to run (pretraining, search, PPO, ...) instead of plain hitting-time walks.
    public var algorithm: AlgorithmSpec?
    /// Partition the chain's clusters into this many shards, each holding its own rows; walks
    /// migrate between them. Nil: every worker holds the whole graph. The results are the same.
    public var shards: Int?

    public init(
        name: String, summary: String? = nil, chain: ChainSource, start: StartSpec = .state(0),
        target: TargetSpec = .cluster(.last), walks: Int = 10_000, maxSteps: UInt64 = 1 << 40, seed: UInt64 = 1,
        batchSize: Int = 1024, exact: Bool = true
    ) {
        self.name = name
        self.summary = summary
        self.chain = chain
        self.start = start
        self.target = target
        self.walks = walks
        self.maxSteps = maxSteps
        self.seed = seed
        self.batchSize = batchSize
        self.exact = exact
    }
}

/// Where the chain comes from.
public enum ChainSource: Sendable, Equatable {
    case generated(GeneratorSpec)
    /// A Matrix Market or edge-list CSV file, with optional cluster labels.
    case file(path: String, labels: String?, normalize: Bool)
}

/// A cluster by index, or the last one.
public enum ClusterReference: Sendable, Equatable, CustomStringConvertible {
    case index(Int)
    case last

    public func resolve(in clusters: ClusterLabels) -> Int {
        switch self {
        case .index(let k): k
        case .last: clusters.clusterCount - 1
        }
    }

    public var description: String {
        switch self {
        case .index(let k): "\(k)"
        case .last: "last"
        }
    }
}

public enum StartSpec: Sendable, Equatable {
    case state(Int)
    /// Uniform on the states of a cluster.
    case cluster(ClusterReference)
    /// Weights over states (normalised).
    case distribution([StateWeight])
}

public struct StateWeight: Sendable, Equatable {
    public var state: Int
    public var weight: Double
}

public enum TargetSpec: Sendable, Equatable {
    case states([Int])
    case cluster(ClusterReference)
}

/// A spec with its grid expanded: one concrete spec per combination of grid values.
public struct ExperimentPlan: Sendable {
    public struct Point: Sendable {
        /// The grid values of this point, in grid order (name, value as written).
        public var parameters: [(name: String, value: String)]
        public var spec: ExperimentSpec
    }

    public var name: String
    /// The grid's parameter names, in order.
    public var gridParameters: [String]
    public var points: [Point]
    /// The power law to fit over the grid, when the spec asks for one.
    public var fit: FitSpec?
}

extension ExperimentPlan {
    static let chainFields: Set<String> = [
        "clusters", "cluster_size", "kernel", "topology", "sources", "epsilon", "decoys", "seed", "procedural",
        "graph", "labels", "normalize",
    ]
    static let topFields: Set<String> = [
        "name", "description", "chain", "start", "target", "walks", "max_steps", "seed", "batch_size", "exact", "grid",
        "fit", "algorithm", "shards",
    ]

    /// Parses a YAML experiment spec and expands its grid.
    /// - Parameter file: the spec's path, for error messages and to resolve relative graph paths.
    public static func parse(yaml: String, file: String? = nil) throws(SpecError) -> ExperimentPlan {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw SpecError(field: "", "the spec is empty", file: file)
            }
            root = node
        } catch let error as SpecError {
            throw error
        } catch {
            throw SpecError(field: "", "not valid YAML: \(error)", file: file)
        }
        let top = SpecNode(node: root, path: "", file: file)
        let fields = try top.mapping(allowed: topFields)

        var axes = [(name: String, path: [String], values: [SpecNode])]()
        if let grid = fields.first(where: { $0.0 == "grid" })?.1 {
            guard grid.isMapping else { throw grid.error("expected a mapping from parameter to a list of values") }
            let hasAlgorithm = fields.contains { $0.0 == "algorithm" }
            for (name, values) in try grid.mapping() {
                let path = try resolveGridParameter(name, at: values, hasAlgorithm: hasAlgorithm)
                let list = try values.sequence()
                guard !list.isEmpty else { throw values.error("the grid needs at least one value") }
                axes.append((name, path, list))
            }
        }

        var points = [Point]()
        var combination = [Int](repeating: 0, count: axes.count)
        repeat {
            var node = root
            if var mapping = node.mapping {
                mapping["grid"] = nil
                node = .mapping(mapping)
            }
            var parameters = [(name: String, value: String)]()
            for (axis, index) in zip(axes, combination) {
                let value = axis.values[index]
                node = substitute(value.node, at: axis.path, in: node)
                parameters.append((axis.name, value.node.scalar?.string ?? describe(value.node)))
            }
            let spec = try ExperimentSpec(node: SpecNode(node: node, path: "", file: file), file: file)
            points.append(Point(parameters: parameters, spec: spec))
        } while advance(&combination, sizes: axes.map { $0.values.count })

        var plan = ExperimentPlan(name: points[0].spec.name, gridParameters: axes.map(\.name), points: points)
        if let node = fields.first(where: { $0.0 == "fit" })?.1 {
            plan.fit = try FitSpec(node: node, plan: plan)
        }
        return plan
    }

    /// A bare grid name means a chain field when there is one, else a top-level field, else
    /// (when the spec has one) a parameter of the algorithm; `algorithm.x` is always the latter.
    private static func resolveGridParameter(_ name: String, at node: SpecNode, hasAlgorithm: Bool) throws(SpecError) -> [String] {
        let parts = name.split(separator: ".").map(String.init)
        let sweepable = ["walks", "max_steps", "seed", "batch_size"]
        if parts.count == 2, parts[0] == "chain", chainFields.contains(parts[1]) { return parts }
        if parts.count == 2, parts[0] == "algorithm", hasAlgorithm, parts[1] != "name" { return parts }
        if parts.count == 1, chainFields.contains(name), name != "seed" { return ["chain", name] }
        if parts.count == 1, sweepable.contains(name) { return parts }
        if parts.count == 1, hasAlgorithm, !topFields.contains(name), name != "name" { return ["algorithm", name] }
        let algorithm = hasAlgorithm ? ", algorithm parameters" : ""
        throw node.error("cannot sweep '\(name)' (sweepable: chain fields, walks, max_steps, seed, batch_size\(algorithm))")
    }

    private static func substitute(_ value: Node, at path: [String], in node: Node) -> Node {
        guard let key = path.first else { return value }
        var mapping = node.mapping ?? Node.Mapping([])
        let inner = mapping[key] ?? Node.mapping(Node.Mapping([]))
        mapping[key] = substitute(value, at: Array(path.dropFirst()), in: inner)
        return .mapping(mapping)
    }

    private static func describe(_ node: Node) -> String {
        (try? Yams.serialize(node: node).trimmingCharacters(in: .whitespacesAndNewlines)) ?? "?"
    }

    /// Odometer-style increment; false when every combination has been visited.
    private static func advance(_ combination: inout [Int], sizes: [Int]) -> Bool {
        for i in stride(from: combination.count - 1, through: 0, by: -1) {
            combination[i] += 1
            if combination[i] < sizes[i] { return true }
            combination[i] = 0
        }
        return false
    }
}

extension ExperimentSpec {
    init(node: SpecNode, file: String?) throws(SpecError) {
        let fields = Dictionary(try node.mapping(allowed: ExperimentPlan.topFields), uniquingKeysWith: { a, _ in a })
        guard let chainNode = fields["chain"] else { throw node.error("missing required field 'chain'") }
        let chain = try ChainSource(node: chainNode, specFile: file)
        self.init(name: try fields["name"]?.string() ?? "experiment", chain: chain)
        summary = try fields["description"]?.string()
        if let n = fields["start"] { start = try StartSpec(node: n) }
        if let n = fields["target"] { target = try TargetSpec(node: n) }
        if let n = fields["walks"] { walks = try n.int(min: 1) }
        if let n = fields["max_steps"] { maxSteps = UInt64(try n.int(min: 1)) }
        if let n = fields["seed"] { seed = try n.uint64() }
        if let n = fields["batch_size"] { batchSize = try n.int(min: 1) }
        if let n = fields["exact"] { exact = try n.bool() }
        if let n = fields["algorithm"] { algorithm = try AlgorithmRegistry.parse(n) }
        if let n = fields["shards"] {
            let count = try n.int(min: 1)
            guard count <= GraphPartition.maxShards else { throw n.error("at most \(GraphPartition.maxShards) shards, got \(count)") }
            shards = count
            guard algorithm == nil else { throw n.error("shards partition hitting-time walks; an algorithm experiment runs on whole graphs") }
            if case .generated(let generator) = chain, generator.procedural {
                throw n.error("a procedural chain stores no rows to partition")
            }
        }
    }
}

extension FitSpec {
    /// `fit: {response: hitting_time, against: [epsilon, cluster_size, clusters]}`: every
    /// parameter must be swept by the grid, with values the log can take.
    init(node: SpecNode, plan: ExperimentPlan) throws(SpecError) {
        let fields = Dictionary(try node.mapping(allowed: ["response", "against"]), uniquingKeysWith: { a, _ in a })
        var response = Response.hittingTime
        if let n = fields["response"] {
            let text = try n.string()
            guard let r = Response(rawValue: text) else {
                throw n.error("unknown response '\(text)' (expected \(Response.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            response = r
        }
        guard let list = fields["against"] else { throw node.error("missing required field 'against'") }
        var against = [String]()
        for item in try list.sequence() {
            let name = try item.string()
            guard Self.fittable.contains(name) else {
                throw item.error("cannot fit against '\(name)' (expected \(Self.fittable.joined(separator: ", ")))")
            }
            guard plan.gridParameters.contains(name) else { throw item.error("'\(name)' is not swept by the grid") }
            guard !against.contains(name) else { throw item.error("'\(name)' is listed twice") }
            for point in plan.points {
                let value = point.parameters.first { $0.name == name }!.value
                guard Self.regressor(name, value: value) != nil else {
                    let need = name == "clusters" ? "at least 2 (the fit takes log(clusters - 1))" : "a positive number"
                    throw item.error("the grid value '\(value)' of \(name) cannot be fitted: it must be \(need)")
                }
            }
            against.append(name)
        }
        guard !against.isEmpty else { throw list.error("name at least one grid parameter") }
        self.init(response: response, against: against)
    }
}

extension ChainSource {
    init(node: SpecNode, specFile: String?) throws(SpecError) {
        let fields = Dictionary(try node.mapping(allowed: ExperimentPlan.chainFields), uniquingKeysWith: { a, _ in a })
        if let graph = fields["graph"] {
            let generatorOnly = fields.keys.filter { !["graph", "labels", "normalize"].contains($0) }.sorted()
            if let extra = generatorOnly.first {
                throw fields[extra]!.error("a chain read from a graph file takes no generator fields")
            }
            let base = specFile.map { URL(fileURLWithPath: $0).deletingLastPathComponent() }
            func resolve(_ path: String) -> String {
                guard !path.hasPrefix("/"), let base else { return path }
                return base.appendingPathComponent(path).path
            }
            self = .file(
                path: resolve(try graph.string()), labels: try fields["labels"].map { n throws(SpecError) in resolve(try n.string()) },
                normalize: try fields["normalize"]?.bool() ?? false)
            return
        }
        for key in ["labels", "normalize"] where fields[key] != nil {
            throw fields[key]!.error("only a chain read from a graph file takes '\(key)'")
        }
        guard let k = fields["clusters"] else { throw node.error("missing required field 'clusters' (or 'graph')") }
        guard let m = fields["cluster_size"] else { throw node.error("missing required field 'cluster_size'") }
        var spec = GeneratorSpec(clusters: try k.int(min: 1), clusterSize: try m.int(min: 1))
        if let n = fields["kernel"] {
            let text = try n.string()
            guard let kernel = DenseKernel(parsing: text) else {
                throw n.error("unknown kernel '\(text)' (expected uniform, permutations(d) or ring(w))")
            }
            spec.kernel = kernel
        }
        if let n = fields["topology"] {
            let text = try n.string()
            guard let topology = Topology(parsing: text) else {
                throw n.error("unknown topology '\(text)' (expected chain, chain-bidirectional, random(out), tree or complete)")
            }
            spec.topology = topology
        }
        if let n = fields["sources"] { spec.sources = try n.int(min: 0) }
        if let n = fields["decoys"] { spec.decoys = try n.int(min: 0) }
        if let n = fields["seed"] { spec.seed = try n.uint64() }
        if let n = fields["procedural"] { spec.procedural = try n.bool() }
        if let n = fields["epsilon"] {
            if n.isSequence {
                let range = try n.sequence()
                guard range.count == 2 else { throw n.error("a range of ε is a list [lo, hi] (drawn log-uniformly)") }
                spec.epsilon = .logUniform(try range[0].double(), try range[1].double())
            } else {
                spec.epsilon = .fixed(try n.double())
            }
        }
        do {
            try spec.validate()
        } catch {
            // The generator's messages start with the field ("sources + decoys: ..."); point at its first name.
            let field = error.message.prefix { $0 != ":" && $0 != " " }
            let key = ExperimentPlan.chainFields.contains(String(field)) ? String(field) : "epsilon"
            throw (fields[key] ?? node).error(String(error.message.drop { $0 != ":" }.dropFirst().drop { $0 == " " }))
        }
        self = .generated(spec)
    }
}

extension ClusterReference {
    init(node: SpecNode) throws(SpecError) {
        if try node.string().lowercased() == "last" {
            self = .last
        } else {
            self = .index(try node.int(min: 0))
        }
    }
}

extension StartSpec {
    init(node: SpecNode) throws(SpecError) {
        if node.isMapping {
            let fields = Dictionary(try node.mapping(allowed: ["state", "cluster", "distribution"]), uniquingKeysWith: { a, _ in a })
            guard fields.count == 1, let (key, value) = fields.first else {
                throw node.error("give exactly one of state, cluster or distribution")
            }
            switch key {
            case "state": self = .state(try value.int(min: 0))
            case "cluster": self = .cluster(try ClusterReference(node: value))
            default:
                var weights = [StateWeight]()
                guard let mapping = value.node.mapping else { throw value.error("expected a mapping from state to weight") }
                for (k, v) in mapping {
                    let child = value.child(k.string ?? "?", v)
                    guard let state = k.string.flatMap({ Int($0) }), state >= 0 else {
                        throw child.error("a start state must be a non-negative integer")
                    }
                    let weight = try child.double()
                    guard weight >= 0 else { throw child.error("a weight must be non-negative, got \(weight)") }
                    weights.append(StateWeight(state: state, weight: weight))
                }
                guard !weights.isEmpty else { throw value.error("the distribution is empty") }
                self = .distribution(weights)
            }
        } else {
            self = .state(try node.int(min: 0))
        }
    }
}

extension TargetSpec {
    init(node: SpecNode) throws(SpecError) {
        if node.isMapping {
            let fields = try node.mapping(allowed: ["cluster", "states"])
            guard fields.count == 1, let (key, value) = fields.first else {
                throw node.error("give exactly one of cluster or states")
            }
            if key == "cluster" {
                self = .cluster(try ClusterReference(node: value))
            } else {
                self = .states(try Self.states(value))
            }
        } else if node.isSequence {
            self = .states(try Self.states(node))
        } else {
            self = .states([try node.int(min: 0)])
        }
    }

    private static func states(_ node: SpecNode) throws(SpecError) -> [Int] {
        let list = try node.sequence()
        guard !list.isEmpty else { throw node.error("the target set is empty") }
        var states = [Int]()
        for item in list { states.append(try item.int(min: 0)) }
        return states
    }
}

extension ExperimentPlan {
    /// The plan with every point's walk seed set to `seed`, as `--seed` and a cluster job's
    /// seed ask. A grid that sweeps `seed` keeps its own seeds.
    public func applyingRunSeed(_ seed: UInt64) -> ExperimentPlan {
        guard !gridParameters.contains("seed") else { return self }
        var plan = self
        for i in plan.points.indices { plan.points[i].spec.seed = seed }
        return plan
    }

    /// The seed a run of this plan sends to its workers: the spec's own, shared by every point
    /// unless the grid sweeps it.
    public var runSeed: UInt64 { points[0].spec.seed }
}
