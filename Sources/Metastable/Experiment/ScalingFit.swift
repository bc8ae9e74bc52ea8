import Foundation

/// What a spec's `fit` field asks for: a power law of the response in some grid parameters,
/// fitted as log y = a + Σ b_j log x_j over every grid point.
public struct FitSpec: Sendable, Equatable {
    public enum Response: String, Sendable, CaseIterable {
        case hittingTime = "hitting_time"
    }

    public var response: Response
    /// Grid parameters, in the order given.
    public var against: [String]

    public init(response: Response = .hittingTime, against: [String]) {
        self.response = response
        self.against = against
    }

    /// Parameters the spec may fit against. `clusters` enters as K − 1, the number of hard
    /// steps every path must take: E[τ] ≈ (K−1)·M/ε has slope exactly 1 in K − 1, not in K.
    public static let fittable = ["epsilon", "cluster_size", "clusters"]

    /// The regressor a parameter value enters the fit as (before the log), or nil when the
    /// value cannot be one.
    static func regressor(_ parameter: String, value: String) -> Double? {
        guard let x = Double(value), x.isFinite else { return nil }
        let r = parameter == "clusters" ? x - 1 : x
        return r > 0 ? r : nil
    }

    /// How a parameter enters the fit, as written to results.json.
    static func transform(_ parameter: String) -> String {
        parameter == "clusters" ? "log(clusters - 1)" : "log(\(parameter))"
    }
}

/// The fits of one run, written to results.json as `fits`.
public struct ScalingFits: Sendable, Codable, Equatable {
    public var response: String
    /// Each regressor's grid parameter and how it enters: `log(epsilon)`, `log(clusters - 1)`.
    public var regressors: [Regressor]
    /// Weighted least squares on the Monte Carlo means, weights 1/se(log mean)²; nil when too
    /// few points have a mean with a standard error (censored points are left out).
    public var monteCarlo: PowerLawFit?
    /// Ordinary least squares on the exact values; nil without them.
    public var exact: PowerLawFit?

    public struct Regressor: Sendable, Codable, Equatable {
        public var parameter: String
        public var transform: String
    }
}

/// log y = intercept + Σ slopes[j]·log x_j, with the fit's own uncertainty.
public struct PowerLawFit: Sendable, Codable, Equatable {
    public var points: Int
    public var intercept: Estimate
    /// One per regressor, in the regressors' order.
    public var slopes: [Estimate]
    /// Σ w·residual² / (points − parameters): for the Monte Carlo fit about 1 when the
    /// weights are right and the model fits; for the unweighted exact fit the variance of the
    /// log residuals. The covariance is scaled by it, so misfit widens the intervals.
    public var reducedChiSquare: Double?
}

/// A fitted coefficient with its standard error and 95% interval (Student t, n − p degrees
/// of freedom). With no degrees of freedom left the error is unknown and nil.
public struct Estimate: Sendable, Codable, Equatable {
    public var value: Double
    public var standardError: Double?
    public var ci95: [Double]?
}

/// Weighted linear least squares, small and dense: the normal equations solved through the
/// inverse of XᵀWX, which the covariance needs anyway.
public enum LeastSquares {
    public struct Solution: Sendable, Equatable {
        /// Coefficients in column order, intercept first when the design has one.
        public var coefficients: [Double]
        /// s²·(XᵀWX)⁻¹ with s² = Σ w r² / (n − p); nil when n == p.
        public var covariance: [[Double]]?
        public var reducedChiSquare: Double?
        public var degreesOfFreedom: Int
    }

    /// Fits y ≈ X·β minimising Σ wᵢ (yᵢ − xᵢ·β)². Returns nil when the design is rank-deficient
    /// or there are fewer rows than columns.
    public static func fit(design x: [[Double]], response y: [Double], weights w: [Double]? = nil) -> Solution? {
        let n = y.count, p = x.first?.count ?? 0
        guard n == x.count, n >= p, p > 0 else { return nil }
        let w = w ?? [Double](repeating: 1, count: n)
        var xtwx = [[Double]](repeating: [Double](repeating: 0, count: p), count: p)
        var xtwy = [Double](repeating: 0, count: p)
        for i in 0..<n {
            for a in 0..<p {
                xtwy[a] += w[i] * x[i][a] * y[i]
                for b in 0..<p { xtwx[a][b] += w[i] * x[i][a] * x[i][b] }
            }
        }
        guard let inverse = invert(xtwx) else { return nil }
        let beta = (0..<p).map { a in (0..<p).reduce(0.0) { $0 + inverse[a][$1] * xtwy[$1] } }
        let dof = n - p
        guard dof > 0 else { return Solution(coefficients: beta, covariance: nil, reducedChiSquare: nil, degreesOfFreedom: 0) }
        var rss = 0.0
        for i in 0..<n {
            let r = y[i] - (0..<p).reduce(0.0) { $0 + x[i][$1] * beta[$1] }
            rss += w[i] * r * r
        }
        let s2 = rss / Double(dof)
        return Solution(
            coefficients: beta, covariance: inverse.map { $0.map { $0 * s2 } }, reducedChiSquare: s2, degreesOfFreedom: dof)
    }

    /// Gauss–Jordan with partial pivoting; nil for a (numerically) singular matrix.
    static func invert(_ m: [[Double]]) -> [[Double]]? {
        let p = m.count
        var a = m, inv = (0..<p).map { i in (0..<p).map { $0 == i ? 1.0 : 0.0 } }
        let scale = m.flatMap { $0 }.map(abs).max() ?? 0
        for col in 0..<p {
            let pivot = (col..<p).max { abs(a[$0][col]) < abs(a[$1][col]) }!
            guard abs(a[pivot][col]) > 1e-12 * scale else { return nil }
            a.swapAt(col, pivot)
            inv.swapAt(col, pivot)
            let d = a[col][col]
            for j in 0..<p {
                a[col][j] /= d
                inv[col][j] /= d
            }
            for r in 0..<p where r != col {
                let f = a[r][col]
                guard f != 0 else { continue }
                for j in 0..<p {
                    a[r][j] -= f * a[col][j]
                    inv[r][j] -= f * inv[col][j]
                }
            }
        }
        return inv
    }
}

extension PowerLawFit {
    /// Fits log y = a + Σ b_j log x_j. `weights` are on the log scale (1/variance of log y).
    init?(x: [[Double]], y: [Double], weights: [Double]?) {
        let design = x.map { [1.0] + $0.map(Foundation.log) }
        guard let solution = LeastSquares.fit(design: design, response: y.map(Foundation.log), weights: weights) else {
            return nil
        }
        let t = solution.degreesOfFreedom > 0 ? StudentT.quantile(0.975, degreesOfFreedom: Double(solution.degreesOfFreedom)) : .nan
        let estimates = solution.coefficients.indices.map { j in
            let se = solution.covariance.map { $0[j][j].squareRoot() }
            let value = solution.coefficients[j]
            return Estimate(value: value, standardError: se, ci95: se.map { [value - t * $0, value + t * $0] })
        }
        self.init(points: y.count, intercept: estimates[0], slopes: Array(estimates.dropFirst()), reducedChiSquare: solution.reducedChiSquare)
    }
}

extension ScalingFits {
    /// The fits a spec asks for, over a run's grid points.
    init(_ spec: FitSpec, points: [PointResult]) {
        var mcX = [[Double]](), mcY = [Double](), mcW = [Double]()
        var exactX = [[Double]](), exactY = [Double]()
        for p in points {
            // The plan checked that every point has a valid value for every regressor.
            let x = spec.against.map { FitSpec.regressor($0, value: p.parameters[$0] ?? "")! }
            let h = p.hittingTime
            // A censored mean is only a lower bound: it would bias the slope.
            if let mean = h.mean, let se = h.standardError, mean > 0, se > 0, !h.meanIsLowerBound {
                mcX.append(x)
                mcY.append(mean)
                // Delta method: se(log mean) = se / mean.
                mcW.append((mean / se) * (mean / se))
            }
            if let e = p.exact?.expectedHittingTime, e > 0, e.isFinite {
                exactX.append(x)
                exactY.append(e)
            }
        }
        let parameters = spec.against.count + 1
        self.init(
            response: spec.response.rawValue,
            regressors: spec.against.map { Regressor(parameter: $0, transform: FitSpec.transform($0)) },
            monteCarlo: mcY.count >= parameters ? PowerLawFit(x: mcX, y: mcY, weights: mcW) : nil,
            exact: exactY.count >= parameters ? PowerLawFit(x: exactX, y: exactY, weights: nil) : nil)
    }
}

/// Quantiles of Student's t distribution, for the fits' intervals.
enum StudentT {
    /// The p-quantile with ν degrees of freedom, by bisection on the distribution function.
    static func quantile(_ p: Double, degreesOfFreedom nu: Double) -> Double {
        precondition(p > 0 && p < 1 && nu > 0)
        if p < 0.5 { return -quantile(1 - p, degreesOfFreedom: nu) }
        var lo = 0.0, hi = 1.0
        while cdf(hi, nu) < p { hi *= 2 }
        for _ in 0..<200 where hi - lo > 1e-15 * hi {
            let mid = (lo + hi) / 2
            if cdf(mid, nu) < p { lo = mid } else { hi = mid }
        }
        return (lo + hi) / 2
    }

    /// P(T ≤ t) for t ≥ 0: 1 − I_{ν/(ν+t²)}(ν/2, 1/2) / 2.
    static func cdf(_ t: Double, _ nu: Double) -> Double {
        1 - 0.5 * regularizedIncompleteBeta(nu / (nu + t * t), nu / 2, 0.5)
    }

    /// I_x(a, b) by Lentz's continued fraction (Numerical Recipes, betacf), using the
    /// symmetry I_x(a, b) = 1 − I_{1−x}(b, a) where the fraction converges slowly.
    static func regularizedIncompleteBeta(_ x: Double, _ a: Double, _ b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        if x > (a + 1) / (a + b + 2) { return 1 - regularizedIncompleteBeta(1 - x, b, a) }
        let logBeta: Double = lgamma(a + b) - lgamma(a) - lgamma(b)
        let front = Foundation.exp(logBeta + a * Foundation.log(x) + b * Foundation.log(1 - x))
        let tiny = 1e-300
        var c = 1.0, d = 1 - (a + b) * x / (a + 1)
        d = 1 / (abs(d) < tiny ? tiny : d)
        var f = d
        for m in 1...10_000 {
            let m = Double(m)
            let even: Double = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            let odd: Double = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            for numerator in [even, odd] {
                d = 1 + numerator * d
                d = 1 / (abs(d) < tiny ? tiny : d)
                c = 1 + numerator / c
                if abs(c) < tiny { c = tiny }
                f *= c * d
            }
            if abs(c * d - 1) < 1e-16 { break }
        }
        return front * f / a
    }
}
