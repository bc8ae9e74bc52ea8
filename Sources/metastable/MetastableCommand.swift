import ArgumentParser
import Foundation
import Metastable
import MetastableCluster

/// `metastable`: hitting times of metastable Markov chains, by Monte Carlo and exactly.
@main
struct MetastableCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metastable",
        abstract: "Simulate metastable Markov chains: hitting times by Monte Carlo and by exact solves.",
        discussion: """
            State ids are 0-based everywhere. Exit codes: 0 success, 2 bad input (the message \
            says what and where), 1 internal failure.
            """,
        version: "0.1.0",
        subcommands: [
            RunCommand.self, ExactCommand.self, SimulateCommand.self, GenerateCommand.self, ConvertCommand.self, BenchCommand.self,
            CoordinatorCommand.self, WorkerCommand.self, KeygenCommand.self, SimulateClusterCommand.self,
            PlotCommand.self, LocalLimitCommand.self,
        ]
    )

    /// Runs the command and maps failures to the documented exit codes.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as ChainError {
            fail("\(error)", code: 2)
        } catch let error as SpecError {
            fail("\(error)", code: 2)
        } catch let error as WalkError {
            fail("\(error)", code: error.reason == .outOfMemory ? 1 : 2)
        } catch let error as CoordinatorError {
            fail(error.message, code: 2)
        } catch let error as WorkerError {
            fail("\(error)", code: 2)
        } catch let error as BadInput {
            fail(error.message, code: 2)
        } catch let error as InternalFailure {
            fail("internal failure: \(error.message)", code: 1)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            // What ArgumentParser rejects is bad input; anything else is ours.
            fail(fullMessage(for: error), code: code == .validationFailure ? 2 : 1)
        }
    }

    private static func fail(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        Foundation.exit(code)
    }
}

/// A user mistake that no library error type describes.
struct BadInput: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// A failure that is ours, not the user's.
struct InternalFailure: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// Writes `text` to standard output and flushes (stdout to a pipe is fully buffered).
func emit(_ text: String) {
    print(text)
    fflush(nil)
}

/// Pretty, key-sorted JSON.
func jsonString<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
