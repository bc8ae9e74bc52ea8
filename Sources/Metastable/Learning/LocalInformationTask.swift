import Foundation

/// One instance of the §6 task: a chain with Z_2 labels on its edges, and a path through it.
/// Everything here is the hidden world; learners only get the views below.
struct LocalInformationTask {
    /// The chain, with its true cluster labels.
    let chain: Chain
    /// The group element of every explicit entry of `chain`: 0 (identity) on dense entries, a
    /// uniform bit on sparse and decoy entries.
    let bits: [UInt8]
    /// The states X_0 = X_in, ..., X_T = X_out (the first state of the last cluster reached).
    let path: [Int]
    /// The entry of `chain` taken at each step: `path.count - 1` of them.
    let steps: [Int]
    /// The logical value: the XOR of the bits on the sparse entries along the path.
    let truth: UInt8
    /// How many decoy entries the path took.
    let decoysVisited: Int
    /// Chains drawn and discarded before this one because a cluster was disconnected.
    let rejectedChains: Int

    /// Draws a task with `clusters` clusters; every random choice comes from `rng`.
    ///
    /// The chain is `GeneratorSpec(kernel: .permutations(d), topology: .chain, sources: 1)` with
    /// `decoysPerCluster` decoys; the walk starts at state 0 of C_1 and stops on entering C_K,
    /// so it crosses exactly K − 1 sparse edges.
    /// - Throws: `.unreachable` if the walk is still running after `maxSteps` (far beyond the
    ///   expected (K − 1)·M/ε steps; it means the configuration is not what it claims).
    static func draw(
        clusters: Int, config: LocalInformationExperiment.Config, rng: inout WalkRandom
    ) throws(ChainError) -> LocalInformationTask {
        // The model assumes connected (fast-mixing) clusters; d random permutations give one
        // with high probability, not always (a state fixed by all d is isolated). Such draws
        // are redrawn and counted, so the condition is visible in the report.
        var rejected = 0
        var chain: Chain
        var labels: ClusterLabels
        repeat {
            let spec = GeneratorSpec(
                clusters: clusters, clusterSize: config.clusterSize, kernel: .permutations(config.kernelDegree),
                topology: .chain, sources: 1, epsilon: .fixed(config.epsilon), decoys: config.decoysPerCluster,
                seed: rng.next())
            chain = try spec.generate()
            guard let known = chain.clusters, chain.uniformMass.isEmpty else {
                throw ChainError(.inconsistent, "the generated chain lacks labels or stores an implicit part")
            }
            labels = known
            if clustersConnected(chain, labels: labels, threshold: config.hardThreshold) { break }
            rejected += 1
            guard rejected < 1000 else {
                throw ChainError(.badSpec, "1000 chains in a row had a disconnected cluster: raise kernelDegree or clusterSize")
            }
        } while true
        let bits = chain.kinds.map { $0 == .dense ? UInt8(0) : UInt8(truncatingIfNeeded: rng.next() & 1) }

        let last = clusters - 1
        let maxSteps = 1000 * clusters * Int((Double(config.clusterSize) / config.epsilon).rounded(.up))
        var x = 0
        var path = [x], steps = [Int]()
        var truth: UInt8 = 0, decoys = 0
        while labels[x] != last {
            guard steps.count < maxSteps else {
                throw ChainError(.unreachable, "the walk did not reach cluster \(last) within \(maxSteps) steps")
            }
            // Inverse CDF over the (few) entries of the row; the last entry absorbs rounding.
            let row = chain.entries(of: x)
            let u = rng.nextDouble()
            var e = row.lowerBound, cumulative = chain.probabilities[e]
            while u >= cumulative, e + 1 < row.upperBound {
                e += 1
                cumulative += chain.probabilities[e]
            }
            switch chain.kinds[e] {
            case .sparse: truth ^= bits[e]
            case .decoy: decoys += 1
            case .dense: break
            }
            x = Int(chain.columns[e])
            steps.append(e)
            path.append(x)
        }
        return LocalInformationTask(
            chain: chain, bits: bits, path: path, steps: steps, truth: truth, decoysVisited: decoys,
            rejectedChains: rejected)
    }

    /// Whether the dense (above-threshold) edges connect every cluster.
    private static func clustersConnected(_ chain: Chain, labels: ClusterLabels, threshold: Double) -> Bool {
        let component = Learner.denseComponents(chain, threshold: threshold)
        return (0..<labels.clusterCount).allSatisfy { k in
            let members = labels.members(of: k)
            return members.allSatisfy { component[Int($0)] == component[Int(members.first!)] }
        }
    }

    // MARK: The views of each access level

    /// Level 1: the path as a sequence of steps, each with the probability of the transition
    /// taken and its bit. No state names: a name shared by two steps is information about the
    /// whole path, not about the step (see `LocalInformationExperiment`).
    func pathView() -> [StepObservation] {
        steps.map { StepObservation(probability: chain.probabilities[$0], bit: bits[$0]) }
    }

    /// Level 2: the local view of step `i`: the rows of both its endpoints, with names private
    /// to this view (0 the source, 1 the target, then others in order of first appearance).
    func neighbourhoodView(ofStep i: Int) -> StepNeighbourhood {
        let x = path[i], y = path[i + 1]
        var names = [x: 0]
        if y != x { names[y] = 1 }
        var next = 2
        func row(_ z: Int) -> [(name: Int, probability: Double)] {
            chain.entries(of: z).map { e in
                let w = Int(chain.columns[e])
                if let name = names[w] { return (name, chain.probabilities[e]) }
                names[w] = next
                next += 1
                return (next - 1, chain.probabilities[e])
            }
        }
        let source = row(x)
        let target = row(y)
        return StepNeighbourhood(
            step: StepObservation(probability: chain.probabilities[steps[i]], bit: bits[steps[i]]),
            sourceRow: source, targetRow: target)
    }
}

/// What a step shows by itself: the probability of the transition taken and its group element.
struct StepObservation {
    var probability: Double
    var bit: UInt8
}

/// A step with the rows of its two endpoints, named locally (0 = source, 1 = target).
struct StepNeighbourhood {
    var step: StepObservation
    var sourceRow: [(name: Int, probability: Double)]
    var targetRow: [(name: Int, probability: Double)]
}
