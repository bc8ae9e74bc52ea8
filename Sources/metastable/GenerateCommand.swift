import ArgumentParser
import Foundation
import Metastable

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write the chain of an experiment spec to a graph file, with its cluster labels beside it.",
        discussion: """
            The format follows the extension: .mtx (Matrix Market, as scipy.io.mmwrite writes it), \
            .csv (edge list) or .msgraph (binary, labels inside). For the text formats labels go to \
            the same path with the extension .labels.
            """
    )

    @Argument(help: "A YAML experiment spec, or the name of a built-in one (quickstart).")
    var spec: String

    @Option(name: .long, help: "Output graph file (.mtx, .csv or .msgraph).")
    var out: String

    @Option(name: .long, help: "Which grid point's chain to write (0-based).")
    var point: Int = 0

    func run() throws {
        let (plan, _) = try SpecSource.load(spec)
        guard plan.points.indices.contains(point) else {
            throw BadInput("--point \(point): the spec has \(plan.points.count) grid point(s)")
        }
        let chain = try ChainLoader.load(plan.points[point].spec.chain)
        let labels = labelsPath(beside: out, for: chain)
        try ChainFile.save(chain, to: out, labelsPath: labels)
        emit("wrote \(out) (\(chain.stateCount) states, \(chain.transitionCount) transitions)\(labels.map { " and \($0)" } ?? "")")
    }
}

/// Where the labels of `chain` go when it is written to `path`: beside it with the extension
/// `.labels` for the text formats, nowhere for a binary graph (which holds them) or a chain
/// without labels.
func labelsPath(beside path: String, for chain: Chain) -> String? {
    guard chain.clusters != nil, ChainFile.Format(pathExtensionOf: path) != .binary else { return nil }
    return URL(fileURLWithPath: path).deletingPathExtension().appendingPathExtension("labels").path
}
