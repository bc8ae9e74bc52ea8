import Foundation

/// A K×K softmax model of the cluster-level chain, fitted to cluster transitions and then
/// boosted (paper-notes §5, Algorithm 4).
///
/// Row k is a softmax over the K clusters with logits `W(k, ·)`. The fitted model q̂ is the
/// maximum-likelihood softmax: its logits are the log-frequencies of the observed transitions
/// (optionally smoothed, see `MetaChainDistiller.fit`). The boosted model q̂⁺ adds β to every
/// off-diagonal logit: a row's exit probability goes from about ε/M to about
/// ε/M·e^β / (1 + ε/M·e^β), while the ratios between off-diagonal entries, so the law of the
/// cluster entered on exit, do not change.
///
/// Dense: `clusterCount²` logits, meant for K up to a few thousand.
public struct DistilledMetaChain: Sendable, Equatable {
    public let clusterCount: Int
    /// Row-major log q̂(k, l), normalised per row; −∞ for a transition the model gives
    /// probability 0 (never observed, without smoothing).
    public let logits: [Double]
    /// The boost added to every off-diagonal logit.
    public let beta: Double
    /// Steps observed per cluster: rows with none are uniform (the softmax's zero logits).
    public let stepsObserved: [UInt64]

    /// Logits are normalised on the way in; `logits.count` must be `clusterCount²`.
    init(clusterCount: Int, logits: [Double], beta: Double, stepsObserved: [UInt64]) {
        self.clusterCount = clusterCount
        self.beta = beta
        self.stepsObserved = stepsObserved
        var normalised = logits
        for k in 0..<clusterCount {
            let row = k * clusterCount..<(k + 1) * clusterCount
            let logZ = Self.logSumExp(normalised[row])
            for i in row { normalised[i] -= logZ }
        }
        self.logits = normalised
    }

    /// Steps observed in all clusters together: the data size.
    public var totalSteps: UInt64 { stepsObserved.reduce(0, +) }

    /// q̂(k, ·), the fitted row.
    public func fittedRow(_ k: Int) -> [Double] { row(k, boost: 0) }

    /// q̂⁺(k, ·), the row after the off-diagonal boost β.
    public func boostedRow(_ k: Int) -> [Double] { row(k, boost: beta) }

    /// The fitted (`boosted == false`) or boosted model as a K-state chain, state k being
    /// cluster k.
    public func chain(boosted: Bool = true) throws(ChainError) -> Chain {
        var offsets = [0], columns = [UInt32](), probabilities = [Double]()
        for k in 0..<clusterCount {
            for (l, p) in row(k, boost: boosted ? beta : 0).enumerated() where p > 0 {
                columns.append(UInt32(l))
                probabilities.append(p)
            }
            offsets.append(columns.count)
        }
        // Rows of a softmax sum to 1 up to rounding; normalising removes the rounding.
        return try Chain(
            stateCount: clusterCount, rowOffsets: offsets, columns: columns, probabilities: probabilities,
            kinds: nil, normalize: true)
    }

    /// E[τ⁺]: the exact expected number of steps for the fitted or boosted K-state chain to go
    /// from cluster `start` to cluster `target`.
    /// - Throws: `.badState` for a cluster out of range, `.unreachable` when the model cannot
    ///   reach `target` from `start` with probability 1.
    public func expectedHittingTime(from start: Int, to target: Int, boosted: Bool = true) throws(ChainError) -> Double {
        try expectedHittingTime(from: StartDistribution(state: start, stateCount: clusterCount), to: target, boosted: boosted)
    }

    /// E[τ⁺] from a law over the clusters (the clusters of a start distribution of the chain).
    public func expectedHittingTime(from start: StartDistribution, to target: Int, boosted: Bool = true) throws(ChainError) -> Double {
        let chain = try chain(boosted: boosted)
        let targetSet = try TargetSet(states: [target], stateCount: clusterCount)
        let solution = try ExactSolver.hittingTimes(chain, target: targetSet)
        return try solution.expected(from: start)
    }

    private func row(_ k: Int, boost: Double) -> [Double] {
        let base = k * clusterCount
        var w = (0..<clusterCount).map { l in logits[base + l] + (l == k ? 0 : boost) }
        let logZ = Self.logSumExp(w[...])
        for l in w.indices { w[l] = exp(w[l] - logZ) }
        return w
    }

    /// log Σ exp(w), shifted by the maximum so that nothing overflows; −∞ for all −∞.
    static func logSumExp(_ w: ArraySlice<Double>) -> Double {
        guard let top = w.max(), top.isFinite else { return w.max() ?? -.infinity }
        return top + log(w.reduce(0) { $0 + exp($1 - top) })
    }
}

/// How far a distilled model is from the exact meta-chain, and how well the boost kept the
/// escape laws. Rows of clusters without observed steps are left out of every figure.
public struct DistillationErrors: Sendable, Equatable {
    /// max_k TV(q̂(k, ·), q(k, ·)).
    public var maxRowTV: Double
    /// The mean of TV(q̂(k, ·), q(k, ·)) over rows with data.
    public var meanRowTV: Double
    /// The mean row TV an iid sample of the same size per row would have, in the normal
    /// approximation E|q̂ − q| ≈ √(2q(1 − q)/(πn)) per entry: the n^(−1/2) reference the
    /// measured error is read against. CoT steps are not iid (a walk exits a cluster once per
    /// visit), so the measured error may sit above or below it by a constant factor.
    public var meanIIDRowTV: Double
    /// max_k of |q̂(k, exit) / q(k, exit) − 1|: the relative error of each row's exit
    /// probability, which the absolute TV hides (it is O(ε/M) even for a model never leaving).
    public var maxRelativeExitError: Double
    /// max_k TV between the escape laws (off-diagonal part, renormalised) of q̂ and q, over
    /// rows where both leave with positive probability.
    public var maxEscapeTV: Double
    /// max_k TV between the escape laws of q̂ and q̂⁺: 0 up to rounding, since β shifts
    /// every off-diagonal logit of a row by the same amount.
    public var maxBoostEscapeShift: Double
    /// Rows that entered the figures.
    public var rowsWithData: Int
}

/// Meta-chain distillation, Algorithm 4: cluster-level transitions from CoT runs of the
/// chain, a K×K softmax fitted to them, and the off-diagonal boost β.
public enum MetaChainDistiller {
    /// β = log(M/ε), the paper's Θ(log(M/ε)) with constant 1: a row's exit probability ε/M
    /// becomes about 1/2, so an exit takes about 2 steps. Not finite for M or ε ≤ 0.
    public static func defaultBeta(clusterSize: Int, epsilon: Double) -> Double {
        log(Double(clusterSize) / epsilon)
    }

    /// Cluster-level transitions of `walks` CoT runs of `chain` from `start` until `target`
    /// or `maxSteps` steps, read through `labels` (the chain's own labels when nil).
    ///
    /// Uses `MonteCarlo.run` with the cluster observer, so the counts do not depend on
    /// `threads`. A walk stops at the target, so the target's cluster gets few or no steps.
    /// - Parameters:
    ///   - labels: the map ι from states to clusters, e.g. from what search found; the
    ///     chain's own labels when nil.
    ///   - seed: walk i uses the `.walk` stream (seed, i), as every Monte Carlo run does.
    ///   - threads: worker threads, default 1.
    /// - Throws: `ChainError` when there are no labels or they do not fit the chain,
    ///   `WalkError` for a start or target of another chain, or no walks.
    public static func collect(
        chain: Chain, labels: ClusterLabels? = nil, start: StartDistribution, target: TargetSet,
        walks: Int, maxSteps: UInt64, seed: UInt64, threads: Int = 1
    ) throws -> TransitionCounts {
        var labelled = chain
        if let labels, labels != chain.clusters {
            // The implicit uniform part means "uniform on the state's own cluster", so it is
            // written out before the labels change.
            labelled = try chain.expanded().withClusters(labels)
        }
        guard labelled.clusters != nil else {
            throw ChainError(.badLabel, "distillation needs a map from states to clusters; the chain has none")
        }
        guard walks > 0 else { throw WalkError(.badArgument, "distillation needs at least one walk, got \(walks)") }
        let outcome = try MonteCarlo.run(
            chain: labelled, start: start, target: target, walks: walks, maxSteps: maxSteps, seed: seed,
            batchSize: max(1, walks / max(1, threads * 4)), threads: max(1, threads), observeClusters: true)
        guard let transitions = outcome.transitions else {
            throw ChainError(.badLabel, "the walks recorded no cluster transitions")
        }
        return transitions
    }

    /// Fits the K×K softmax to `counts` and sets the boost to `beta`.
    ///
    /// The softmax MLE over K outcomes is the empirical frequency, so the fit is closed form:
    /// W(k, l) = log(count(k, l) + α) − log(steps(k) + K·α). α = `pseudoCount` is additive
    /// smoothing over all K outcomes. With α = 0 (the default) transitions never seen get
    /// probability 0: smoothing would invent exits to clusters that are not neighbours, and β
    /// multiplies those by M/ε like every other exit. A row with no steps at all keeps the
    /// softmax's initial zero logits (uniform); with walks that stop at the target, that is
    /// the target's row, which no hitting time reads.
    /// - Throws: `.badProbability` for a negative or non-finite `pseudoCount` or `beta`.
    public static func fit(_ counts: TransitionCounts, pseudoCount: Double = 0, beta: Double) throws(ChainError) -> DistilledMetaChain {
        guard pseudoCount.isFinite, pseudoCount >= 0 else {
            throw ChainError(.badProbability, "the pseudo-count must be finite and non-negative, got \(pseudoCount)")
        }
        guard beta.isFinite, beta >= 0 else {
            throw ChainError(.badProbability, "the boost β must be finite and non-negative, got \(beta)")
        }
        let K = counts.clusterCount
        var logits = [Double](repeating: 0, count: K * K)
        var steps = [UInt64](repeating: 0, count: K)
        for k in 0..<K {
            steps[k] = counts.steps(in: k)
            guard steps[k] > 0 else { continue }
            for l in 0..<K {
                logits[k * K + l] = log(Double(counts.count(from: k, to: l)) + pseudoCount)
            }
        }
        return DistilledMetaChain(clusterCount: K, logits: logits, beta: beta, stepsObserved: steps)
    }

    /// The exact meta-chain q as a model boosted by `beta`: what the fit tends to with
    /// unlimited data, the reference E[τ⁺] of a distillation. It observed no steps.
    public static func exactModel(_ exact: MetaChain, beta: Double) throws(ChainError) -> DistilledMetaChain {
        guard beta.isFinite, beta >= 0 else {
            throw ChainError(.badProbability, "the boost β must be finite and non-negative, got \(beta)")
        }
        let K = exact.clusterCount
        var logits = [Double](repeating: 0, count: K * K)
        for k in 0..<K {
            for l in 0..<K { logits[k * K + l] = log(exact.probability(from: k, to: l)) }
        }
        return DistilledMetaChain(clusterCount: K, logits: logits, beta: beta, stepsObserved: Array(repeating: 0, count: K))
    }

    /// Compares `distilled` with the exact meta-chain `exact` of the same clusters.
    /// - Throws: `.inconsistent` when the cluster counts differ.
    public static func errors(of distilled: DistilledMetaChain, against exact: MetaChain) throws(ChainError) -> DistillationErrors {
        let K = distilled.clusterCount
        guard exact.clusterCount == K else {
            throw ChainError(.inconsistent, "the distilled model has \(K) clusters, the meta-chain \(exact.clusterCount)")
        }
        var result = DistillationErrors(
            maxRowTV: 0, meanRowTV: 0, meanIIDRowTV: 0, maxRelativeExitError: 0, maxEscapeTV: 0, maxBoostEscapeShift: 0, rowsWithData: 0)
        for k in 0..<K where distilled.stepsObserved[k] > 0 {
            let fitted = distilled.fittedRow(k)
            let boosted = distilled.boostedRow(k)
            let truth = (0..<K).map { l in l == k ? exact.stay[k] : exact.probability(from: k, to: l) }
            let tv = totalVariation(fitted, truth)
            result.maxRowTV = max(result.maxRowTV, tv)
            result.meanRowTV += tv
            let n = Double(distilled.stepsObserved[k])
            result.meanIIDRowTV += 0.5 * truth.reduce(0) { $0 + (2 * $1 * (1 - $1) / (Double.pi * n)).squareRoot() }
            result.rowsWithData += 1
            let fittedExit = offDiagonalSum(fitted, k), trueExit = offDiagonalSum(truth, k)
            if trueExit > 0 {
                result.maxRelativeExitError = max(result.maxRelativeExitError, abs(fittedExit / trueExit - 1))
            }
            if fittedExit > 0, trueExit > 0 {
                result.maxEscapeTV = max(result.maxEscapeTV, totalVariation(escape(fitted, k), escape(truth, k)))
                result.maxBoostEscapeShift = max(
                    result.maxBoostEscapeShift, totalVariation(escape(fitted, k), escape(boosted, k)))
            }
        }
        if result.rowsWithData > 0 {
            result.meanRowTV /= Double(result.rowsWithData)
            result.meanIIDRowTV /= Double(result.rowsWithData)
        }
        return result
    }

    /// ½ Σ |a − b|.
    static func totalVariation(_ a: [Double], _ b: [Double]) -> Double {
        0.5 * zip(a, b).reduce(0) { $0 + abs($1.0 - $1.1) }
    }

    private static func offDiagonalSum(_ row: [Double], _ k: Int) -> Double {
        row.indices.reduce(0) { $1 == k ? $0 : $0 + row[$1] }
    }

    /// The off-diagonal part of `row`, renormalised (the diagonal set to 0).
    private static func escape(_ row: [Double], _ k: Int) -> [Double] {
        let exit = offDiagonalSum(row, k)
        return row.indices.map { $0 == k ? 0 : row[$0] / exit }
    }
}
