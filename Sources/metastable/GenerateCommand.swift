import ArgumentParser
import Foundation
import Metastable

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write the chain of an experiment spec to a graph file, with its cluster labels beside it.",
        discussion: """
            The format follows the extension: .mtx (Matrix Market, as scipy.io.mmwrite writes it) or \
            .csv (edge list). Labels go to the same path with the extension .labels.
            """
    )

    @Argument(help: "A YAML experiment spec, or the name of a built-in one (quickstart).")
    var spec: String

    @Option(name: .long, help: "Output graph file (.mtx or .csv).")
    var out: String

    @Option(name: .long, help: "Which grid point's chain to write (0-based).")
    var point: Int = 0

    func run() throws {
        let (plan, _) = try SpecSource.load(spec)
        guard plan.points.indices.contains(point) else {
            throw BadInput("--point \(point): the spec has \(plan.points.count) grid point(s)")
        }
        let chain = try ChainLoader.load(plan.points[point].spec.chain)
        let labels = chain.clusters == nil ? nil : URL(fileURLWithPath: out).deletingPathExtension().appendingPathExtension("labels").path
        try ChainFile.save(chain, to: out, labelsPath: labels)
        emit("wrote \(out) (\(chain.stateCount) states, \(chain.transitionCount) transitions)\(labels.map { " and \($0)" } ?? "")")
    }
}
