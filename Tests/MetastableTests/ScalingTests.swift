import Foundation
import Testing
@testable import Metastable

/// The power-law fits and Theorem 3.2's scaling, E[τ] ≈ (K−1)·M/ε, measured.
@Suite("Scaling fits")
struct ScalingFitTests {
    @Test func leastSquaresMatchesAKnownWeightedFit() throws {
        // Reference: numpy, β = (XᵀWX)⁻¹XᵀWy, cov = s²(XᵀWX)⁻¹, s² = Σwr²/(n−p), scipy's t quantile.
        let x: [Double] = [1, 2, 3, 4, 5, 6], y = [1.1, 1.9, 3.2, 3.9, 5.1, 5.8], w: [Double] = [1, 2, 1, 2, 1, 3]
        let fit = try #require(LeastSquares.fit(design: x.map { [1, $0] }, response: y, weights: w))
        let covariance = try #require(fit.covariance)
        #expect(fit.degreesOfFreedom == 4)
        #expect(abs(fit.coefficients[0] - 0.09902913) < 1e-8)
        #expect(abs(fit.coefficients[1] - 0.9592233) < 1e-7)
        #expect(abs(covariance[0][0].squareRoot() - 0.14012739) < 1e-8)
        #expect(abs(covariance[1][1].squareRoot() - 0.0327565) < 1e-7)
        #expect(abs(try #require(fit.reducedChiSquare) - 0.03315533980582522) < 1e-14)
    }

    @Test func studentQuantilesMatchScipy() {
        for (nu, expected) in [(1.0, 12.706204736174694), (2, 4.302652729749462), (4, 2.7764451051977934), (32, 2.0369333434601016), (1000, 1.9623390808264083)] {
            #expect(abs(StudentT.quantile(0.975, degreesOfFreedom: nu) - expected) < 1e-9 * expected, "ν = \(nu)")
        }
        #expect(StudentT.quantile(0.025, degreesOfFreedom: 4) == -StudentT.quantile(0.975, degreesOfFreedom: 4))
    }

    @Test func anExactPowerLawIsRecoveredExactly() throws {
        // y = 3 · ε^−1.3 · M^0.7 · (K−1)^2 on a 3×3×3 grid: the residuals vanish, so do the errors.
        var x = [[Double]](), y = [Double]()
        for e in [0.1, 0.01, 0.003] {
            for m in [8.0, 20, 64] {
                for k in [2.0, 3, 7] {
                    x.append([e, m, k - 1])
                    y.append(3 * pow(e, -1.3) * pow(m, 0.7) * pow(k - 1, 2))
                }
            }
        }
        let fit = try #require(PowerLawFit(x: x, y: y, weights: nil))
        #expect(fit.points == 27)
        #expect(abs(fit.intercept.value - log(3)) < 1e-12)
        for (slope, expected) in zip(fit.slopes, [-1.3, 0.7, 2]) {
            #expect(abs(slope.value - expected) < 1e-12)
            #expect(try #require(slope.standardError) < 1e-10)
        }
        #expect(try #require(fit.reducedChiSquare) < 1e-24)
    }

    @Test func intervalsUseStudentT() throws {
        // The same data as the known WLS fit, through the power-law front end: log x and log y.
        let x: [Double] = [1, 2, 3, 4, 5, 6], y = [1.1, 1.9, 3.2, 3.9, 5.1, 5.8].map(exp)
        let fit = try #require(PowerLawFit(x: x.map { [exp($0)] }, y: y, weights: [1, 2, 1, 2, 1, 3]))
        let slope = fit.slopes[0], interval = try #require(slope.ci95)
        #expect(abs(interval[0] - 0.86827667) < 1e-7)
        #expect(abs(interval[1] - 1.05016993) < 1e-7)
    }

    @Test func specErrorsNameTheField() {
        let base = """
            chain: {clusters: 3, cluster_size: 8, epsilon: 0.1}
            grid:
              epsilon: [0.1, 0.05]
              clusters: [1, 3]
            """
        func error(_ fit: String) -> SpecError? {
            do {
                _ = try ExperimentPlan.parse(yaml: base + "\n" + fit, file: "s.yaml")
                return nil
            } catch {
                return error
            }
        }
        #expect(error("fit: {against: [cluster_size]}")?.field == "fit.against[0]")
        #expect(error("fit: {against: [cluster_size]}")?.message.contains("not swept") == true)
        #expect(error("fit: {against: [walks]}")?.message.contains("cannot fit against 'walks'") == true)
        #expect(error("fit: {against: [clusters]}")?.message.contains("log(clusters - 1)") == true)
        #expect(error("fit: {response: speed, against: [epsilon]}")?.field == "fit.response")
        #expect(error("fit: {against: [epsilon, epsilon]}")?.field == "fit.against[1]")
        #expect(error("fit: {against: []}")?.field == "fit.against")
        #expect(error("fit: {response: hitting_time}")?.message.contains("'against'") == true)
        #expect(error("fit: {against: [epsilon], by: x}")?.field == "fit.by")
        let plan = try? ExperimentPlan.parse(yaml: base + "\nfit: {against: [epsilon]}")
        #expect(plan?.fit == FitSpec(response: .hittingTime, against: ["epsilon"]))
    }

    @Test func scalingFileMatchesTheReferenceSpec() throws {
        let path = ExperimentSpecTests.packageRoot.appendingPathComponent("experiments/thm3.2-scaling.yaml").path
        let plan = try ExperimentPlan.parse(yaml: try String(contentsOfFile: path, encoding: .utf8), file: path)
        #expect(plan.gridParameters == ["epsilon", "cluster_size", "clusters"])
        #expect(plan.fit?.against == ["epsilon", "cluster_size", "clusters"])
    }

    /// A scaled-down thm3.2-scaling: slopes −1 in ε, +1 in M and in K − 1, each whole 95%
    /// interval inside ±0.2 of the theory, and the exact values within 0.01 of it.
    @Test func theorem32SlopesAreMeasured() throws {
        let results = try ExperimentRunnerTests.run("""
            name: scaling-small
            chain: {clusters: 3, cluster_size: 8, kernel: uniform, topology: chain, sources: 1, epsilon: 0.01, seed: 1}
            start: 0
            target: {cluster: last}
            walks: 2000
            seed: 5
            grid:
              epsilon: [0.04, 0.02, 0.01]
              cluster_size: [8, 16, 32]
              clusters: [2, 3, 5]
            fit: {response: hitting_time, against: [epsilon, cluster_size, clusters]}
            """)
        let fits = try #require(results.fits)
        #expect(fits.regressors.map(\.transform) == ["log(epsilon)", "log(cluster_size)", "log(clusters - 1)"])
        let mc = try #require(fits.monteCarlo), exact = try #require(fits.exact)
        #expect(mc.points == 27 && exact.points == 27)
        for (j, theory) in [-1.0, 1, 1].enumerated() {
            let interval = try #require(mc.slopes[j].ci95)
            #expect(theory - 0.2 <= interval[0] && interval[1] <= theory + 0.2, "\(fits.regressors[j].transform): \(interval)")
            #expect(abs(exact.slopes[j].value - theory) < 0.01, "\(fits.regressors[j].transform): \(exact.slopes[j].value)")
        }
        // The fit is part of results.json, deterministic like the rest of it.
        let json = String(decoding: try results.jsonData(), as: UTF8.self)
        #expect(json.contains("\"fits\""))
        #expect(json.contains("\"monte_carlo\""))
    }

    @Test func resultsWithoutAFitHaveNoFitsField() throws {
        let results = try ExperimentRunnerTests.run("""
            chain: {clusters: 2, cluster_size: 4, epsilon: 0.2}
            walks: 100
            """)
        #expect(results.fits == nil)
        #expect(!String(decoding: try results.jsonData(), as: UTF8.self).contains("fits"))
    }
}

/// The plotting script: the embedded copy equals the file, and it draws the reference run.
@Suite("Plot script")
struct PlotScriptTests {
    static let reference = ExperimentSpecTests.packageRoot.appendingPathComponent("docs/figures/thm3.2-scaling")
    static let expected = ["scaling-epsilon.png", "scaling-cluster_size.png", "scaling-clusters.png", "histograms.png"]

    @Test func embeddedScriptMatchesTheFile() throws {
        let file = try String(contentsOf: ExperimentSpecTests.packageRoot.appendingPathComponent("scripts/plot.py"), encoding: .utf8)
        #expect(file == BuiltinScripts.plot)
    }

    /// Needs python3 and matplotlib (scripts/setup.sh installs them): fails, never skips, without.
    @Test func scriptDrawsTheReferenceRun() throws {
        let out = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", ExperimentSpecTests.packageRoot.appendingPathComponent("scripts/plot.py").path, Self.reference.path,
            "--out", out.path,
        ]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = Pipe()
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "plot.py failed: \(stderr)")
        Self.expectFigures(in: out)
    }

    @Test func plotCommandRunsTheEmbeddedScript() throws {
        let out = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        let r = try CLI.run(["plot", Self.reference.path, "--out", out.path], in: out)
        #expect(r.status == 0, "\(r.stderr)")
        Self.expectFigures(in: out)
        let missing = try CLI.run(["plot", out.appendingPathComponent("nowhere").path])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("no results.json"))
    }

    @Test func plotCommandSaysHowToInstallMatplotlib() throws {
        // A module named matplotlib that fails to import stands in for a missing one.
        let fake = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: fake) }
        try Data("raise ImportError('absent')\n".utf8).write(to: fake.appendingPathComponent("matplotlib.py"))
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["plot", Self.reference.path, "--out", fake.path]
        process.environment = ProcessInfo.processInfo.environment.merging(["PYTHONPATH": fake.path]) { $1 }
        let err = Pipe()
        process.standardError = err
        process.standardOutput = Pipe()
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 2)
        #expect(stderr.contains("pip install matplotlib"), "\(stderr)")
    }

    static func expectFigures(in directory: URL, sourceLocation: SourceLocation = #_sourceLocation) {
        for name in expected {
            let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path) ?? Data()
            #expect(data.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(name) is not a PNG", sourceLocation: sourceLocation)
            #expect(data.count > 5_000 && data.count < 200_000, "\(name): \(data.count) bytes", sourceLocation: sourceLocation)
        }
    }
}
