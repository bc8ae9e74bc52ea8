import Foundation

/// One observed step x → y of a chain.
public struct Transition: Sendable, Hashable, Codable {
    public var from: Int
    public var to: Int

    public init(from: Int, to: Int) {
        self.from = from
        self.to = to
    }
}

/// A tabular softmax model of a Markov kernel (paper-notes §2):
///
///     p̂_W(y | x) = exp(W_xy) / Σ_{y' ∈ cand(x)} exp(W_xy'),
///
/// over a fixed set of candidate successors cand(x) per state, stored as CSR rows with
/// strictly increasing columns. Transitions outside cand(x) have probability 0: the
/// candidate set is the model's support, which pruning shrinks.
///
/// `kinds` rides along with each candidate so that a chain built from the model keeps the
/// edge kinds of the chain it was learned from (observers count hard steps by kind).
public struct SoftmaxPolicy: Sendable, Equatable, Codable {
    public let stateCount: Int
    /// `stateCount + 1` offsets into `columns`, `logits` and `kinds`.
    public let rowOffsets: [Int]
    /// Candidate successors, strictly increasing inside each row.
    public let columns: [UInt32]
    /// W, one logit per candidate. Mutable: training writes it in place.
    public var logits: [Double]
    public let kinds: [EdgeKind]

    /// How the logits of a model built from a chain start.
    public enum Initialization: Sendable, Hashable {
        /// W_xy = log p(x, y): the model is the chain (up to rounding).
        case exact
        /// W = 0: each row uniform over its candidates.
        case uniform
    }

    /// Creates a model from CSR rows, validating every invariant.
    ///
    /// - Parameter kinds: the kind of each candidate; all `.dense` when nil.
    /// - Throws: `LearningError` naming the field: every row needs at least one candidate,
    ///   columns in range and strictly increasing, finite logits.
    public init(
        stateCount: Int, rowOffsets: [Int], columns: [UInt32], logits: [Double], kinds: [EdgeKind]? = nil
    ) throws(LearningError) {
        guard stateCount > 0 else { throw LearningError(.badValue, field: "stateCount", "must be positive, got \(stateCount)") }
        guard rowOffsets.count == stateCount + 1, rowOffsets.first == 0, rowOffsets.last == columns.count else {
            throw LearningError(.inconsistent, field: "rowOffsets", "do not match \(stateCount) states and \(columns.count) candidates")
        }
        guard logits.count == columns.count else {
            throw LearningError(.inconsistent, field: "logits", "\(logits.count) logits for \(columns.count) candidates")
        }
        let kinds = kinds ?? [EdgeKind](repeating: .dense, count: columns.count)
        guard kinds.count == columns.count else {
            throw LearningError(.inconsistent, field: "kinds", "\(kinds.count) kinds for \(columns.count) candidates")
        }
        for x in 0..<stateCount {
            let lo = rowOffsets[x], hi = rowOffsets[x + 1]
            // A row without candidates has no distribution: the chain would have a dead end.
            guard lo < hi else { throw LearningError(.inconsistent, field: "rowOffsets", "row \(x) has no candidates") }
            for e in lo..<hi {
                guard Int(columns[e]) < stateCount else {
                    throw LearningError(.badState, field: "columns", "row \(x): state \(columns[e]) is out of range 0..<\(stateCount)")
                }
                guard e == lo || columns[e - 1] < columns[e] else {
                    throw LearningError(.inconsistent, field: "columns", "row \(x) is not strictly increasing at state \(columns[e])")
                }
                guard logits[e].isFinite else {
                    throw LearningError(.badValue, field: "logits", "entry (\(x), \(columns[e])) has logit \(logits[e])")
                }
            }
        }
        self.stateCount = stateCount
        self.rowOffsets = rowOffsets
        self.columns = columns
        self.logits = logits
        self.kinds = kinds
    }

    /// A model whose candidates are the support of `chain`, implicit uniform parts written
    /// out. (`Pretraining` adds non-edges as extra candidates.)
    ///
    /// - Parameter initialization: `.exact` reproduces the chain, `.uniform` forgets it.
    public init(chain: Chain, initialization: Initialization = .exact) {
        let full = chain.expanded()
        let logits: [Double] = switch initialization {
        case .exact: full.probabilities.map { Foundation.log($0) }
        case .uniform: [Double](repeating: 0, count: full.entryCount)
        }
        // A valid chain has sorted distinct columns, positive probabilities and no empty row.
        self.init(
            validatedStateCount: full.stateCount, rowOffsets: full.rowOffsets, columns: full.columns, logits: logits,
            kinds: full.kinds)
    }

    private enum CodingKeys: String, CodingKey { case stateCount, rowOffsets, columns, logits, kinds }

    /// Decodes and validates like `init(stateCount:rowOffsets:columns:logits:kinds:)`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            stateCount: c.decode(Int.self, forKey: .stateCount), rowOffsets: c.decode([Int].self, forKey: .rowOffsets),
            columns: c.decode([UInt32].self, forKey: .columns), logits: c.decode([Double].self, forKey: .logits),
            kinds: c.decodeIfPresent([EdgeKind].self, forKey: .kinds))
    }

    /// Memberwise, for rows already known to satisfy every invariant.
    init(validatedStateCount stateCount: Int, rowOffsets: [Int], columns: [UInt32], logits: [Double], kinds: [EdgeKind]) {
        self.stateCount = stateCount
        self.rowOffsets = rowOffsets
        self.columns = columns
        self.logits = logits
        self.kinds = kinds
    }

    /// Number of candidate edges.
    public var candidateCount: Int { columns.count }

    /// The candidates of row `x`, as indices into `columns` and `logits`.
    @inlinable
    public func candidates(of x: Int) -> Range<Int> { rowOffsets[x]..<rowOffsets[x + 1] }

    /// The index of candidate x → y, or nil when y is not a candidate of x (or x is out of range).
    public func candidate(from x: Int, to y: Int) -> Int? {
        guard (0..<stateCount).contains(x), y >= 0 else { return nil }
        let row = candidates(of: x)
        var lo = row.lowerBound, hi = row.upperBound
        while lo < hi {
            let mid = (lo + hi) / 2
            if Int(columns[mid]) < y { lo = mid + 1 } else { hi = mid }
        }
        return lo < row.upperBound && Int(columns[lo]) == y ? lo : nil
    }

    /// p̂(· | x) over the candidates of row `x`, aligned with `candidates(of: x)`.
    /// Stable: the row maximum is subtracted before exponentiating.
    public func probabilities(of x: Int) -> [Double] {
        var out = [Double]()
        appendProbabilities(of: x, to: &out)
        return out
    }

    /// model for every candidate, aligned with `columns`.
    public func probabilities() -> [Double] {
        var out = [Double]()
        out.reserveCapacity(columns.count)
        for x in 0..<stateCount { appendProbabilities(of: x, to: &out) }
        return out
    }

    func appendProbabilities(of x: Int, to out: inout [Double]) {
        let row = candidates(of: x)
        var top = -Double.infinity
        for e in row { top = max(top, logits[e]) }
        let first = out.count
        var sum = 0.0
        for e in row {
            let w = exp(logits[e] - top)
            out.append(w)
            sum += w
        }
        for i in first..<out.count { out[i] /= sum }
    }

    /// The model as a `Chain`, so the exact solver and the walk kernel run on it.
    /// Candidates whose probability underflows to 0 are left out.
    ///
    /// - Parameter clusters: labels for the chain (the true ones, or estimated ones).
    /// - Throws: `ChainError` when the labels do not fit the states.
    public func chain(clusters: ClusterLabels?) throws(ChainError) -> Chain {
        try Chain(
            stateCount: stateCount, rowOffsets: rowOffsets, columns: columns, probabilities: probabilities(),
            kinds: kinds, clusters: clusters)
    }

    /// Total-variation distance between p̂(x, ·) and p(x, ·), over all rows.
    public struct RowDistance: Sendable, Equatable, Codable {
        /// max_x TV(p̂(x, ·), p(x, ·)).
        public var max: Double
        /// The row where the maximum is reached.
        public var worstRow: Int
        /// (1/|S|) Σ_x TV(p̂(x, ·), p(x, ·)).
        public var mean: Double
    }

    /// Row-wise total-variation distance to `chain` (implicit uniform parts included).
    ///
    /// - Throws: `.inconsistent` on `chain` when the state counts differ.
    public func rowDistance(to chain: Chain) throws(LearningError) -> RowDistance {
        guard chain.stateCount == stateCount else {
            throw LearningError(.inconsistent, field: "chain", "has \(chain.stateCount) states, the model \(stateCount)")
        }
        var worst = 0.0, worstRow = 0, total = 0.0
        var model = [Double]()
        for x in 0..<stateCount {
            model.removeAll(keepingCapacity: true)
            appendProbabilities(of: x, to: &model)
            let row = candidates(of: x)
            // Merge two increasing lists: the candidates and the chain's transitions.
            var e = row.lowerBound
            var sum = 0.0
            chain.forEachTransition(from: x) { y, p, _ in
                while e < row.upperBound, Int(columns[e]) < y {
                    sum += model[e - row.lowerBound]; e += 1
                }
                if e < row.upperBound, Int(columns[e]) == y {
                    sum += abs(model[e - row.lowerBound] - p); e += 1
                } else {
                    sum += p
                }
            }
            while e < row.upperBound { sum += model[e - row.lowerBound]; e += 1 }
            let tv = sum / 2
            if tv > worst { worst = tv; worstRow = x }
            total += tv
        }
        return RowDistance(max: worst, worstRow: worstRow, mean: total / Double(stateCount))
    }

    /// The mean cross-entropy of a batch and its gradient in W.
    public struct CrossEntropy: Sendable, Equatable {
        /// (1/n) Σ −log p̂(y_i | x_i) over the n transitions the model can represent.
        public var loss: Double
        /// ∂loss/∂W, aligned with `logits`: for each transition, p̂(· | x) − 1_y on row x,
        /// averaged over the batch.
        public var gradient: [Double]
        /// Transitions whose y is not a candidate of x (infinite loss, no gradient): left
        /// out of both, and counted here so a caller sees support the model lacks.
        public var outsideSupport: Int
    }

    /// The cross-entropy of `batch` under the model and its gradient.
    ///
    /// - Throws: `.badState` naming `batch[i]` for a state outside the model.
    public func crossEntropy(_ batch: [Transition]) throws(LearningError) -> CrossEntropy {
        var gradient = [Double](repeating: 0, count: columns.count)
        var loss = 0.0
        var used = 0, outside = 0
        // Row probabilities are computed once per distinct row of the batch.
        var counts = [Int: [Int]]() // row -> candidate indices observed (one per transition)
        for (i, t) in batch.enumerated() {
            guard (0..<stateCount).contains(t.from), (0..<stateCount).contains(t.to) else {
                throw LearningError(.badState, field: "batch[\(i)]", "transition \(t.from) → \(t.to) leaves 0..<\(stateCount)")
            }
            guard let e = candidate(from: t.from, to: t.to) else { outside += 1; continue }
            counts[t.from, default: []].append(e)
            used += 1
        }
        guard used > 0 else { return CrossEntropy(loss: 0, gradient: gradient, outsideSupport: outside) }
        let scale = 1 / Double(used)
        var model = [Double]()
        for (x, observed) in counts.sorted(by: { $0.key < $1.key }) { // fixed order: reproducible sums
            model.removeAll(keepingCapacity: true)
            appendProbabilities(of: x, to: &model)
            let row = candidates(of: x)
            let n = Double(observed.count)
            for e in row { gradient[e] += n * scale * model[e - row.lowerBound] }
            for e in observed {
                gradient[e] -= scale
                loss -= log(model[e - row.lowerBound]) * scale
            }
        }
        return CrossEntropy(loss: loss, gradient: gradient, outsideSupport: outside)
    }

    /// The mean cross-entropy and its gradient for a batch given as counts: `counts[e]`
    /// transitions along candidate e (aligned with `columns`). The same quantity as
    /// `crossEntropy(_:)` of the batch, summed row by row in candidate order, so that a
    /// batch counted on workers (pretraining) gives the same bits however it was split.
    ///
    /// - Throws: `.inconsistent` naming `counts` when its length is not `candidateCount`.
    public func crossEntropy(counts: [UInt64]) throws(LearningError) -> CrossEntropy {
        guard counts.count == columns.count else {
            throw LearningError(.inconsistent, field: "counts", "\(counts.count) counts for \(columns.count) candidates")
        }
        var gradient = [Double](repeating: 0, count: columns.count)
        let used = counts.reduce(0, +)
        guard used > 0 else { return CrossEntropy(loss: 0, gradient: gradient, outsideSupport: 0) }
        let scale = 1 / Double(used)
        var loss = 0.0
        var model = [Double]()
        for x in 0..<stateCount {
            let row = candidates(of: x)
            var n: UInt64 = 0
            for e in row { n += counts[e] }
            guard n > 0 else { continue }
            model.removeAll(keepingCapacity: true)
            appendProbabilities(of: x, to: &model)
            for e in row {
                let p = model[e - row.lowerBound]
                gradient[e] = (Double(n) * p - Double(counts[e])) * scale
                if counts[e] > 0 { loss -= Double(counts[e]) * log(p) * scale }
            }
        }
        return CrossEntropy(loss: loss, gradient: gradient, outsideSupport: 0)
    }

    /// One gradient-descent step W ← W − η·gradient.
    ///
    /// - Throws: `.inconsistent` when the gradient does not match the logits, `.badValue`
    ///   for a learning rate that is not finite and positive.
    public mutating func descend(_ gradient: [Double], learningRate: Double) throws(LearningError) {
        guard gradient.count == logits.count else {
            throw LearningError(.inconsistent, field: "gradient", "\(gradient.count) entries for \(logits.count) logits")
        }
        guard learningRate.isFinite, learningRate > 0 else {
            throw LearningError(.badValue, field: "learningRate", "must be finite and positive, got \(learningRate)")
        }
        for e in logits.indices { logits[e] -= learningRate * gradient[e] }
    }

    /// The model restricted to the candidates for which `keep(index)` is true; logits are
    /// kept as they are (so each row renormalises over what is left).
    ///
    /// - Throws: `.unsupported` naming the row that would be left without candidates.
    public func pruned(keeping keep: (Int) -> Bool) throws(LearningError) -> SoftmaxPolicy {
        var offsets = [0], cols = [UInt32](), ws = [Double](), ks = [EdgeKind]()
        offsets.reserveCapacity(stateCount + 1)
        for x in 0..<stateCount {
            for e in candidates(of: x) where keep(e) {
                cols.append(columns[e]); ws.append(logits[e]); ks.append(kinds[e])
            }
            guard cols.count > offsets[x] else {
                throw LearningError(.unsupported, field: "pruning", "row \(x) would have no candidates left")
            }
            offsets.append(cols.count)
        }
        return SoftmaxPolicy(validatedStateCount: stateCount, rowOffsets: offsets, columns: cols, logits: ws, kinds: ks)
    }
}
