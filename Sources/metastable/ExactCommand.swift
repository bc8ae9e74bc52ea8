import ArgumentParser
import Foundation
import Metastable

struct ExactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exact",
        abstract: "Expected hitting time of a target set, solved exactly."
    )

    @OptionGroup var graph: GraphOptions
    @OptionGroup var task: TaskOptions

    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    func run() throws {
        let chain = try graph.load()
        let (start, target) = try task.resolve(in: chain)
        let clock = Date()
        let solution = try ExactSolver.hittingTimes(chain, target: target)
        let value = try solution.expected(from: start)
        let seconds = Date().timeIntervalSince(clock)
        let closedForm = ClosedForm.hittingTime(chain: chain, start: start, target: target)
        if json {
            struct Output: Encodable {
                var expectedHittingTime: Double
                var errorEstimate: Double
                var method: String
                var closedForm: Double?
                var states: Int
                var seconds: Double
                enum CodingKeys: String, CodingKey {
                    case expectedHittingTime = "expected_hitting_time", errorEstimate = "error_estimate", method
                    case closedForm = "closed_form", states, seconds
                }
            }
            emit(try jsonString(Output(
                expectedHittingTime: value, errorEstimate: solution.errorEstimate, method: "\(solution.method)",
                closedForm: closedForm, states: chain.stateCount, seconds: seconds)))
        } else {
            emit("expected hitting time: \(Format.value(value, digits: 15))")
            emit("error estimate:        \(Format.value(solution.errorEstimate, digits: 3)) (relative)")
            emit("method:                \(solution.method)")
            if let closedForm { emit("closed form:           \(Format.value(closedForm, digits: 15))") }
            emit("solved in \(String(format: "%.3f", seconds)) s")
        }
    }
}
