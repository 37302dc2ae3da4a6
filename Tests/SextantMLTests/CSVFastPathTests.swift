import Foundation
import Testing
@testable import SextantML

/// The fused scan-and-convert paths of the CSV parser (numbers, labels, categorical levels), the
/// chunking (many more chunks than threads) and the in-place output arrays: every path must give
/// the values and errors of the general field path.
@Suite struct CSVFastPathTests {
    /// What a numeric field must parse to: `Double(String)` of the text without blank padding,
    /// NaN for a missing token, nil (an error) for anything else.
    static func expected(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: CharacterSet(charactersIn: " \t"))
        if CSVParser.missingTokens.contains(t) { return .nan }
        guard let v = Double(t), v.isFinite else { return nil }
        return v
    }

    static func same(_ a: Double, _ b: Double) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }

    /// Numbers in many spellings: signs, leading zeros, exponents, more than 19 digits, the
    /// limits of the exact fast path (2^53, 10^22), padding and missing tokens.
    static func numberTexts(_ count: Int, seed: UInt64) -> [String] {
        var texts = [
            "0", "-0", "+0", "0.000", "-0.0", "0e999", "-0e-400", "1", "-1", "+2.5", ".5", "-.5", "5.", "000123", "-0007.50",
            "1e5", "1E5", "1e+5", "1e-5", "1E-05", "12e22", "12e23", "1e-22", "1e-23", "1e22", "1e23", "4.9e-324",
            "2.2250738585072014e-308", "1.7976931348623157e308", "9007199254740991", "9007199254740992", "9007199254740993",
            "1234567890123456789", "12345678901234567890", "123456789012345678901234", "0.1234567890123456789",
            "0.12345678901234567890123", "0.000000000000000000001", "00000000000000000000001.5", "-1.28195522", "0.0207720528",
            " 1.5", "1.5 ", "\t2", " -3e2\t", "", "NA", "NaN", "nan", "-nan", "null", "None", "#N/A", "0x1p3",
        ]
        var rng = SplitMix64(seed: seed)
        while texts.count < count {
            let v = (rng.nextUnit() - 0.5) * pow(10, Double(Int(rng.next() % 40)) - 20)
            switch rng.next() % 5 {
            case 0: texts.append(String(v))
            case 1: texts.append(String(format: "%.*g", Int(rng.next() % 17) + 1, v))
            case 2: texts.append(String(format: "%.*f", Int(rng.next() % 26), v))
            case 3: texts.append(String(format: "%.*e", Int(rng.next() % 20), v))
            default: texts.append(String(Int64(bitPattern: rng.next()) >> Int(rng.next() % 63)))
            }
        }
        return texts
    }

    @Test func fastNumberIsExactOrDeclines() {
        var accepted = 0
        let texts = Self.numberTexts(30_000, seed: 5)
        FastFloat.powersOfTen.withUnsafeBufferPointer { powers in
            for text in texts {
                for end in [",", "\n", "\r\n"] {
                    let bytes = Array((text + end).utf8)
                    bytes.withUnsafeBufferPointer { b in
                        guard let start = b.baseAddress else { return }
                        var p = start
                        guard let v = CSVParser.fastNumber(&p, powers) else {
                            #expect(p == start, "\(text): moved without a value")
                            return
                        }
                        accepted += 1
                        #expect(p == start + text.utf8.count, "\(text): stopped at the wrong byte")
                        #expect(v.bitPattern == Double(text)?.bitPattern, "\(text): \(v) vs \(String(describing: Double(text)))")
                    }
                }
            }
            // The common spellings take the fast path; the unusual ones are left to the general one.
            for text in ["-1.28195522", "0.0207720528", "3", "-0", "+2.5", ".5", "5.", "1e5", "1E-05", "1e-22", "9007199254740991"] {
                let bytes = Array((text + ",").utf8)
                #expect(bytes.withUnsafeBufferPointer { b in b.baseAddress.flatMap { s in var p = s; return CSVParser.fastNumber(&p, powers) } } != nil, "\(text)")
            }
            for text in ["", " 1", "1 ", "1.5x", "NA", "1e", "1e+", "--1", "1.2.3", "0x1p3", "9007199254740993", "1e23",
                         "12345678901234567890", "0.000000000000000000001", "\"1\""] {
                let bytes = Array((text + ",").utf8)
                #expect(bytes.withUnsafeBufferPointer { b in b.baseAddress.flatMap { s in var p = s; return CSVParser.fastNumber(&p, powers) } } == nil, "\(text)")
            }
        }
        #expect(accepted > texts.count, "the fast path took only \(accepted) of \(texts.count * 3)")
    }

    @Test func numericColumnsMatchTheStandardLibraryWithAnyChunking() throws {
        let texts = Self.numberTexts(20_000, seed: 9).filter { Self.expected($0) != nil }
        var csv = "id,x,y\n"
        for (i, t) in texts.enumerated() { csv += "\(i),\(t),\(texts[texts.count - 1 - i])\n" }
        let kinds: [String: CSVColumnKind] = ["x": .numeric, "y": .numeric]
        let bytes = Array(csv.utf8)
        for (threads, chunk) in [(1, 1 << 30), (3, 97), (2, 4096)] {
            let t = try bytes.withUnsafeBytes { try CSVParser.parse($0, threads: threads, chunkBytes: chunk) { _ in kinds } }
            #expect(t.rowCount == texts.count)
            let x = numeric(t, "x"), y = numeric(t, "y")
            guard x.count == texts.count, y.count == texts.count else { Issue.record("row count \(x.count)"); continue }
            var wrong = 0
            for (i, text) in texts.enumerated() {
                guard let want = Self.expected(text), let wantY = Self.expected(texts[texts.count - 1 - i]) else { continue }
                if !Self.same(x[i], want) || !Self.same(y[i], wantY) {
                    wrong += 1
                    if wrong < 5 { Issue.record("row \(i) '\(text)': \(x[i]) vs \(want) (threads \(threads), chunk \(chunk))") }
                }
            }
            #expect(wrong == 0)
        }
    }

    @Test func badNumbersNameLineColumnAndValue() {
        let good = (0..<300).map { "\($0),\(Double($0) / 7)" }
        for bad in ["1.5x", "1e", "1e+", "--1", "+-1", "1.2.3", "abc", "inf", "1e400", ".", "-", "e5", "1 2", "0x", "1e5e5"] {
            for (threads, chunk) in [(1, 1 << 30), (2, 64)] {
                for at in [0, 150, 299] {
                    var lines = good
                    lines[at] = "\(at),\(bad)"
                    let trailing = at == 299 && chunk == 64 ? "" : "\n"  // last line without a newline
                    let csv = "id,x\n" + lines.joined(separator: "\n") + trailing
                    let msg = errorMessage { _ = try Array(csv.utf8).withUnsafeBytes { try CSVParser.parse($0, threads: threads, chunkBytes: chunk) { _ in ["x": .numeric] } } }
                    #expect(msg == "data: line \(at + 2): column 'x': non-numeric value '\(bad)' in a numeric column", "\(bad) at \(at): \(msg)")
                }
            }
        }
    }

    /// A table with every column kind, blank lines, CRLF or LF, with and without a final newline,
    /// categorical levels that first appear late, more than 16 levels and levels over 16 bytes:
    /// many small chunks on several threads give exactly the one-chunk table, and both match the
    /// generated values.
    @Test func manyChunksGiveTheTableOfOne() throws {
        var rng = SplitMix64(seed: 21)
        let names = (0..<24).map { i in i == 5 ? "a-level-name-longer-than-16-bytes" : "level\(i)" }
        for crlf in [false, true] {
            for finalNewline in [true, false] {
                let nl = crlf ? "\r\n" : "\n"
                var csv = "x,skip,label,cat,y" + nl
                var xs: [Double] = [], ys: [Double] = [], labels: [Double] = [], cats: [String?] = []
                for i in 0..<4000 {
                    if i % 97 == 13 { csv += nl }  // blank lines
                    let x = rng.nextGaussian() * pow(10, Double(Int(rng.next() % 9)) - 4)
                    let y = Double(Int64(rng.next() % 2_000_001) - 1_000_000) / 1000
                    let label = Double(rng.next() % 2)
                    // Levels appear over time, so chunks see them in different orders.
                    let cat: String? = rng.nextUnit() < 0.05 ? nil : names[Int(rng.next() % UInt64(min(24, 2 + i / 150)))]
                    xs.append(x); ys.append(y); labels.append(label); cats.append(cat)
                    csv += "\(x),\(rng.next() % 1000),\(Int(label)),\(cat ?? ""),\(y)"
                    if i < 3999 || finalNewline { csv += nl }
                }
                let kinds: [String: CSVColumnKind] = ["x": .numeric, "y": .numeric, "label": .label, "cat": .categorical]
                let bytes = Array(csv.utf8)
                let one = try bytes.withUnsafeBytes { try CSVParser.parse($0, threads: 1, chunkBytes: 1 << 30) { _ in kinds } }
                // Expected levels: order of first appearance.
                var levels: [String] = []
                for case let c? in cats where !levels.contains(c) { levels.append(c) }
                let codes = cats.map { c in c.flatMap { levels.firstIndex(of: $0) }.map(Int32.init) ?? -1 }
                for (threads, chunk) in [(1, 1 << 30), (3, 50), (2, 333), (1, 4096)] {
                    let t = try bytes.withUnsafeBytes { try CSVParser.parse($0, threads: threads, chunkBytes: chunk) { _ in kinds } }
                    let where_ = "crlf \(crlf) final newline \(finalNewline) threads \(threads) chunk \(chunk)"
                    #expect(t.rowCount == 4000, "\(where_)")
                    #expect(numeric(t, "x") == xs, "\(where_)")
                    #expect(numeric(t, "y") == ys, "\(where_)")
                    #expect(numeric(t, "label") == labels, "\(where_)")
                    #expect(t.columns["cat"] == .categorical(codes: codes, levels: levels), "\(where_)")
                    #expect(t.columns == one.columns, "\(where_)")
                }
            }
        }
    }

    @Test func errorLinesCountBlankLinesAndLineEndsAcrossChunks() {
        for nl in ["\n", "\r\n"] {
            var lines = ["a,b"]
            for i in 0..<2000 { lines.append(i % 50 == 7 ? "" : "\(i),\(i % 3)") }
            lines[1733] = "1,2,3"
            let csv = lines.joined(separator: nl) + nl
            for (threads, chunk) in [(1, 1 << 30), (2, 40), (3, 1000)] {
                let msg = errorMessage { _ = try Array(csv.utf8).withUnsafeBytes { try CSVParser.parse($0, threads: threads, chunkBytes: chunk) { _ in ["a": .numeric] } } }
                #expect(msg == "data: line 1734: expected 2 fields, found more", "\(nl.debugDescription) \(threads) \(chunk): \(msg)")
            }
        }
    }

    @Test func labelsTakeTheSameValuesAndErrorsOnEveryPath() throws {
        let csv = "x,y\r\n1,0\r\n2,1\r\n3, 1\r\n4,1.0\r\n5,true\r\n6,FALSE\n7,\"1\"\n8,0"
        let t = try parseCSV(csv, kinds: ["y": .label])
        #expect(numeric(t, "y") == [0, 1, 1, 1, 1, 0, 1, 0])
        let ok = (0..<400).map { "\($0),\($0 % 2)" }
        for (bad, message) in [("2", "target value '2' is not 0/1 (binary classification)"),
                               ("01", "target value '01' is not 0/1 (binary classification)"),
                               ("10", "target value '10' is not 0/1 (binary classification)"),
                               ("", "target value is missing"), ("NA", "target value is missing")] {
            var lines = ok
            lines[321] = "321,\(bad)"
            let csv = "x,y\n" + lines.joined(separator: "\n") + "\n"
            for (threads, chunk) in [(1, 1 << 30), (2, 30)] {
                let msg = errorMessage { _ = try Array(csv.utf8).withUnsafeBytes { try CSVParser.parse($0, threads: threads, chunkBytes: chunk) { _ in ["y": .label] } } }
                #expect(msg == "data: line 323: column 'y': \(message)", "\(bad): \(msg)")
            }
        }
    }

    @Test func quotedAndUnquotedLevelsShareCodes() throws {
        let t = try parseCSV("s\ntrain\n\"test\"\ntest\n\"train\"\nNA\n", kinds: ["s": .categorical])
        #expect(t.columns["s"] == .categorical(codes: [0, 1, 1, 0, -1], levels: ["train", "test"]))
    }

    @Test func carriageReturnAloneEndsALine() throws {
        // Old Mac line ends: no `\n` at all, yet one row per line.
        for csv in ["a,b\r1,2\r3,4\r5,6\r", "a,b\r1,2\r3,4\r5,6"] {
            let t = try parseCSV(csv, kinds: ["a": .numeric, "b": .numeric])
            #expect(t.rowCount == 3)
            #expect(numeric(t, "a") == [1, 3, 5] && numeric(t, "b") == [2, 4, 6])
        }
        #expect(errorMessage { _ = try parseCSV("a,b\r1,2\r3\r", kinds: ["a": .numeric]) } == "data: line 3: expected 2 fields, found 1")
    }

    @Test func maxRowsCountsEveryKindOfLineEnd() {
        func rows(_ s: String) -> Int {
            let bytes = Array(s.utf8)
            return bytes.withUnsafeBufferPointer { b in b.baseAddress.map { CSVParser.maxRows($0, $0 + b.count) } ?? 0 }
        }
        #expect(rows("") == 0)
        #expect(rows("1") == 1)
        #expect(rows("1\n2\n") == 2)
        #expect(rows("1\n2") == 2)
        #expect(rows("1\r\n2\r\n") == 2)
        #expect(rows("1\r2\r") == 2)
        #expect(rows("1\r2\r\n3") == 3)
        #expect(rows("\n\n") == 2)
    }

    @Test func newArraysAreFilledInPlaceOrThroughBuffers() throws {
        for limit in [1024, 2] {
            let arrays = try CSVParser.withNewArrays(Double.self, count: 5, capacity: 10, nestingLimit: limit) { pointers in
                #expect(pointers.count == 5)
                #expect(Set(pointers).count == 5)
                for (j, p) in pointers.enumerated() { for i in 0..<7 { p[i] = Double(10 * j + i) } }
                return 7
            }
            #expect(arrays == (0..<5).map { j in (0..<7).map { Double(10 * j + $0) } }, "limit \(limit)")
        }
        #expect(try CSVParser.withNewArrays(Int32.self, count: 0, capacity: 3) { p in p.count }.isEmpty)
        #expect(throws: TrainerError.self) {
            _ = try CSVParser.withNewArrays(Double.self, count: 3, capacity: 4) { _ in throw TrainerError.badInput("x") }
        }
    }

    /// More numeric columns than `withNewArrays` nests: the buffered path.
    @Test func wideTablesParse() throws {
        let width = 1100
        var csv = (0..<width).map { "c\($0)" }.joined(separator: ",") + "\n"
        for r in 0..<3 { csv += (0..<width).map { "\(r * width + $0)" }.joined(separator: ",") + "\n" }
        var kinds: [String: CSVColumnKind] = [:]
        for j in 0..<width { kinds["c\(j)"] = .numeric }
        let t = try parseCSV(csv, kinds: kinds)
        #expect(t.rowCount == 3)
        #expect(numeric(t, "c0") == [0, 1100, 2200])
        #expect(numeric(t, "c1099") == [1099, 2199, 3299])
    }

    @Test func dynamicParallelForRunsEveryIndexOnce() {
        let slots = ResultSlots<Int>(count: 1000)
        parallelForDynamic(1000, threads: 3) { i in slots.set(i, i * 2) }
        #expect(slots.all == (0..<1000).map { Optional($0 * 2) })
    }
}
