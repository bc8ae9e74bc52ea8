import Foundation

/// Worker processes of this very binary on this machine: what `metastable run` starts so
/// that the default path exercises the real distributed code.
public final class LocalWorkers: @unchecked Sendable {
    // @unchecked: `processes` is written in `start` only, before any other thread sees it.
    private var processes: [Process] = []
    private let executable: URL
    private let arguments: [String]
    private let directory: URL?

    /// - Parameters:
    ///   - directory: the workers' working directory (relative graph paths resolve there).
    ///   - credits: leases each worker holds at once (default: the worker's own choice).
    public init(
        executable: URL, endpoint: String, count: Int, threads: Int, logLevel: String, credits: Int? = nil, directory: URL? = nil,
        walkersPerThread: Int? = nil
    ) {
        self.executable = executable
        arguments = ["worker", "--connect", endpoint, "--threads", "\(threads)", "--log-level", logLevel, "--exit-with-parent"]
            + (walkersPerThread.map { ["--walkers-per-thread", "\($0)"] } ?? [])
            + (credits.map { ["--credits", "\($0)"] } ?? [])
        self.directory = directory
        processes = (0..<count).map { _ in Process() }
    }

    /// The running binary, to start copies of it.
    public static var currentExecutable: URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    }

    public func start() throws {
        for process in processes {
            process.executableURL = executable
            process.arguments = arguments
            if let directory { process.currentDirectoryURL = directory }
            try process.run()
        }
    }

    public var pids: [Int32] { processes.map(\.processIdentifier) }

    /// True once every worker has exited.
    public var allExited: Bool { processes.allSatisfy { !$0.isRunning } }

    /// Waits up to `timeout` for the workers to exit after a SHUTDOWN, then kills the rest.
    public func wait(timeout: Duration) {
        let deadline = ContinuousClock.now + timeout
        while !allExited, ContinuousClock.now < deadline { usleep(10_000) }
        for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) }
        for process in processes { process.waitUntilExit() }
    }
}
