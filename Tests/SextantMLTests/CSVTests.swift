import Foundation
import Testing
@testable import SextantML

@Suite struct CSVTests {
    @Test func parsesQuotedFieldsMissingValuesAndCRLF() throws {
        let text = "\u{FEFF}a,name,b\r\n1.5,\"x, \"\"quoted\"\"\",2\r\n,NA,-3e2\r\n\r\n4,\"multi\nline\",NaN\r\n"
        let t = try parseCSV(text, kinds: ["a": .numeric, "name": .categorical, "b": .numeric])
        #expect(t.header == ["a", "name", "b"])
        #expect(t.rowCount == 3)
        let a = numeric(t, "a"), b = numeric(t, "b")
        #expect(a[0] == 1.5 && a[1].isNaN && a[2] == 4)
        #expect(b[0] == 2 && b[1] == -300 && b[2].isNaN)
        guard case .categorical(let codes, let levels)? = t.columns["name"] else { Issue.record("not categorical"); return }
        #expect(levels == ["x, \"quoted\"", "multi\nline"])
        #expect(codes == [0, -1, 1])
    }

    @Test func trailingCommaIsAnEmptyLastField() throws {
        let t = try parseCSV("a,b\n1,\n2,3", kinds: ["a": .numeric, "b": .numeric])
        #expect(numeric(t, "a") == [1, 2])
        let b = numeric(t, "b")
        #expect(b[0].isNaN && b[1] == 3)
    }

    @Test func nonNumericValueNamesLineColumnAndValue() {
        let msg = errorMessage { _ = try parseCSV("a,b\n1,2\n3,abc\n", kinds: ["a": .numeric, "b": .numeric]) }
        #expect(msg.contains("line 3"))
        #expect(msg.contains("column 'b'"))
        #expect(msg.contains("'abc'"))
    }

    @Test func lineNumbersCountNewlinesInsideQuotes() {
        let msg = errorMessage { _ = try parseCSV("a,s\n1,\"x\ny\"\n2,z,extra\n", kinds: ["a": .numeric]) }
        #expect(msg.contains("line 4"), "got: \(msg)")
        #expect(msg.contains("expected 2 fields"))
    }

    @Test func tooFewFieldsAndUnterminatedQuote() {
        #expect(errorMessage { _ = try parseCSV("a,b\n1\n", kinds: ["a": .numeric]) }.contains("line 2: expected 2 fields, found 1"))
        #expect(errorMessage { _ = try parseCSV("a,b\n1,\"open\n", kinds: ["a": .numeric]) }.contains("unterminated"))
    }

    @Test func missingColumnAndDuplicateHeaderAreNamed() {
        #expect(errorMessage { _ = try parseCSV("a,b\n1,2\n", kinds: ["c": .numeric]) }.contains("column 'c' not found"))
        #expect(errorMessage { _ = try parseCSV("a,a\n1,2\n", kinds: ["a": .numeric]) }.contains("duplicate column name 'a'"))
    }

    @Test func labelMustBeBinaryAndPresent() {
        #expect(errorMessage { _ = try parseCSV("x,y\n1,1\n2,\n", kinds: ["y": .label]) }.contains("line 3: column 'y': target value is missing"))
        #expect(errorMessage { _ = try parseCSV("x,y\n1,2\n", kinds: ["y": .label]) }.contains("not 0/1"))
        let t = try? parseCSV("x,y\n1,true\n2,0\n", kinds: ["y": .label])
        #expect(t.map { numeric($0, "y") } == [1, 0])
    }

    /// Large enough (> 1 MiB) to be split into chunks: results and error line numbers must not
    /// depend on the number of threads.
    @Test func parallelChunksMatchSequentialAndKeepLineNumbers() throws {
        var s = "a,b,c\n"
        var rng = SplitMix64(seed: 3)
        for i in 0..<60_000 { s += "\(rng.nextGaussian()),\(i),\(rng.nextUnit() < 0.1 ? "" : "\(rng.nextUnit())")\n" }
        let kinds: [String: CSVColumnKind] = ["a": .numeric, "b": .numeric, "c": .numeric]
        let one = try parseCSV(s, threads: 1, kinds: kinds), four = try parseCSV(s, threads: 4, kinds: kinds)
        #expect(one.rowCount == 60_000 && four.rowCount == 60_000)
        for name in ["a", "b", "c"] {
            let x = numeric(one, name), y = numeric(four, name)
            #expect(x.count == y.count)
            #expect(zip(x, y).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) })
        }
        let bad = s + "1,oops,2\n" + "3,4,5\n"
        let msg = errorMessage { _ = try parseCSV(bad, threads: 4, kinds: kinds) }
        #expect(msg.contains("line 60002"), "got: \(msg)")
    }

    @Test func fastFloatAgreesWithStandardLibrary() {
        var rng = SplitMix64(seed: 11)
        var texts = ["0", "-0.0", "1e5", "1E-5", "+2.5", "123456789012345678", "0.000123456789", "9007199254740993", "1e-300", ".5", "5."]
        for _ in 0..<20_000 {
            let v = (rng.nextUnit() - 0.5) * pow(10, Double(Int(rng.next() % 30)) - 15)
            texts.append(String(v))
            texts.append(String(format: "%.9g", v))
        }
        for t in texts {
            let bytes = Array(t.utf8)
            let parsed = bytes.withUnsafeBufferPointer { b in CSVParser.numericValue(b.baseAddress!, b.baseAddress! + b.count) }
            #expect(parsed == Double(t), "\(t)")
        }
    }

    @Test func gzipRoundTrip() throws {
        let dir = try makeTempDir()
        let plain = dir.appendingPathComponent("d.csv")
        let text = Synthetic(rows: 500).csv()
        try Data(text.utf8).write(to: plain)
        guard FileManager.default.isExecutableFile(atPath: "/bin/gzip") || FileManager.default.isExecutableFile(atPath: "/usr/bin/gzip") else {
            Issue.record("gzip is required but not installed (apt-get install gzip)")
            return
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: FileManager.default.isExecutableFile(atPath: "/bin/gzip") ? "/bin/gzip" : "/usr/bin/gzip")
        p.arguments = ["-k", plain.path]
        try p.run(); p.waitUntilExit()
        let gz = try Data(contentsOf: dir.appendingPathComponent("d.csv.gz"))
        let out = try gz.withUnsafeBytes { try Gzip.decompress($0) }
        #expect(String(decoding: out, as: UTF8.self) == text)
        let truncated = gz.prefix(gz.count / 2)
        #expect(errorMessage { _ = try truncated.withUnsafeBytes { try Gzip.decompress($0) } }.contains("truncated"))
    }
}
