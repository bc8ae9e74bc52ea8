import Foundation
import Testing
@testable import Metastable

@Suite("BinaryGraph")
struct BinaryGraphTests {
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("metastable-binary-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Every stored field of two chains, compared exactly.
    static func expectEqual(_ a: Chain, _ b: Chain, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.stateCount == b.stateCount, sourceLocation: sourceLocation)
        #expect(a.rowOffsets == b.rowOffsets, sourceLocation: sourceLocation)
        #expect(a.columns == b.columns, sourceLocation: sourceLocation)
        #expect(a.probabilities == b.probabilities, sourceLocation: sourceLocation)
        #expect(a.kinds == b.kinds, sourceLocation: sourceLocation)
        #expect(a.uniformMass == b.uniformMass, sourceLocation: sourceLocation)
        #expect(a.clusters == b.clusters, sourceLocation: sourceLocation)
    }

    /// A uniform-kernel chain with decoys: labels, all three edge kinds and a uniform part.
    static let uniformChain = try! GeneratorSpec(
        clusters: 4, clusterSize: 9, kernel: .uniform, topology: .random(2), sources: 2, epsilon: .fixed(0.01), decoys: 2, seed: 3
    ).generate()
    static let permutationsChain = try! GeneratorSpec(
        clusters: 5, clusterSize: 12, kernel: .permutations(3), sources: 1, epsilon: .fixed(0.02), seed: 8
    ).generate()

    /// The bytes of `chain`'s file, and the error reading them back with `bytes` changed by `edit`.
    static func rejection(of chain: Chain, edit: (inout [UInt8]) -> Void) -> ChainError? {
        var bytes = ChainFile.encodeBinary(chain)
        edit(&bytes)
        do {
            _ = try ChainFile.parse(bytes: bytes, format: .binary, name: "g.msgraph")
            return nil
        } catch {
            return error
        }
    }

    /// The test chains by name, so that test output does not print whole chains.
    static let chains = ["uniform": uniformChain, "permutations": permutationsChain]

    @Test(arguments: ["uniform", "permutations"])
    func roundTripThroughAFileGivesTheSameChain(name: String) throws {
        let chain = try #require(Self.chains[name])
        #expect(chain.uniformMass.isEmpty == (chain.stateCount == 60), "the uniform kernel has a uniform part")
        let path = try Self.temporaryDirectory().appendingPathComponent("g.msgraph").path
        try ChainFile.save(chain, to: path)
        Self.expectEqual(try ChainFile.load(path: path), chain)
        let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(bytes.count <= 256 + 8 * (chain.stateCount + 1) + 16 * chain.entryCount + 12 * chain.stateCount + 6 * 64)
        // Without the extension, the magic names the format.
        Self.expectEqual(try ChainFile.parse(bytes: bytes, name: "graph"), chain)
    }

    @Test func theUniformChainHasAKindsSection() {
        #expect(Set(Self.uniformChain.kinds) == [.sparse, .decoy])
    }

    @Test func matrixMarketThroughBinaryIsIdentical() throws {
        let text = ChainFile.encode(Self.permutationsChain, format: .matrixMarket)
        let chain = try ChainFile.parse(text, format: .matrixMarket)
        let back = try ChainFile.parse(bytes: ChainFile.encodeBinary(chain), name: "g.msgraph")
        #expect(ChainFile.encode(back, format: .matrixMarket) == text)
        #expect(back.clusters == nil && back.kinds.allSatisfy { $0 == .dense })
    }

    @Test func truncatedFilesAreRejected() throws {
        let size = ChainFile.encodeBinary(Self.uniformChain).count
        for cut in [0, 5, 8, 100, 255, 256, 300, 1000, size / 2, size - 1] {
            let error = try #require(Self.rejection(of: Self.uniformChain) { $0.removeLast($0.count - cut) }, "cut at \(cut)")
            #expect(error.file == "g.msgraph")
            #expect(error.message.contains("truncated"), "cut at \(cut): \(error.message)")
        }
        let error = try #require(Self.rejection(of: Self.uniformChain) { $0.append(0) })
        #expect(error.message.contains("trailing data"))
    }

    @Test(arguments: ["uniform", "permutations"])
    func everySingleBitFlipIsRejected(name: String) throws {
        let chain = try #require(Self.chains[name])
        let size = ChainFile.encodeBinary(chain).count
        // Every bit of the header, then a spread of positions over the sections and padding.
        let positions = Array(0..<256 * 8) + Array(stride(from: 256 * 8, to: size * 8, by: 61))
        for bit in positions {
            let error = try #require(Self.rejection(of: chain) { $0[bit / 8] ^= 1 << UInt8(bit % 8) }, "bit \(bit)")
            #expect(error.file == "g.msgraph")
        }
    }

    @Test func messagesNameTheSectionAndPlace() throws {
        let chain = Self.uniformChain
        let layout = BinaryGraphLayout.extents(stateCount: chain.stateCount, edgeCount: chain.entryCount, flags: [.labels, .kinds, .uniform])
        let probabilities = layout.sections[BinaryGraphLayout.Section.probabilities.rawValue]
        let flipped = try #require(Self.rejection(of: chain) { $0[probabilities.offset + 13] ^= 4 })
        #expect(flipped.description == "g.msgraph: section 'probabilities' (bytes \(probabilities.offset)..<\(probabilities.end)): checksum mismatch, " + flipped.message.split(separator: ",", maxSplits: 1)[1].dropFirst())
        let header = try #require(Self.rejection(of: chain) { $0[20] ^= 1 })
        #expect(header.message.hasPrefix("header (bytes 0..<248): checksum mismatch"))
        let notBinary = try #require(Self.rejection(of: chain) { $0[0] = UInt8(ascii: "%") })
        #expect(notBinary.message.contains("not a binary graph"))
    }

    /// Contents a checksum cannot vouch for: a file written by a faulty writer, checksums correct.
    @Test func contentsAreValidatedBehindCorrectChecksums() throws {
        let chain = Self.permutationsChain
        var probabilities = chain.probabilities
        probabilities[7] = .nan
        let bad = Chain(
            validatedStateCount: chain.stateCount, rowOffsets: chain.rowOffsets, columns: chain.columns,
            probabilities: probabilities, kinds: chain.kinds, uniformMass: [], clusters: chain.clusters)
        let error = try #require(throws: ChainError.self) {
            try ChainFile.parse(bytes: ChainFile.encodeBinary(bad), name: "g.msgraph")
        }
        #expect(error.reason == .badProbability)
        #expect(error.message.hasPrefix("section 'probabilities', entry 7 (byte offset "), "\(error.message)")

        var columns = chain.columns
        columns[5] = UInt32(chain.stateCount)
        let outOfRange = Chain(
            validatedStateCount: chain.stateCount, rowOffsets: chain.rowOffsets, columns: columns,
            probabilities: chain.probabilities, kinds: chain.kinds, uniformMass: [], clusters: chain.clusters)
        let columnError = try #require(throws: ChainError.self) {
            try ChainFile.parse(bytes: ChainFile.encodeBinary(outOfRange), name: "g.msgraph")
        }
        #expect(columnError.reason == .badState && columnError.message.contains("entry 5"))
    }

    @Test func hittingTimeExperimentMatchesTheMatrixMarketFile() throws {
        let dir = try Self.temporaryDirectory()
        let chain = Self.permutationsChain
        try ChainFile.save(chain, to: dir.appendingPathComponent("g.mtx").path, labelsPath: dir.appendingPathComponent("g.labels").path)
        // Converted from the Matrix Market file, which has no edge kinds (the generated chain's
        // sparse edges would otherwise be counted only on the binary side).
        let imported = try ChainFile.load(path: dir.appendingPathComponent("g.mtx").path, labelsPath: dir.appendingPathComponent("g.labels").path)
        try ChainFile.save(imported, to: dir.appendingPathComponent("g.msgraph").path)
        func run(_ chainSpec: String) throws -> Data {
            let yaml = """
                chain: \(chainSpec)
                start: 0
                target: {cluster: last}
                walks: 3000
                seed: 5
                """
            let plan = try ExperimentPlan.parse(yaml: yaml, file: dir.appendingPathComponent("spec.yaml").path)
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            return try encoder.encode(ExperimentRunner(threads: 2).run(plan).0)
        }
        let text = try run("{graph: g.mtx, labels: g.labels}")
        let binary = try run("{graph: g.msgraph}")
        // The results name the graph file; everything else is the same.
        #expect(String(decoding: text, as: UTF8.self) == String(decoding: binary, as: UTF8.self).replacingOccurrences(of: "g.msgraph", with: "g.mtx"))
    }
}

@Suite("BinaryGraphCLI")
struct BinaryGraphCLITests {
    @Test func convertsMatrixMarketToBinaryAndBack() throws {
        let dir = try CLI.temporaryDirectory()
        try CLITests.smallMatrixMarket.write(to: dir.appendingPathComponent("g.mtx"), atomically: true, encoding: .utf8)
        try "0\n0\n1\n".write(to: dir.appendingPathComponent("g.labels"), atomically: true, encoding: .utf8)
        let forth = try CLI.run(["convert", "g.mtx", "g.msgraph", "--labels", "g.labels"], in: dir)
        #expect(forth.status == 0, "\(forth.stderr)")
        let back = try CLI.run(["convert", "g.msgraph", "h.mtx"], in: dir)
        #expect(back.status == 0, "\(back.stderr)")
        let direct = try CLI.run(["convert", "g.mtx", "direct.mtx"], in: dir)
        #expect(direct.status == 0, "\(direct.stderr)")
        #expect(try Data(contentsOf: dir.appendingPathComponent("h.mtx")) == Data(contentsOf: dir.appendingPathComponent("direct.mtx")))
        #expect(try String(contentsOf: dir.appendingPathComponent("h.labels"), encoding: .utf8) == "0\n0\n1\n")
        let exact = try CLI.run(["exact", "--graph", "g.msgraph", "--start", "0", "--target", "2", "--json"], in: dir)
        #expect(exact.status == 0 && exact.stdout.contains("expected_hitting_time"), "\(exact.stderr)")

        var bytes = try Data(contentsOf: dir.appendingPathComponent("g.msgraph"))
        bytes.removeLast(10)
        try bytes.write(to: dir.appendingPathComponent("cut.msgraph"))
        let cut = try CLI.run(["convert", "cut.msgraph", "x.mtx"], in: dir)
        #expect(cut.status == 2)
        #expect(cut.stderr.contains("cut.msgraph: truncated"), "\(cut.stderr)")
    }
}
