import ArgumentParser
import Foundation
import Metastable

struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw the figures of a results directory as PNG files (needs python3 and matplotlib).",
        discussion: """
            Reads results.json, results.csv and histograms.csv and writes scaling-<parameter>.png \
            (E[τ] against each swept parameter, log-log, with Monte Carlo error bars, exact values, \
            the fitted power law and the theoretical slope) and histograms.png. Runs python3 with \
            the plotting script compiled into this binary (scripts/plot.py in the repository).
            """
    )

    @Argument(help: "A results directory, as `metastable run` writes it.")
    var directory: String

    @Option(name: .long, help: "Where to write the PNG files. Default: the results directory.")
    var out: String?

    func run() throws {
        guard FileManager.default.fileExists(atPath: URL(fileURLWithPath: directory).appendingPathComponent("results.json").path) else {
            throw BadInput("\(directory): no results.json (expected the output directory of `metastable run`)")
        }
        switch try runScript() {
        case 0: return
        // The script has said what is wrong (no matplotlib, unreadable results): bad input.
        case 2, 3: Foundation.exit(2)
        // env's status when python3 is not on PATH.
        case 127: throw BadInput("python3 not found on PATH: install Python 3, then pip install matplotlib")
        case let status: throw InternalFailure("the plotting script failed with status \(status)")
        }
    }

    /// Runs the embedded script with python3; returns its exit status.
    private func runScript() throws -> Int32 {
        // The binary may run far from the repository, so the script travels inside it.
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("metastable-plot-\(getpid()).py")
        try Data(BuiltinScripts.plot.utf8).write(to: script)
        defer { try? FileManager.default.removeItem(at: script) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, directory] + (out.map { ["--out", $0] } ?? [])
        do {
            try process.run()
        } catch {
            throw BadInput("cannot run python3 (\(error.localizedDescription)): install Python 3, then pip install matplotlib")
        }
        process.waitUntilExit()
        return process.terminationStatus
    }
}
