import Foundation
import Metastable

/// `metastable bench --suite`: one markdown table of how close the project comes to the
/// hardware, every implementation on the same exported graphs. The references are external
/// programs (scripts/bench: walk.c compiled with cc -O3 -march=native, walk_numpy.py,
/// spsolve.py); a missing compiler or Python leaves its cells empty and says why.
struct BenchSuiteRunner {
    /// scripts/bench, holding walk.c and the Python references.
    var scripts: URL
    /// A compiled walk.c; nil to compile it here with cc.
    var cBinary: URL?
    var log: (String) -> Void

    /// Per-walk step budgets: about half a second per run on one core of this machine.
    static let inCacheSteps: UInt64 = 6_000_000, lanesSteps: UInt64 = 20_000_000, singleSteps: UInt64 = 1_500_000, interleavedSteps: UInt64 = 800_000

    /// A row of the table: what, Swift's value, the reference's, their ratio, the target.
    struct Row {
        var measurement: String, swift: String, reference: String, ratio: String, target: String
    }

    /// Exports the suite's graphs into `directory`: in-cache.walk, out-of-cache.walk, solver.walk.
    static func export(
        to directory: URL, log: (String) -> Void
    ) throws -> (inCache: BenchSuite.Walk, outOfCache: BenchSuite.Walk, solver: (chain: Chain, walk: BenchSuite.Walk)) {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let inCache = try BenchSuite.inCacheWalk()
        let outOfCache = try BenchSuite.outOfCacheWalk()
        let solver = try BenchSuite.solverChain()
        for (walk, file) in [(inCache, "in-cache"), (outOfCache, "out-of-cache"), (solver.walk, "solver")] {
            try walk.export(to: directory.appendingPathComponent("\(file).walk"))
            log("exported \(walk.name) to \(directory.path)/\(file).walk")
        }
        return (inCache, outOfCache, solver)
    }

    func run() throws -> [Row] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("metastable-bench-\(getpid())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (inCache, outOfCache, solver) = try Self.export(to: directory, log: log)
        let graph = { (file: String) in directory.appendingPathComponent("\(file).walk").path }
        let c = cBinary.map { $0.path } ?? compileC(into: directory)

        // The median steps/s of three runs of a reference; nil when it is unavailable.
        func reference(_ command: [String]?) -> Double? {
            guard let command else { return nil }
            let rates = (0..<3).compactMap { _ in runJSON(command)?["steps_per_second"] }
            return rates.count == 3 ? rates.sorted()[1] : nil
        }
        let numpy = { (file: String, walks: Int, steps: Int) in
            ["python3", scripts.appendingPathComponent("walk_numpy.py").path, graph(file), "\(walks)", "\(steps)", "1"]
        }
        let cWalk = { (file: String, walkers: Int, steps: UInt64) in
            c.map { [$0, graph(file), "\(walkers)", "\(walkers)", "\(steps)", "1"] }
        }

        // Each graph at the kernel's own choice of interleaved walks, the C loop at the same.
        let (wIn, wOut) = (inCache.defaultWalkers, outOfCache.defaultWalkers)
        log("measuring the in-cache graph: \(inCache.name)")
        let scalarIn = try inCache.stepsPerSecond(walkers: wIn, stepsPerWalk: Self.inCacheSteps, kernel: .scalar)
        let lanesIn = try inCache.runsInLanes(walkers: wIn)
            ? try inCache.stepsPerSecond(walkers: wIn, stepsPerWalk: Self.lanesSteps) : nil
        let cIn = reference(cWalk("in-cache", wIn, Self.inCacheSteps))
        let numpyIn = reference(numpy("in-cache", 100_000, 100))
        log("measuring the out-of-cache graph: \(outOfCache.name)")
        let swiftOne = try outOfCache.stepsPerSecond(walkers: 1, stepsPerWalk: Self.singleSteps)
        let scalarMany = try outOfCache.stepsPerSecond(walkers: wOut, stepsPerWalk: Self.interleavedSteps, kernel: .scalar)
        let lanesMany = try outOfCache.runsInLanes(walkers: wOut)
            ? try outOfCache.stepsPerSecond(walkers: wOut, stepsPerWalk: Self.interleavedSteps) : nil
        let swiftMany = lanesMany ?? scalarMany
        let cOne = reference(cWalk("out-of-cache", 1, Self.singleSteps))
        let cMany = reference(cWalk("out-of-cache", wOut, Self.interleavedSteps))
        let numpyOut = reference(numpy("out-of-cache", 100_000, 30))

        log("timing the exact solver and scipy's spsolve: \(solver.walk.name)")
        let exact = try BenchSuite.solve(solver.chain, walk: solver.walk)
        let scipy = runJSON(["python3", scripts.appendingPathComponent("spsolve.py").path, graph("solver")])

        log("measuring the cluster path (local worker processes)")
        let cluster = try ClusterBenchmark.run(log: log)

        let inName = "in cache (\(inCache.name)), \(wIn) walks interleaved", outName = "out of cache (\(outOfCache.name))"
        var rows = [
            Row(measurement: "\(inName), scalar kernel, M steps/s/core", swift: Self.rate(scalarIn),
                reference: Self.rate(cIn, "C -O3"), ratio: Self.ratio(scalarIn, cIn), target: "≥ 0.60 of C"),
            Row(measurement: "\(inName), lane kernel (AVX-512, 8 walks a vector), M steps/s/core",
                swift: lanesIn.map { Self.rate($0) } ?? "no AVX-512 here", reference: Self.rate(cIn, "C -O3"), ratio: Self.ratio(lanesIn, cIn), target: ""),
            Row(measurement: "\(inName), the kernel it runs (\(lanesIn == nil ? "scalar" : "lanes")) against numpy",
                swift: Self.rate(lanesIn ?? scalarIn), reference: Self.rate(numpyIn, "numpy"),
                ratio: Self.ratio(lanesIn ?? scalarIn, numpyIn, times: true), target: "≥ 10×"),
            Row(measurement: "\(outName), 1 walk, M steps/s/core", swift: Self.rate(swiftOne), reference: Self.rate(cOne, "C -O3"),
                ratio: Self.ratio(swiftOne, cOne), target: ""),
            Row(measurement: "\(outName), \(wOut) walks interleaved, scalar kernel, M steps/s/core", swift: Self.rate(scalarMany),
                reference: Self.rate(cMany, "C -O3"), ratio: Self.ratio(scalarMany, cMany), target: ""),
            Row(measurement: "\(outName), \(wOut) walks interleaved, lane kernel (pipelined), M steps/s/core",
                swift: lanesMany.map { Self.rate($0) } ?? "no AVX-512 here", reference: Self.rate(cMany, "C -O3"),
                ratio: Self.ratio(lanesMany, cMany), target: "≥ 20 M steps/s"),
            Row(measurement: "out of cache, \(wOut) interleaved (\(lanesMany == nil ? "scalar" : "lanes")) over 1 walk",
                swift: Self.rate(swiftMany), reference: Self.rate(swiftOne, "Swift, 1 walk"),
                ratio: Self.ratio(swiftMany, swiftOne, times: true), target: "≥ 8×"),
            Row(measurement: "out of cache, \(wOut) interleaved (\(lanesMany == nil ? "scalar" : "lanes")) against numpy",
                swift: Self.rate(swiftMany),
                reference: Self.rate(numpyOut, "numpy"), ratio: Self.ratio(swiftMany, numpyOut, times: true), target: "≥ 10×"),
        ]
        for m in cluster {
            rows.append(Row(
                measurement: "cluster: \(m.name) (\(m.detail))", swift: String(format: "%.2f %@", m.value, m.unit),
                reference: "", ratio: "", target: ""))
        }
        let scipySeconds = scipy?["seconds"], scipyH = scipy?["hitting_time"]
        rows.append(Row(
            measurement: "exact hitting time, \(solver.walk.name): seconds (h at the start, Swift vs scipy)",
            swift: String(format: "%.2f s (h = %.6g)", exact.seconds, exact.hittingTime),
            reference: scipySeconds.map { String(format: "spsolve %.2f s (h = %.6g)", $0, scipyH ?? .nan) } ?? "spsolve unavailable",
            ratio: scipySeconds.map { String(format: "%.2f× faster; relative difference %.1e", $0 / exact.seconds,
                                              abs(exact.hittingTime - (scipyH ?? .nan)) / exact.hittingTime) } ?? "",
            target: ""))
        return rows
    }

    static func markdown(_ rows: [Row]) -> String {
        (["| measurement | metastable | reference | ratio | target |", "|---|---|---|---|---|"]
            + rows.map { "| \($0.measurement) | \($0.swift) | \($0.reference) | \($0.ratio) | \($0.target) |" })
            .joined(separator: "\n")
    }

    private static func rate(_ value: Double?, _ label: String? = nil) -> String {
        guard let value else { return label.map { "\($0) unavailable" } ?? "" }
        return (label.map { "\($0): " } ?? "") + String(format: "%.1f", value / 1e6)
    }

    private static func ratio(_ a: Double?, _ b: Double?, times: Bool = false) -> String {
        guard let a, let b else { return "" }
        return String(format: times ? "%.1f×" : "%.2f", a / b)
    }

    /// Compiles walk.c with cc -O3 -march=native; nil, said on the log, when that fails.
    private func compileC(into directory: URL) -> String? {
        let binary = directory.appendingPathComponent("walk").path
        let source = scripts.appendingPathComponent("walk.c").path
        guard runJSON(["cc", "-O3", "-march=native", "-o", binary, source, "-lm"], expectJSON: false) != nil else {
            log("the C reference is skipped: cc -O3 -march=native \(source) failed or cc is missing")
            return nil
        }
        return binary
    }

    /// Runs `command` (looked up on PATH) and parses the numbers of the JSON object on its
    /// standard output; an empty object when `expectJSON` is false. Nil, with the reason on
    /// the log, when it cannot run or fails.
    private func runJSON(_ command: [String], expectJSON: Bool = true) -> [String: Double]? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch {
            log("\(command[0]) could not start: \(error)")
            return nil
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            log("\(command.prefix(2).joined(separator: " ")) failed (status \(process.terminationStatus)): \(errors.suffix(300))")
            return nil
        }
        guard expectJSON else { return [:] }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            log("\(command.prefix(2).joined(separator: " ")) printed no JSON object")
            return nil
        }
        return object.compactMapValues { ($0 as? NSNumber)?.doubleValue }
    }
}
