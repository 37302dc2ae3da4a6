// CSV parsing over raw bytes: RFC 4180 quoting, missing values, typed columns, parallel chunks.
//
// Speed: the bytes are memory-mapped (or already in memory after gzip/HTTP) and parsed with a
// hand-written number parser. Files without any quote character are split at newlines into one
// chunk per thread; a quote can hide a newline inside a field, so files with quotes are parsed
// in one pass (still correct, just single-threaded).
import Foundation

/// How a column is parsed; columns not asked for are skipped without conversion.
public enum CSVColumnKind: Sendable, Equatable {
    /// Floating point; missing values become NaN. A non-numeric value is an error naming the line.
    case numeric
    /// Strings coded as Int32 in order of first appearance; missing values become -1.
    case categorical
    /// Binary label: must be present and be 0 or 1 (also `true`/`false`).
    case label
}

public enum CSVColumn: Sendable, Equatable {
    case numeric([Double])
    case categorical(codes: [Int32], levels: [String])

    public var count: Int {
        switch self {
        case .numeric(let v): v.count
        case .categorical(let c, _): c.count
        }
    }
}

public struct CSVTable: Sendable {
    public var header: [String]
    public var rowCount: Int
    /// Parsed columns by name (only those requested).
    public var columns: [String: CSVColumn]
}

public enum CSVParser {
    /// Field values that mean "missing" (as pandas' defaults, case as written).
    static let missingTokens: Set<String> = ["", "NA", "N/A", "NaN", "nan", "NAN", "null", "NULL", "None", "none", "n/a", "-NaN", "-nan", "#N/A"]

    /// Parses `bytes` (a whole CSV file with a header line). `kinds` is called with the header and
    /// returns the parse kind of each wanted column by name; header problems are reported there.
    public static func parse(
        _ bytes: UnsafeRawBufferPointer,
        threads: Int = 1,
        kinds: ([String]) throws -> [String: CSVColumnKind]
    ) throws -> CSVTable {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count > 0 else {
            throw TrainerError.badInput("data: the file is empty (no header line)")
        }
        var start = base
        let end = base + bytes.count
        if bytes.count >= 3, base[0] == 0xEF, base[1] == 0xBB, base[2] == 0xBF { start += 3 }  // UTF-8 BOM
        let (header, bodyStart, headerLines) = try parseHeader(start, end)
        if header.isEmpty || (header.count == 1 && header[0].isEmpty) {
            throw TrainerError.badInput("data: line 1: empty header")
        }
        var seen = Set<String>()
        for name in header where !seen.insert(name).inserted {
            throw TrainerError.badInput("data: line 1: duplicate column name '\(name)'")
        }
        let wanted = try kinds(header)
        var plan = [Slot](repeating: .skip, count: header.count)
        var numericNames: [String] = [], categoricalNames: [String] = []
        var labelName: String?
        for (i, name) in header.enumerated() {
            switch wanted[name] {
            case .numeric?: plan[i] = .numeric(numericNames.count); numericNames.append(name)
            case .categorical?: plan[i] = .categorical(categoricalNames.count); categoricalNames.append(name)
            case .label?: plan[i] = .label; labelName = name
            case nil: break
            }
        }
        for name in wanted.keys where !seen.contains(name) {
            throw TrainerError.badInput("data: column '\(name)' not found in header (columns: \(header.joined(separator: ", ")))")
        }

        // Chunk boundaries: only at newlines, and only when no quote can hide one.
        let bodyCount = end - bodyStart
        let hasQuote = bodyCount > 0 && memchr(bodyStart, 0x22, bodyCount) != nil
        let parts = (hasQuote || bodyCount < (1 << 20)) ? 1 : max(1, threads)
        var bounds: [UnsafePointer<UInt8>] = [UnsafePointer(bodyStart)]
        for k in 1..<max(parts, 1) {
            var p = bodyStart + bodyCount * k / parts
            if p <= bounds[bounds.count - 1] { continue }
            if let nl = memchr(p, 0x0A, end - p) {
                p = UnsafePointer(nl.assumingMemoryBound(to: UInt8.self)) + 1
            } else {
                p = end
            }
            bounds.append(UnsafePointer(p))
        }
        bounds.append(UnsafePointer(end))
        let chunkCount = bounds.count - 1
        // Each chunk writes its rows straight into shared column buffers at an offset given by
        // its newline count (an upper bound on its rows; blank lines are compacted away below).
        var capacities: [Int] = []
        for k in 0..<chunkCount {
            var lines = 1
            var p = UnsafeRawPointer(bounds[k])
            let stop = UnsafeRawPointer(bounds[k + 1])
            while p < stop, let nl = memchr(p, 0x0A, stop - p) { lines += 1; p = UnsafeRawPointer(nl) + 1 }
            capacities.append(lines)
        }
        var offsets: [Int] = [], total = 0
        for c in capacities { offsets.append(total); total += c }
        let nNum = numericNames.count, nCat = categoricalNames.count
        let output = ColumnBuffers(numeric: nNum, categorical: nCat, label: labelName != nil, capacity: total)
        let slots = ResultSlots<ChunkResult>(count: chunkCount)
        let planCopy = plan, offsetsCopy = offsets
        let boundsCopy = bounds.map { SharedPointer($0) }
        parallelFor(chunkCount, threads: threads) { k in
            var chunk = ChunkResult(categorical: nCat)
            parseChunk(boundsCopy[k].base, boundsCopy[k + 1].base, plan: planCopy, out: output, offset: offsetsCopy[k], into: &chunk)
            slots.set(k, chunk)
        }
        let chunks = slots.all.compactMap { $0 }

        // The first error in file order wins; line numbers are made global here.
        var lineOffset = headerLines
        for chunk in chunks {
            if let err = chunk.error {
                let column = err.column.map { " column '\(header[$0])':" } ?? ""
                throw TrainerError.badInput("data: line \(lineOffset + err.line):\(column) \(err.message)")
            }
            lineOffset += chunk.lines
        }
        // Categorical codes: per-chunk dictionaries merged in chunk order, so codes follow the
        // first appearance in the file.
        var levels = [[String]](repeating: [], count: nCat)
        var index = [[String: Int32]](repeating: [:], count: nCat)
        for (k, c) in chunks.enumerated() {
            for slot in 0..<nCat {
                let remap = c.levels[slot].map { level -> Int32 in
                    if let code = index[slot][level] { return code }
                    let code = Int32(levels[slot].count)
                    levels[slot].append(level); index[slot][level] = code
                    return code
                }
                let codes = output.codes[slot] + offsets[k]
                for i in 0..<c.rows where codes[i] >= 0 { codes[i] = remap[Int(codes[i])] }
            }
        }
        // Compact: move each chunk's rows down over the unused tail of the previous chunk.
        var rowCount = 0
        for (k, c) in chunks.enumerated() {
            if offsets[k] != rowCount {
                for p in output.numeric { (p + rowCount).update(from: p + offsets[k], count: c.rows) }
                for p in output.codes { (p + rowCount).update(from: p + offsets[k], count: c.rows) }
                if let p = output.label { (p + rowCount).update(from: p + offsets[k], count: c.rows) }
            }
            rowCount += c.rows
        }
        var columns: [String: CSVColumn] = [:]
        for (slot, name) in numericNames.enumerated() {
            columns[name] = .numeric(Array(UnsafeBufferPointer(start: output.numeric[slot], count: rowCount)))
        }
        if let labelName, let p = output.label {
            columns[labelName] = .numeric(Array(UnsafeBufferPointer(start: p, count: rowCount)))
        }
        for (slot, name) in categoricalNames.enumerated() {
            columns[name] = .categorical(codes: Array(UnsafeBufferPointer(start: output.codes[slot], count: rowCount)), levels: levels[slot])
        }
        return CSVTable(header: header, rowCount: rowCount, columns: columns)
    }

    // MARK: - Internals

    enum Slot: Sendable { case skip, numeric(Int), categorical(Int), label }

    struct ChunkError: Sendable { var line: Int; var column: Int?; var message: String }

    struct ChunkResult: Sendable {
        var levels: [[String]]
        var dictionaries: [[String: Int32]]
        /// UTF-8 bytes of each level, for a string-free lookup while there are few levels.
        var levelBytes: [[[UInt8]]]
        var rows = 0
        var lines = 0
        var error: ChunkError?
        init(categorical: Int) {
            levels = Array(repeating: [], count: categorical)
            dictionaries = Array(repeating: [:], count: categorical)
            levelBytes = Array(repeating: [], count: categorical)
        }
    }

    /// Output columns shared by all chunks; each chunk writes only its own row range.
    final class ColumnBuffers: @unchecked Sendable {
        let numeric: [UnsafeMutablePointer<Double>]
        let codes: [UnsafeMutablePointer<Int32>]
        let label: UnsafeMutablePointer<Double>?
        init(numeric n: Int, categorical c: Int, label: Bool, capacity: Int) {
            let cap = max(capacity, 1)
            numeric = (0..<n).map { _ in
                let p = UnsafeMutablePointer<Double>.allocate(capacity: cap); p.initialize(repeating: .nan, count: cap); return p
            }
            codes = (0..<c).map { _ in
                let p = UnsafeMutablePointer<Int32>.allocate(capacity: cap); p.initialize(repeating: -1, count: cap); return p
            }
            if label {
                let p = UnsafeMutablePointer<Double>.allocate(capacity: cap); p.initialize(repeating: 0, count: cap); self.label = p
            } else {
                self.label = nil
            }
        }
        deinit {
            for p in numeric { p.deallocate() }
            for p in codes { p.deallocate() }
            label?.deallocate()
        }
    }

    static func parseHeader(_ start: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) throws
        -> ([String], UnsafePointer<UInt8>, Int)
    {
        var p = start
        var fields: [String] = []
        var scratch: [UInt8] = []
        var lines = 0
        while true {
            let (s, e, quoted, newlines) = try scanField(&p, end, &scratch, line: 1)
            lines += newlines
            fields.append(quoted ? String(decoding: scratch, as: UTF8.self) : String(decoding: UnsafeBufferPointer(start: s, count: e - s), as: UTF8.self))
            if p >= end { break }
            if p[0] == 0x2C { p += 1; continue }
            if p[0] == 0x0D { p += 1; if p < end, p[0] == 0x0A { p += 1 } } else { p += 1 }
            break
        }
        return (fields.map { $0.trimmingCharacters(in: .whitespaces) }, p, lines + 1)
    }

    /// Scans one field starting at `p`, leaving `p` on the delimiter (or `end`). Unquoted fields
    /// return their byte range; quoted fields are unescaped into `scratch`.
    @inline(__always)
    static func scanField(_ p: inout UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>,
                          _ scratch: inout [UInt8], line: Int) throws
        -> (UnsafePointer<UInt8>, UnsafePointer<UInt8>, Bool, Int)
    {
        let start = p
        if p < end, p[0] == 0x22 {
            scratch.removeAll(keepingCapacity: true)
            var newlines = 0
            p += 1
            while true {
                guard p < end else {
                    throw CSVFieldError(message: "unterminated quoted field", newlines: newlines)
                }
                let c = p[0]
                if c == 0x22 {
                    if p + 1 < end, p[1] == 0x22 { scratch.append(0x22); p += 2; continue }
                    p += 1
                    break
                }
                if c == 0x0A { newlines += 1 }
                scratch.append(c)
                p += 1
            }
            if p < end, p[0] != 0x2C, p[0] != 0x0A, p[0] != 0x0D {
                throw CSVFieldError(message: "unexpected character after closing quote", newlines: newlines)
            }
            return (start, p, true, newlines)
        }
        while p < end {
            let c = p[0]
            if c == 0x2C || c == 0x0A || c == 0x0D { break }
            p += 1
        }
        return (start, p, false, 0)
    }

    struct CSVFieldError: Error { var message: String; var newlines: Int }

    static func parseChunk(_ start: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>, plan: [Slot],
                           out: ColumnBuffers, offset: Int, into r: inout ChunkResult)
    {
        let numericOut = out.numeric.map { $0 + offset }, codesOut = out.codes.map { $0 + offset }
        let labelOut = out.label.map { $0 + offset }
        var p = start
        var line = 0  // 0-based line within the chunk, converted to file line numbers by the caller
        var scratch: [UInt8] = []
        let nCols = plan.count
        rows: while p < end {
            // Blank lines are skipped (as pandas does).
            if p[0] == 0x0A { p += 1; line += 1; continue }
            if p[0] == 0x0D, p + 1 < end, p[1] == 0x0A { p += 2; line += 1; continue }
            let rowLine = line + 1
            var col = 0
            while true {
                if col >= nCols {
                    r.error = ChunkError(line: rowLine, column: nil, message: "expected \(nCols) fields, found more")
                    return
                }
                let s: UnsafePointer<UInt8>, e: UnsafePointer<UInt8>, quoted: Bool
                do {
                    let scanned = try scanField(&p, end, &scratch, line: rowLine)
                    (s, e, quoted) = (scanned.0, scanned.1, scanned.2)
                    line += scanned.3
                } catch let err as CSVFieldError {
                    r.error = ChunkError(line: rowLine, column: col, message: err.message)
                    return
                } catch {
                    r.error = ChunkError(line: rowLine, column: col, message: "\(error)")
                    return
                }
                switch plan[col] {
                case .skip:
                    break
                case .numeric(let slot):
                    let v: Double?
                    if quoted {
                        v = scratch.withUnsafeBufferPointer { b in
                            numericValue(b.baseAddress ?? s, (b.baseAddress ?? s) + b.count)
                        }
                    } else {
                        v = numericValue(s, e)
                    }
                    guard let v else {
                        r.error = ChunkError(line: rowLine, column: col,
                                             message: "non-numeric value '\(fieldText(s, e, quoted, scratch))' in a numeric column")
                        return
                    }
                    numericOut[slot][r.rows] = v
                case .label:
                    let text = fieldText(s, e, quoted, scratch)
                    let v: Double
                    switch text.trimmingCharacters(in: .whitespaces) {
                    case "1", "1.0", "true", "True", "TRUE": v = 1
                    case "0", "0.0", "false", "False", "FALSE": v = 0
                    case let t where missingTokens.contains(t):
                        r.error = ChunkError(line: rowLine, column: col, message: "target value is missing")
                        return
                    default:
                        r.error = ChunkError(line: rowLine, column: col, message: "target value '\(text)' is not 0/1 (binary classification)")
                        return
                    }
                    labelOut?[r.rows] = v
                case .categorical(let slot):
                    // Few levels: compare bytes (no String per field); otherwise a dictionary.
                    let code: Int32
                    if let known = quoted ? nil : smallLevelLookup(s, e, r.levelBytes[slot]) {
                        code = known
                    } else {
                        let text = fieldText(s, e, quoted, scratch)
                        if missingTokens.contains(text) {
                            code = -1
                        } else if let c = r.dictionaries[slot][text] {
                            code = c
                        } else {
                            code = Int32(r.levels[slot].count)
                            r.dictionaries[slot][text] = code
                            r.levels[slot].append(text)
                            if r.levelBytes[slot].count < 16, code < 16 { r.levelBytes[slot].append(Array(text.utf8)) }
                        }
                    }
                    codesOut[slot][r.rows] = code
                }
                col += 1
                if p >= end { line += 1; break }
                let c = p[0]
                // After a delimiter the next field is scanned even at end of input (a trailing
                // comma means one more, empty, field).
                if c == 0x2C { p += 1; continue }
                if c == 0x0D { p += 1; if p < end, p[0] == 0x0A { p += 1 } } else { p += 1 }
                line += 1
                break
            }
            if col != nCols {
                r.error = ChunkError(line: rowLine, column: nil, message: "expected \(nCols) fields, found \(col)")
                return
            }
            r.rows += 1
            continue rows
        }
        r.lines = line
    }

    /// Code of an unquoted field among the first (at most 16) levels, nil when not among them.
    @inline(__always)
    static func smallLevelLookup(_ s: UnsafePointer<UInt8>, _ e: UnsafePointer<UInt8>, _ levels: [[UInt8]]) -> Int32? {
        let n = e - s
        for (code, bytes) in levels.enumerated() where bytes.count == n {
            if n == 0 || bytes.withUnsafeBufferPointer({ b in b.baseAddress.map { memcmp($0, s, n) == 0 } ?? false }) { return Int32(code) }
        }
        return nil
    }

    @inline(__always)
    static func fieldText(_ s: UnsafePointer<UInt8>, _ e: UnsafePointer<UInt8>, _ quoted: Bool, _ scratch: [UInt8]) -> String {
        quoted ? String(decoding: scratch, as: UTF8.self) : String(decoding: UnsafeBufferPointer(start: s, count: e - s), as: UTF8.self)
    }

    /// A numeric field: a number, NaN for a missing token, nil when it is neither.
    @inline(__always)
    static func numericValue(_ s: UnsafePointer<UInt8>, _ e: UnsafePointer<UInt8>) -> Double? {
        var a = s, b = e
        while a < b, a[0] == 0x20 || a[0] == 0x09 { a += 1 }
        while b > a, b[-1] == 0x20 || b[-1] == 0x09 { b -= 1 }
        if a == b { return .nan }
        if let v = FastFloat.parse(a, b) { return v }
        let text = String(decoding: UnsafeBufferPointer(start: a, count: b - a), as: UTF8.self)
        if missingTokens.contains(text) { return .nan }
        // Rare forms (more than 19 digits, large exponents) go through the correctly rounded parser.
        if let v = Double(text), v.isFinite { return v }
        return nil
    }
}

/// Decimal to Double for the common case, correctly rounded (Clinger's fast path): at most 19
/// significant digits with an exact mantissa below 2^53 and a power of ten within 10^±22. Anything
/// else returns nil and falls back to the standard library parser.
enum FastFloat {
    static let powersOfTen: [Double] = (0...22).map { i in
        var v = 1.0
        for _ in 0..<i { v *= 10 }
        return v
    }

    @inline(__always)
    static func parse(_ start: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> Double? {
        var p = start
        var negative = false
        if p[0] == 0x2D { negative = true; p += 1 } else if p[0] == 0x2B { p += 1 }
        var mantissa: UInt64 = 0
        var digits = 0
        var exponent = 0
        var sawDigit = false
        while p < end {
            let d = p[0] &- 0x30
            if d > 9 { break }
            sawDigit = true
            if mantissa == 0 && d == 0 { p += 1; continue }  // leading zeros
            if digits >= 19 { return nil }
            mantissa = mantissa &* 10 &+ UInt64(d); digits += 1
            p += 1
        }
        if p < end, p[0] == 0x2E {
            p += 1
            while p < end {
                let d = p[0] &- 0x30
                if d > 9 { break }
                sawDigit = true
                if mantissa == 0 && d == 0 { exponent -= 1; p += 1; continue }
                if digits >= 19 { return nil }
                mantissa = mantissa &* 10 &+ UInt64(d); digits += 1; exponent -= 1
                p += 1
            }
        }
        guard sawDigit else { return nil }
        if p < end, p[0] == 0x65 || p[0] == 0x45 {
            p += 1
            var expNegative = false
            if p < end, p[0] == 0x2D { expNegative = true; p += 1 } else if p < end, p[0] == 0x2B { p += 1 }
            var e = 0
            var expDigits = 0
            while p < end {
                let d = p[0] &- 0x30
                if d > 9 { break }
                if e < 100_000 { e = e * 10 + Int(d) }
                expDigits += 1
                p += 1
            }
            if expDigits == 0 { return nil }
            exponent += expNegative ? -e : e
        }
        guard p == end else { return nil }
        if mantissa == 0 { return negative ? -0.0 : 0.0 }
        guard mantissa < (1 << 53), exponent >= -22, exponent <= 22 else { return nil }
        var v = Double(mantissa)  // exact: below 2^53
        if exponent < 0 { v /= powersOfTen[-exponent] } else if exponent > 0 { v *= powersOfTen[exponent] }
        return negative ? -v : v
    }
}
