import ArgumentParser
import Metastable

/// `metastable convert IN OUT`: a graph file in another format, e.g. Matrix Market to the
/// binary format for a chain too large to parse as text on every run, or back for scipy.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a graph file between Matrix Market, edge-list CSV and the binary format.",
        discussion: """
            Formats follow the extensions: .mtx, .csv, .msgraph. Labels given with --labels go into \
            a binary output; a text output gets the chain's labels beside it, with the extension .labels. \
            The text formats store explicit transitions only, so a uniform-within-cluster part is \
            written out entry by entry.
            """
    )

    @Argument(help: "Input graph file (.mtx, .csv or .msgraph).")
    var input: String

    @Argument(help: "Output graph file (.mtx, .csv or .msgraph).")
    var output: String

    @Option(name: .long, help: "Cluster labels of the input, one per line (state i on line i+1).")
    var labels: String?

    @Flag(name: .long, help: "Rescale the input's rows to sum to 1 instead of rejecting them (text formats).")
    var normalize = false

    func run() throws {
        let chain = try ChainFile.load(path: input, labelsPath: labels, normalize: normalize)
        let outputLabels = labelsPath(beside: output, for: chain)
        try ChainFile.save(chain, to: output, labelsPath: outputLabels)
        emit("wrote \(output) (\(chain.stateCount) states, \(chain.transitionCount) transitions)\(outputLabels.map { " and \($0)" } ?? "")")
    }
}
