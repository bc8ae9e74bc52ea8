import Foundation
import Testing

@Suite("Wire: generated C code")
struct WireGeneratedCodeTests {
    static let root = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Fails (never skips) when protoc-c is missing: scripts/setup.sh installs it, and
    /// without it nobody can tell whether the committed code matches the schema.
    @Test func committedCodeIsWhatGenProtoGenerates() throws {
        let scratch = FileManager.default.temporaryDirectory.appending(path: "metastable-gen-proto-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }

        let script = Process()
        script.executableURL = Self.root.appending(path: "scripts/gen-proto.sh")
        script.arguments = [scratch.path]
        let errors = Pipe()
        script.standardError = errors
        try script.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        script.waitUntilExit()
        try #require(script.terminationStatus == 0, "scripts/gen-proto.sh failed: \(message)")

        for file in ["metastable.pb-c.c", "include/metastable.pb-c.h"] {
            let generated = try Data(contentsOf: scratch.appending(path: file))
            let committed = try Data(contentsOf: Self.root.appending(path: "Sources/MetastableWire/\(file)"))
            #expect(generated == committed, "Sources/MetastableWire/\(file) is stale: run scripts/gen-proto.sh")
            // Nothing of this machine leaks into the output.
            let text = String(decoding: generated, as: UTF8.self)
            #expect(!text.contains(Self.root.path) && !text.contains(scratch.path))
        }
    }
}
