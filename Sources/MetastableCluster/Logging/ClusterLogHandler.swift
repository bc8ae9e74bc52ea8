import Foundation
import Logging
import Synchronization

/// The cluster's swift-log backend: one line per record on a file descriptor (stderr unless
/// told otherwise), as JSON or for people (see `LogFormat`).
///
/// `role` and `runID` are the process's defaults; metadata named `role` or `run_id` replaces
/// them, so a worker that learns the run id from its JOB can set
/// `logger[metadataKey: "run_id"] = "\(id)"`.
public struct ClusterLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public let format: LogFormat
    public let role: String
    public let runID: String?
    private let fileDescriptor: Int32

    public init(
        role: String, runID: String?, level: Logger.Level, format: LogFormat,
        fileDescriptor: Int32 = STDERR_FILENO, metadataProvider: Logger.MetadataProvider? = nil
    ) {
        self.role = role
        self.runID = runID
        self.logLevel = level
        self.format = format
        self.fileDescriptor = fileDescriptor
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // Later sources win: the handler's metadata, the provider's, the call site's.
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { $1 } }
        if let explicit = event.metadata { fields.merge(explicit) { $1 } }
        if let error = event.error, fields["error"] == nil { fields["error"] = "\(error)" }
        let role = fields.removeValue(forKey: "role").map { "\($0)" } ?? self.role
        let runID = fields.removeValue(forKey: "run_id").map { "\($0)" } ?? self.runID
        let record = LogRecord(
            date: Date(), level: event.level, message: event.message.description, role: role, runID: runID,
            metadata: fields)
        LogOutput.write(format.render(record) + "\n", to: fileDescriptor)
    }
}

enum LogOutput {
    private static let lock = Mutex(())

    /// One write(2) for the whole line, so lines from threads and processes sharing the
    /// descriptor do not interleave (a pipe keeps writes up to PIPE_BUF whole). The lock
    /// covers the rare partial write, whose remainder must follow before another thread's line.
    /// A line that cannot be written is dropped: logging never stops the program.
    static func write(_ line: String, to fileDescriptor: Int32) {
        let bytes = Array(line.utf8)
        lock.withLock { _ in
            bytes.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = Foundation.write(fileDescriptor, buffer.baseAddress! + offset, buffer.count - offset)
                    if written > 0 {
                        offset += written
                    } else if written < 0, errno == EINTR {
                        continue
                    } else {
                        return
                    }
                }
            }
        }
    }
}

/// Installs `ClusterLogHandler` as the process's swift-log backend.
public enum ClusterLogging {
    private static let bootstrapped = Mutex(false)

    /// Makes every `Logger` created afterwards write through `ClusterLogHandler` on stderr.
    /// `json` nil picks JSON unless stderr is a terminal. swift-log allows one bootstrap per
    /// process (a second traps), so only the first call here takes effect; later calls return
    /// false and change nothing. Nothing else in the process may call `LoggingSystem.bootstrap`.
    @discardableResult
    public static func bootstrap(role: String, runID: String?, level: Logger.Level, json: Bool?) -> Bool {
        let first = bootstrapped.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return false }
        let format: LogFormat = json ?? (isatty(STDERR_FILENO) == 0) ? .json : .human
        LoggingSystem.bootstrap { _ in ClusterLogHandler(role: role, runID: runID, level: level, format: format) }
        return true
    }
}
