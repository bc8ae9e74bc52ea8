import ArgumentParser
import Metastable

/// `--graph FILE [--labels FILE] [--normalize]`: a chain read from disk.
struct GraphOptions: ParsableArguments {
    @Option(name: .long, help: "Matrix Market (.mtx) or edge-list CSV (.csv) file; entry (i, j) is p(i -> j).")
    var graph: String

    @Option(name: .long, help: "Cluster labels, one per line (state i on line i+1).")
    var labels: String?

    @Flag(name: .long, help: "Rescale rows to sum to 1 instead of rejecting them.")
    var normalize = false

    func load() throws -> Chain {
        try ChainFile.load(path: graph, labelsPath: labels, normalize: normalize)
    }
}

/// `--start S --target T[,T...]`.
struct TaskOptions: ParsableArguments {
    @Option(name: .long, help: "Start state (0-based).")
    var start: Int

    @Option(name: .long, help: "Target states, comma separated (0-based).")
    var target: String

    func targetStates() throws -> [Int] {
        var states = [Int]()
        for part in target.split(separator: ",", omittingEmptySubsequences: false) {
            guard let state = Int(part.trimmingCharacters(in: .whitespaces)), state >= 0 else {
                throw BadInput("--target: '\(part)' is not a state id (expected non-negative integers separated by commas)")
            }
            states.append(state)
        }
        return states
    }

    /// Validated start and target for `chain`, with the target reachable from the start.
    func resolve(in chain: Chain) throws -> (StartDistribution, TargetSet) {
        let start = try StartDistribution(state: start, stateCount: chain.stateCount)
        let target = try TargetSet(states: targetStates(), stateCount: chain.stateCount)
        try chain.checkReachable(from: self.start, to: target.states)
        return (start, target)
    }
}
