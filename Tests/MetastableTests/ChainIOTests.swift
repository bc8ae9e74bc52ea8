import Foundation
import Testing
@testable import Metastable

@Suite("ChainIO")
struct ChainIOTests {
    /// The literal output of `scipy.io.mmwrite` for a 3-state chain.
    static let scipyFile = """
        %%MatrixMarket matrix coordinate real general
        %
        3 3 5
        1 1 5E-1
        1 2 5E-1
        2 3 1
        3 1 2.5E-1
        3 3 7.5E-1

        """

    // MARK: Matrix Market

    @Test func parsesScipyOutput() throws {
        let chain = try ChainFile.parse(Self.scipyFile, format: .matrixMarket)
        #expect(chain.stateCount == 3)
        #expect(chain.entryCount == 5)
        #expect(dense(chain) == [[0.5, 0.5, 0], [0, 0, 1], [0.25, 0, 0.75]])
        #expect(chain.kinds.allSatisfy { $0 == .dense })
    }

    @Test func acceptsScipyNumberSpellings() throws {
        let text = """
            %%MatrixMarket matrix coordinate real general
            %
            % scipy writes values like these, depending on version and precision
            \r
            3 3 6
            1 1 6.25E-2
            1 1 +4.375e-1
            1 2 0.5
            2 1 1e-08
            2 2 9.9999999000000006e-01
            3 3 1.000000000000000e+00\r

            """
        let chain = try ChainFile.parse(text, format: .matrixMarket)
        #expect(chain.probability(from: 0, to: 0) == 0.0625 + 0.4375)
        #expect(chain.probability(from: 0, to: 1) == 0.5)
        #expect(chain.probability(from: 1, to: 0) == 1e-8)
        #expect(chain.probability(from: 1, to: 1) == 0.99999999000000006)
        #expect(chain.probability(from: 2, to: 2) == 1)
    }

    @Test func sumsDuplicateEntriesAndAcceptsAnyRowOrder() throws {
        let text = """
            %%MatrixMarket matrix coordinate real general
            2 2 4
            2 1 1
            1 2 0.25
            1 1 0.5
            1 2 0.25

            """
        let chain = try ChainFile.parse(text, format: .matrixMarket)
        #expect(dense(chain) == [[0.5, 0.5], [1, 0]])
        #expect(chain.entryCount == 3)
    }

    @Test func integerCountsWithNormalize() throws {
        let text = """
            %%MatrixMarket matrix coordinate integer general
            2 2 3
            1 1 3
            1 2 1
            2 1 7

            """
        let chain = try ChainFile.parse(text, format: .matrixMarket, normalize: true)
        #expect(dense(chain) == [[0.75, 0.25], [1, 0]])
    }

    @Test func normalizeRescalesRealRows() throws {
        let text = "%%MatrixMarket matrix coordinate real general\n2 2 3\n1 1 2\n1 2 2\n2 2 0.5\n"
        #expect(dense(try ChainFile.parse(text, format: .matrixMarket, normalize: true)) == [[0.5, 0.5], [0, 1]])
    }

    @Test func matrixMarketRoundTripIsExact() throws {
        let chain = try randomChain(states: 60, seed: 3)
        let text = ChainFile.encode(chain, format: .matrixMarket)
        #expect(text.hasPrefix("%%MatrixMarket matrix coordinate real general\n% metastable chain: 60 states\n60 60 \(chain.entryCount)\n"))
        let back = try ChainFile.parse(text, format: .matrixMarket)
        #expect(back.rowOffsets == chain.rowOffsets)
        #expect(back.columns == chain.columns)
        #expect(back.probabilities == chain.probabilities)
        let again = try ChainFile.parse(ChainFile.encode(back, format: .matrixMarket), format: .matrixMarket)
        #expect(again.probabilities == chain.probabilities)
        #expect(ChainFile.encode(again, format: .matrixMarket) == text)
    }

    @Test func textWritersExpandUniformParts() throws {
        let chain = try uniformChain()
        for format in [ChainFile.Format.matrixMarket, .edgeList] {
            let back = try ChainFile.parse(ChainFile.encode(chain, format: format), format: format)
            #expect(back.entryCount == chain.transitionCount)
            for x in 0..<chain.stateCount {
                for y in 0..<chain.stateCount {
                    #expect(back.probability(from: x, to: y) == chain.probability(from: x, to: y), "p(\(x), \(y)) in \(format)")
                }
            }
        }
    }

    // MARK: Edge lists

    @Test func edgeListWithoutHeader() throws {
        let text = """
            # a comment
            0,1,0.5
            0,0,0.5

            1, 0 ,1
            """
        let chain = try ChainFile.parse(text, format: .edgeList)
        #expect(dense(chain) == [[0.5, 0.5], [1, 0]])
    }

    @Test func edgeListWithHeaderAndKinds() throws {
        let text = """
            from,to,probability,kind
            2,0,0.001,sparse
            0,1,1,dense
            1,0,0.999,Decoy
            1,2,0.001,sparse
            2,2,0.999,dense

            """
        let chain = try ChainFile.parse(text, format: .edgeList)
        #expect(chain.stateCount == 3)
        #expect(chain.probability(from: 2, to: 0) == 0.001)
        let kinds = (0..<3).flatMap { x in chain.entries(of: x).map { chain.kinds[$0] } }
        #expect(kinds == [.dense, .decoy, .sparse, .sparse, .dense])

        let back = try ChainFile.parse(ChainFile.encode(chain, format: .edgeList), format: .edgeList)
        #expect(back.kinds == chain.kinds)
        #expect(back.probabilities == chain.probabilities)
        #expect(ChainFile.encode(chain, format: .edgeList).hasPrefix("from,to,probability,kind\n0,1,1.0,dense\n"))
    }

    @Test func edgeListHeaderWithoutKinds() throws {
        let chain = try ChainFile.parse("\u{FEFF}From, To, Probability\r\n0,0,1\r\n", format: .edgeList)
        #expect(dense(chain) == [[1]])
        // A byte order mark does not hide the Matrix Market banner either.
        #expect(try ChainFile.parse("\u{FEFF}" + Self.scipyFile).stateCount == 3)
    }

    @Test func edgeListStateCountGivenExplicitly() throws {
        let chain = try ChainFile.parse("0,1,1\n1,0,1\n", format: .edgeList, stateCount: 2)
        #expect(chain.stateCount == 2)
    }

    // MARK: Labels and files

    @Test func labelsAttachToTheChain() throws {
        let chain = try ChainFile.parse(
            Self.scipyFile, format: .matrixMarket, labels: "# clusters\n1\n1\n\n0\n", labelsName: "c.labels")
        #expect(chain.clusters?.labels == [1, 1, 0])
        #expect(chain.clusters?.clusterCount == 2)
        let clusters = try #require(chain.clusters)
        #expect(ChainFile.encodeLabels(clusters) == "1\n1\n0\n")
        #expect(try ChainFile.parseLabels("1\n1\n0", stateCount: 3) == clusters)
    }

    @Test func loadAndSaveFiles() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let chain = try randomChain(states: 20, seed: 9).withClusters(ClusterLabels(clusterCount: 4, clusterSize: 5))

        for name in ["chain.mtx", "chain.csv", "chain.txt"] {
            let path = dir.appendingPathComponent(name).path
            let labelsPath = dir.appendingPathComponent(name + ".labels").path
            try ChainFile.save(chain, to: path, labelsPath: labelsPath)
            let back = try ChainFile.load(path: path, labelsPath: labelsPath)
            #expect(back.probabilities == chain.probabilities, "\(name)")
            #expect(back.clusters == chain.clusters, "\(name)")
        }
        // No extension: the Matrix Market banner is recognised; anything else is an edge list.
        let plain = dir.appendingPathComponent("chain").path
        try ChainFile.save(chain, to: plain, format: .edgeList)
        #expect(try ChainFile.load(path: plain).probabilities == chain.probabilities)
        try ChainFile.save(chain, to: plain, format: .matrixMarket)
        #expect(try ChainFile.load(path: plain).probabilities == chain.probabilities)
    }

    @Test func missingFileNamesThePath() throws {
        let error = #expect(throws: ChainError.self) { try ChainFile.load(path: "/nonexistent/chain.mtx") }
        #expect(error?.reason == .io)
        #expect(error?.description.contains("/nonexistent/chain.mtx") == true)
        #expect(error?.description.contains("No such file") == true)

        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let labels = #expect(throws: ChainError.self) {
            try ChainFile.load(path: dir.path + "/a.csv", labelsPath: dir.path + "/missing.labels")
        }
        #expect(labels?.reason == .io)
        let saveUnlabelled = #expect(throws: ChainError.self) {
            try ChainFile.save(randomChain(states: 2, seed: 1), to: dir.path + "/x.mtx", labelsPath: dir.path + "/x.labels")
        }
        #expect(saveUnlabelled?.description.contains("x.labels") == true)
    }

    // MARK: Validation: every error names the file, the line and the value

    static let header = "%%MatrixMarket matrix coordinate real general\n"

    @Test(arguments: [
        ("", 1, "empty file"),
        ("%MatrixMarket matrix coordinate real general\n1 1 1\n1 1 1\n", 1, "\"%MatrixMarket matrix coordinate real general\""),
        ("0,0,1\n", 1, "\"0,0,1\""),
        ("%%MatrixMarket matrix coordinate real\n", 1, "\"%%MatrixMarket matrix coordinate real\""),
        ("%%MatrixMarket vector coordinate real general\n", 1, "\"vector\""),
        ("%%MatrixMarket matrix array real general\n", 1, "\"array\""),
        ("%%MatrixMarket matrix coordinate pattern general\n", 1, "\"pattern\""),
        ("%%MatrixMarket matrix coordinate complex general\n", 1, "\"complex\""),
        ("%%MatrixMarket matrix coordinate real symmetric\n", 1, "\"symmetric\""),
        ("%%MatrixMarket matrix coordinate real hermitian\n", 1, "\"hermitian\""),
        ("%%MatrixMarket matrix coordinate real skew-symmetric\n", 1, "\"skew-symmetric\""),
    ])
    func rejectsMatrixMarketHeaders(text: String, line: Int, value: String) {
        expectError(.badHeader, in: text, format: .matrixMarket, line: line, value: value)
        if text.hasPrefix("%%") {
            // The message quotes the whole header.
            expectError(.badHeader, in: text, format: .matrixMarket, line: 1, value: text.split(separator: "\n")[0])
        }
    }

    @Test(arguments: [
        (header + "% only comments\n\n", 3, "size line", ChainError.Reason.badHeader),
        (header + "3 3\n", 2, "\"3 3\"", .badHeader),
        (header + "3 x 5\n", 2, "\"3 x 5\"", .badHeader),
        (header + "3 3 5 1\n", 2, "\"3 3 5 1\"", .badHeader),
        (header + "-3 -3 5\n", 2, "\"-3 -3 5\"", .badHeader),
        (header + "99999999999999999999 99999999999999999999 1\n", 2, "\"99999999999999999999", .badHeader),
        (header + "3 4 5\n", 2, "3 x 4", .inconsistent),
        (header + "0 0 0\n", 2, "\"0 0 0\"", .empty),
        (header + "4294967295 4294967295 1\n1 1 1\n", 2, "4294967295", .tooLarge),
    ])
    func rejectsSizeLines(text: String, line: Int, value: String, reason: ChainError.Reason) {
        expectError(reason, in: text, format: .matrixMarket, line: line, value: value)
    }

    @Test(arguments: [
        ("1 2\n", "\"1 2\"", ChainError.Reason.badLine),
        ("1 2 0.5 7\n", "\"1 2 0.5 7\"", .badLine),
        ("a 1 0.5\n", "\"a\"", .badLine),
        ("1 2.0 0.5\n", "\"2.0\"", .badLine),
        ("-1 1 0.5\n", "\"-1\"", .badLine),
        ("1 1 abc\n", "\"abc\"", .badProbability),
        ("1 1 0.5.5\n", "\"0.5.5\"", .badProbability),
        ("0 1 0.5\n", "\"0\"", .badState),
        ("3 1 0.5\n", "\"3\"", .badState),
        ("1 3 0.5\n", "\"3\"", .badState),
        ("1 1 -0.5\n", "\"-0.5\"", .badProbability),
        ("1 1 nan\n", "\"nan\"", .badProbability),
        ("1 1 inf\n", "\"inf\"", .badProbability),
        ("1 1 1e999\n", "\"1e999\"", .badProbability),
        ("1 1 0.5\u{0}1\n", "\"0.5\u{0}1\"", .badProbability),
    ])
    func rejectsEntryLines(entry: String, value: String, reason: ChainError.Reason) {
        let text = Self.header + "% a comment\n2 2 3\n1 2 1\n" + entry + "2 1 1\n"
        expectError(reason, in: text, format: .matrixMarket, line: 5, value: value)
    }

    @Test func rejectsRealValuesInIntegerFiles() {
        let text = "%%MatrixMarket matrix coordinate integer general\n1 1 1\n1 1 0.5\n"
        expectError(.badProbability, in: text, format: .matrixMarket, line: 3, value: "\"0.5\"")
    }

    @Test func rejectsWrongEntryCounts() {
        let more = Self.header + "2 2 2\n1 2 1\n2 1 1\n\n1 1 1\n"
        expectError(.badCount, in: more, format: .matrixMarket, line: 6, value: "\"1 1 1\"", also: ["2 declared on line 2"])
        let fewer = Self.header + "2 2 3\n1 2 1\n2 1 1\n"
        expectError(.badCount, in: fewer, format: .matrixMarket, line: 4, value: "after 2 of the 3 entries")
        // A hostile count reserves no memory for it.
        let huge = Self.header + "1 1 999999999999999\n1 1 1\n"
        expectError(.badCount, in: huge, format: .matrixMarket, line: 3, value: "after 1 of the 999999999999999 entries")
    }

    @Test func rejectsRowSumsAtTheRowsLastLine() {
        let text = Self.header + "3 3 4\n1 1 1\n2 1 0.5\n3 3 1\n2 2 0.4\n"
        expectError(.badRowSum, in: text, format: .matrixMarket, line: 6, value: "sums to 0.9", also: ["row 2 in the file"])
        let csv = "from,to,probability\n0,0,1\n1,1,0.5\n1,0,0.25\n"
        expectError(.badRowSum, in: csv, format: .edgeList, line: 4, value: "row 1 sums to 0.75")
        let zero = Self.header + "2 2 2\n1 1 1\n2 2 0\n"
        expectError(.badRowSum, in: zero, format: .matrixMarket, line: 4, value: "row 1 sums to 0.0")
    }

    @Test func rejectsEmptyRowsNamingTheState() throws {
        for (text, format, state) in [
            (Self.header + "3 3 3\n1 1 1\n3 3 1\n1 2 0\n", ChainFile.Format.matrixMarket, "state 1 (row 2 in the file)"),
            ("0,0,1\n2,2,1\n", .edgeList, "state 1 "),
            // Two billion states declared, three entries: found without per-state arrays.
            (Self.header + "2147483647 2147483647 3\n1 1 1\n3 3 1\n2 2 1\n", .matrixMarket, "state 3 (row 4 in the file)"),
        ] {
            let error = #expect(throws: ChainError.self) { try ChainFile.parse(text, format: format, name: "g.dat") }
            #expect(error?.reason == .badRowSum)
            #expect(error?.row != nil)
            #expect(error?.description.hasPrefix("g.dat: ") == true)
            #expect(error?.description.contains(state) == true, "\(error?.description ?? "")")
        }
        let error = #expect(throws: ChainError.self) { try ChainFile.parse("0,0,1\n", format: .edgeList, stateCount: 2) }
        #expect(error?.description.contains("state 1 has no transitions") == true)
    }

    @Test func rejectsStateCountDisagreeingWithTheSizeLine() {
        expectError(.inconsistent, in: Self.scipyFile, format: .matrixMarket, line: 3, value: "3 states, not the 4", stateCount: 4)
    }

    @Test(arguments: [
        ("from,to,prob\n0,0,1\n", 1, "\"from,to,prob\"", ChainError.Reason.badHeader),
        ("# c\nsource,target,weight,kind\n0,0,1\n", 2, "\"source,target,weight,kind\"", .badHeader),
        ("0,0,1\n\n0,0\n", 3, "\"0,0\"", .badLine),
        ("0,0,1,dense,7\n", 1, "\"0,0,1,dense,7\"", .badLine),
        ("0,0,1\n0,0,1,dense\n", 2, "\"0,0,1,dense\"", .badLine),
        ("from,to,probability,kind\n0,0,1\n", 2, "\"0,0,1\"", .badLine),
        ("0,x,1\n", 1, "\"x\"", .badLine),
        ("-1,0,1\n", 1, "\"-1\"", .badLine),
        ("0,0,1\n1,4294967296,1\n", 2, "\"4294967296\"", .tooLarge),
        ("0,0,one\n", 1, "\"one\"", .badProbability),
        ("0,0,-1\n", 1, "\"-1\"", .badProbability),
        ("0,0,NaN\n", 1, "\"NaN\"", .badProbability),
        ("0,0,-inf\n", 1, "\"-inf\"", .badProbability),
        ("0,0,1,easy\n", 1, "\"easy\"", .badLine),
        ("0,0,1,\n", 1, "\"\"", .badLine),
    ])
    func rejectsEdgeListLines(text: String, line: Int, value: String, reason: ChainError.Reason) {
        expectError(reason, in: text, format: .edgeList, line: line, value: value)
    }

    @Test func rejectsEdgeListStatesBeyondTheGivenCount() {
        expectError(.badState, in: "0,0,1\n1,2,1\n", format: .edgeList, line: 2, value: "\"2\" is out of range 0..<2", stateCount: 2)
        #expect(throws: ChainError.self) { try ChainFile.parse("0,0,1\n", format: .edgeList, stateCount: 0) }
        #expect(throws: ChainError.self) { try ChainFile.parse("0,0,1\n", format: .edgeList, stateCount: Int.max) }
        #expect(throws: ChainError.self) { try ChainFile.parse("# nothing\n", format: .edgeList) }
    }

    @Test(arguments: [
        ("0\n0\n", 2, "2 labels, but the chain has 3 states", ChainError.Reason.badCount),
        ("", 1, "0 labels, but the chain has 3 states", .badCount),
        ("0\n0\n1\n# done\n2\n", 5, "\"2\"", .badCount),
        ("0\n1.0\n1\n", 2, "\"1.0\"", .badLabel),
        ("0\n-1\n1\n", 2, "\"-1\"", .badLabel),
        ("0\nb\n1\n", 2, "\"b\"", .badLabel),
        ("0\n1 1\n1\n", 2, "\"1 1\"", .badLabel),
        ("0\n3\n1\n", 2, "\"3\" of state 1 is out of range", .badLabel),
        ("0\n4294967295\n1\n", 2, "\"4294967295\"", .badLabel),
    ])
    func rejectsLabels(labels: String, line: Int, value: String, reason: ChainError.Reason) {
        let error = #expect(throws: ChainError.self) {
            try ChainFile.parse(Self.scipyFile, format: .matrixMarket, labels: labels, labelsName: "c.labels")
        }
        #expect(error?.reason == reason)
        #expect(error?.description.hasPrefix("c.labels:\(line): ") == true, "\(error?.description ?? "")")
        #expect(error?.description.contains(value) == true, "\(error?.description ?? "")")
    }

    @Test func rejectsLabelsLeavingAClusterEmpty() {
        let error = #expect(throws: ChainError.self) {
            try ChainFile.parse(Self.scipyFile, format: .matrixMarket, labels: "0\n2\n2\n", labelsName: "c.labels")
        }
        #expect(error?.reason == .badLabel)
        #expect(error?.description.hasPrefix("c.labels: cluster 1 has no states") == true, "\(error?.description ?? "")")
    }

    /// Random damage to valid files must give a chain or an error, never a crash.
    @Test func survivesCorruptedFiles() throws {
        let chain = try randomChain(states: 8, seed: 5).withClusters(ClusterLabels(clusterCount: 2, clusterSize: 4))
        let labels = Array(ChainFile.encodeLabels(try #require(chain.clusters)).utf8)
        let alphabet = Array("0123456789 .,-+eE%\n\r#nanifx,densparcoy\u{0}\u{FF}".utf8)
        var random = WalkRandom(seed: 11, index: 0)
        func damaged(_ valid: [UInt8]) -> [UInt8] {
            var bytes = valid
            for _ in 0...random.next(below: 4) where !bytes.isEmpty {
                let at = random.next(below: bytes.count)
                switch random.next(below: 3) {
                case 0: bytes[at] = alphabet[random.next(below: alphabet.count)]
                case 1: bytes.remove(at: at)
                default: bytes.insert(alphabet[random.next(below: alphabet.count)], at: at)
                }
            }
            return bytes
        }
        for format in ChainFile.Format.allCases {
            let valid = format == .binary ? ChainFile.encodeBinary(chain) : Array(ChainFile.encode(chain, format: format).utf8)
            #expect(try ChainFile.parse(bytes: valid, format: format, labels: labels).clusters == chain.clusters)
            for _ in 0..<2000 {
                let bytes = damaged(valid)
                let normalize = random.next(below: 2) == 0
                _ = try? ChainFile.parse(bytes: bytes, format: format, labels: damaged(labels), normalize: normalize)
                _ = try? ChainFile.parse(bytes: bytes, normalize: normalize, stateCount: random.next(below: 10))
            }
        }
    }

    // MARK: Reachability

    @Test func reachability() throws {
        // 0 -> 1 -> 2 -> 2; 3 <-> 3 alone.
        let chain = try ChainFile.parse("0,1,1\n1,2,1\n2,2,1\n3,3,1\n", format: .edgeList)
        try chain.checkReachable(from: 0, to: [2, 0, 1])
        // A set is reachable when one of its states is.
        try chain.checkReachable(from: 1, to: [2, 0, 3])
        let empty = #expect(throws: ChainError.self) { try chain.checkReachable(from: 3, to: []) }
        #expect(empty?.reason == .empty)
        let unreachable = #expect(throws: ChainError.self) { try chain.checkReachable(from: 1, to: [0, 3]) }
        #expect(unreachable?.reason == .unreachable)
        #expect(unreachable?.description == "none of the 2 target states is reachable from state 1")
        let badStart = #expect(throws: ChainError.self) { try chain.checkReachable(from: 4, to: [0]) }
        #expect(badStart?.reason == .badState)
        #expect(badStart?.description.contains("4") == true)
        let badTarget = #expect(throws: ChainError.self) { try chain.checkReachable(from: 0, to: [1, -1]) }
        #expect(badTarget?.reason == .badState)
        #expect(badTarget?.description.contains("-1") == true)
    }

    @Test func reachabilityFollowsUniformParts() throws {
        let chain = try uniformChain()
        // Only the uniform part of state 1 leads to state 2; state 3 leads out of its cluster.
        try chain.checkReachable(from: 0, to: [2])
        try chain.checkReachable(from: 3, to: [0, 1, 2])
        let error = #expect(throws: ChainError.self) { try chain.checkReachable(from: 0, to: [3]) }
        #expect(error?.description == "target 3 is not reachable from state 0")
    }

    // MARK: scipy

    /// Files this package writes are read by `scipy.io.mmread`, and files scipy writes are
    /// read here, with identical values. CI installs scipy; a missing scipy fails the test.
    @Test func scipyReadsAndWritesTheSameFiles() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let chain = try randomChain(states: 40, seed: 21)
        let ours = dir.appendingPathComponent("ours.mtx").path
        let theirs = dir.appendingPathComponent("theirs.mtx").path
        try ChainFile.save(chain, to: ours)

        let script = """
            import sys, numpy as np, scipy.io, scipy.sparse
            m = scipy.sparse.csr_matrix(scipy.io.mmread(sys.argv[1]))
            m.sum_duplicates(); m.sort_indices()
            print(m.shape[0], m.shape[1], m.nnz)
            for i in range(m.shape[0]):
                for k in range(m.indptr[i], m.indptr[i + 1]):
                    print(i, m.indices[k], repr(float(m.data[k])))
            rng = np.random.default_rng(7)
            w = scipy.sparse.random(30, 30, density=0.2, random_state=rng, format="csr") + scipy.sparse.eye(30, format="csr")
            w = scipy.sparse.csr_matrix(w.multiply(1 / w.sum(axis=1)))
            scipy.io.mmwrite(sys.argv[2], w)
            w = scipy.sparse.csr_matrix(scipy.io.mmread(sys.argv[2]))
            w.sum_duplicates(); w.sort_indices()
            for i in range(30):
                for k in range(w.indptr[i], w.indptr[i + 1]):
                    print(i, w.indices[k], repr(float(w.data[k])))
            """
        let output = try runPython(script, arguments: [ours, theirs], in: dir)
        var lines = output.split(separator: "\n")[...]
        #expect(lines.popFirst() == "40 40 \(chain.entryCount)")
        for x in 0..<chain.stateCount {
            for e in chain.entries(of: x) {
                let fields = lines.popFirst()?.split(separator: " ") ?? []
                #expect(fields.count == 3 && Int(fields[0]) == x && UInt32(fields[1]) == chain.columns[e]
                    && Double(fields[2]) == chain.probabilities[e], "scipy read \(fields) for entry \(e)")
            }
        }
        let scipyWritten = try ChainFile.load(path: theirs, normalize: true)
        let expected = lines.map { $0.split(separator: " ") }
        #expect(expected.count == scipyWritten.entryCount)
        for fields in expected where fields.count == 3 {
            let (x, y, p) = (Int(fields[0]) ?? -1, Int(fields[1]) ?? -1, Double(fields[2]) ?? .nan)
            // normalize may move the last bit of a row scipy normalised in another order
            #expect(abs(scipyWritten.probability(from: x, to: y) - p) <= 1e-15, "p(\(x), \(y))")
        }
        let exact = try ChainFile.parse(bytes: Array(FileManager.default.contents(atPath: theirs) ?? Data()), name: theirs)
        for fields in expected where fields.count == 3 {
            #expect(exact.probability(from: Int(fields[0]) ?? -1, to: Int(fields[1]) ?? -1) == Double(fields[2]))
        }
    }
}

// MARK: Helpers

/// Expects parsing `text` to fail with `reason` at `name:line:`, quoting `value`.
private func expectError(
    _ reason: ChainError.Reason, in text: String, format: ChainFile.Format, line: Int, value: some StringProtocol,
    also: [String] = [], stateCount: Int? = nil, sourceLocation: SourceLocation = #_sourceLocation
) {
    let name = format == .matrixMarket ? "bad.mtx" : "bad.csv"
    let error = #expect(throws: ChainError.self, sourceLocation: sourceLocation) {
        try ChainFile.parse(text, format: format, name: name, stateCount: stateCount)
    }
    guard let error else { return }
    let description = error.description
    #expect(error.reason == reason, "\(description)", sourceLocation: sourceLocation)
    #expect(error.file == name && error.line == line, "\(description)", sourceLocation: sourceLocation)
    #expect(description.hasPrefix("\(name):\(line): "), "\(description)", sourceLocation: sourceLocation)
    for part in [String(value)] + also {
        #expect(description.contains(part), "\(description) should contain \(part)", sourceLocation: sourceLocation)
    }
}

/// p(x, y) for all pairs.
private func dense(_ chain: Chain) -> [[Double]] {
    (0..<chain.stateCount).map { x in (0..<chain.stateCount).map { chain.probability(from: x, to: $0) } }
}

/// A chain with awkward probabilities: random weights, normalised.
private func randomChain(states: Int, seed: UInt64) throws -> Chain {
    var random = WalkRandom(seed: seed, index: 0)
    var offsets = [0], columns = [UInt32](), probabilities = [Double]()
    for _ in 0..<states {
        let targets = Set((0...random.next(below: 6)).map { _ in UInt32(random.next(below: states)) }).sorted()
        let weights = targets.map { _ in Double(random.next() >> 11) * 0x1p-53 + 1e-3 }
        let total = weights.reduce(0, +)
        columns += targets
        probabilities += weights.map { $0 / total }
        offsets.append(columns.count)
    }
    // Rows sum to 1 within rounding, well inside the tolerance.
    return try Chain(stateCount: states, rowOffsets: offsets, columns: columns, probabilities: probabilities)
}

/// Two clusters {0, 1, 2} and {3, 4}: states 1 and 4 are uniform over their cluster,
/// state 3 mixes a uniform part with an explicit step out of its cluster.
private func uniformChain() throws -> Chain {
    try Chain(
        stateCount: 5, rowOffsets: [0, 1, 1, 2, 4, 4], columns: [1, 1, 0, 4], probabilities: [1, 1, 0.5, 0.25],
        uniformMass: [0, 1, 0, 0.25, 1], clusters: ClusterLabels(labels: [0, 0, 0, 1, 1]))
}

private func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("ChainIOTests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Runs `python3 -c script arguments...` and returns its standard output. Standard error
/// goes to a file in `directory`, so neither pipe can fill up and block the other.
private func runPython(_ script: String, arguments: [String], in directory: URL) throws -> String {
    let errorsURL = directory.appendingPathComponent("python.stderr")
    _ = FileManager.default.createFile(atPath: errorsURL.path, contents: nil)
    let errors = try FileHandle(forWritingTo: errorsURL)
    defer { try? errors.close() }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script] + arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let message = (try? String(contentsOf: errorsURL, encoding: .utf8)) ?? ""
    try #require(process.terminationStatus == 0, "python3 with scipy failed: \(message)")
    return String(decoding: data, as: UTF8.self)
}
