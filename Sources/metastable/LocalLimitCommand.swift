import ArgumentParser
import Foundation
import Metastable

/// `metastable local-limit`: the limit-of-local-information experiment (paper-notes §6).
struct LocalLimitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "local-limit",
        abstract: "Success of the best learner per access level (nothing, path, neighbourhood, kernel) as K grows.",
        discussion: """
            Each task is a fresh chain of K clusters (permutations(d) kernel, chain topology, decoys) \
            with Z_2 labels on its hard edges, and one walk from cluster 1 into cluster K; the learner \
            must output the XOR of the bits on the true sparse edges. See LocalInformationExperiment. \
            The same experiment as a grid over K with figures: metastable run experiments/local-limit.yaml.
            """
    )

    @Option(name: .customLong("k"), help: "Comma-separated values of K, each at least 2.")
    var clusterCounts: String = "2,4,6,8,10,12"

    @Option(name: .long, help: "Tasks per K.")
    var tasks: Int = 1000

    @Option(name: .long, help: "States per cluster (M).")
    var clusterSize: Int = 64

    @Option(name: .long, help: "Probability of every sparse and decoy edge (ε), below 1/(d + 1).")
    var epsilon: Double = 0.05

    @Option(name: .long, help: "Decoy edges per cluster.")
    var decoys: Int = 2

    @Option(name: .long, help: "d of the dense kernel permutations(d).")
    var degree: Int = 3

    @Option(name: .long, help: "Seed of every random choice.")
    var seed: UInt64 = 1

    @Flag(name: .long, help: "Print the report as one JSON object.")
    var json = false

    func run() throws {
        let values = clusterCounts.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let ks = values.compactMap { Int($0) }
        guard ks.count == values.count, !ks.isEmpty else {
            throw BadInput("--k \(clusterCounts): expected comma-separated integers such as 2,4,6")
        }
        let config = LocalInformationExperiment.Config(
            clusterCounts: ks, clusterSize: clusterSize, epsilon: epsilon, kernelDegree: degree,
            decoysPerCluster: decoys, tasksPerK: tasks, seed: seed)
        let report = try LocalInformationExperiment.run(config)
        emit(json ? try jsonString(report) : report.text)
    }
}
