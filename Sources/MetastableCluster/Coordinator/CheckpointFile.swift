import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A JSON file replaced atomically: after a crash at any point, the file holds either the
/// previous value or the new one, whole.
public enum CheckpointFile {
    /// Writes `value` as JSON with sorted keys to a temporary file in the same directory,
    /// flushes it to disk, renames it over `path` and flushes the directory, so that the
    /// rename itself survives a power cut.
    public static func write<T: Encodable>(_ value: T, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes: Data
        do {
            bytes = try encoder.encode(value)
        } catch {
            throw CheckpointError(path: path, "cannot encode: \(error)")
        }
        let directory = (path as NSString).deletingLastPathComponent
        let directoryPath = directory.isEmpty ? "." : directory
        var template = Array("\(directoryPath)/.\((path as NSString).lastPathComponent).XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw CheckpointError(path: path, "cannot create a temporary file: \(errnoText())") }
        let temporary = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        do {
            let file = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
            do {
                try file.write(contentsOf: bytes)
                try file.synchronize() // fsync
                try file.close()
            } catch {
                throw CheckpointError(path: temporary, "cannot write: \(error)")
            }
            guard rename(temporary, path) == 0 else {
                throw CheckpointError(path: path, "cannot rename \(temporary) to it: \(errnoText())")
            }
        } catch {
            unlink(temporary)
            throw error
        }
        let directoryFD = open(directoryPath, O_RDONLY | O_DIRECTORY)
        guard directoryFD >= 0 else { throw CheckpointError(path: directoryPath, "cannot open the directory: \(errnoText())") }
        defer { close(directoryFD) }
        guard fsync(directoryFD) == 0 else { throw CheckpointError(path: directoryPath, "cannot fsync the directory: \(errnoText())") }
    }

    /// The value in the file at `path`, or nil if there is no file there.
    ///
    /// - Throws: `CheckpointError` naming the path when the file cannot be read or does not
    ///   decode as `T` (a corrupt or foreign file is never mistaken for a missing one).
    public static func read<T: Decodable>(_ type: T.Type, from path: String) throws -> T? {
        let bytes: Data
        do {
            bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch let error as CocoaError where error.code == .fileReadNoSuchFile {
            return nil
        } catch {
            throw CheckpointError(path: path, "cannot read: \(error.localizedDescription)")
        }
        do {
            return try JSONDecoder().decode(T.self, from: bytes)
        } catch {
            throw CheckpointError(path: path, "not a valid checkpoint: \(error)")
        }
    }

    private static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}

public struct CheckpointError: Error, CustomStringConvertible {
    public var path: String
    public var message: String

    public init(path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}
