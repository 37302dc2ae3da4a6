// CSV field scanning: line boundaries, the header, one chunk's fields, and number conversion
// (the fast path for plain decimals, the general path for everything else; see CSV.swift).
import Foundation

extension CSVParser {
    /// Most rows `start..<end` can hold: one per line end (`\n`, or `\r` not followed by `\n`),
    /// plus one when the last line has no line end.
    static func maxRows(_ start: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> Int {
        guard start < end else { return 0 }
        var count = 0
        var p = UnsafeRawPointer(start)
        let stop = UnsafeRawPointer(end)
        while p < stop, let nl = memchr(p, 0x0A, stop - p) { count += 1; p = UnsafeRawPointer(nl) + 1 }
        if memchr(start, 0x0D, end - start) != nil {
            p = UnsafeRawPointer(start)
            while p < stop, let cr = memchr(p, 0x0D, stop - p) {
                let next = UnsafeRawPointer(cr) + 1
                if next == stop || next.load(as: UInt8.self) != 0x0A { count += 1 }
                p = next
            }
        }
        let last = end[-1]
        return count + (last == 0x0A || last == 0x0D ? 0 : 1)
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

    @inline(__always)
    static func isFieldEnd(_ c: UInt8) -> Bool { c == 0x2C || c == 0x0A || c == 0x0D }

    static func parseChunk(_ start: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>, targets: UnsafeBufferPointer<Target>,
                           capacity: Int, powers: UnsafeBufferPointer<Double>, into r: inout ChunkResult)
    {
        // Before `safeEnd` a newline always follows, which stops every unquoted scan below, so the
        // fast paths need no end checks (only the last line of the file may lack one).
        var safeEnd = end
        while safeEnd > start, safeEnd[-1] != 0x0A { safeEnd -= 1 }
        var p = start
        var line = 0  // 0-based line within the chunk, converted to file line numbers by the caller
        var scratch: [UInt8] = []
        let nCols = targets.count
        rows: while p < end {
            // Blank lines are skipped (as pandas does).
            if p[0] == 0x0A { p += 1; line += 1; continue }
            if p[0] == 0x0D, p + 1 < end, p[1] == 0x0A { p += 2; line += 1; continue }
            let rowLine = line + 1
            let row = r.rows
            guard row < capacity else {
                r.error = ChunkError(line: rowLine, column: nil, message: "internal error: more rows than line ends")
                return
            }
            var col = 0
            while true {
                if col >= nCols {
                    r.error = ChunkError(line: rowLine, column: nil, message: "expected \(nCols) fields, found more")
                    return
                }
                let target = targets[col]
                var done = false
                if p < safeEnd, p[0] != 0x22 {
                    switch target {
                    case .number(let out):
                        if let v = fastNumber(&p, powers) { out[row] = v; done = true }
                    case .label(let out):
                        let c = p[0]
                        if c == 0x30 || c == 0x31, isFieldEnd(p[1]) { out[row] = c == 0x31 ? 1 : 0; p += 1; done = true }
                    case .skip:
                        while !isFieldEnd(p[0]) { p += 1 }
                        done = true
                    case .category(let slot, let out):
                        var e = p
                        while !isFieldEnd(e[0]) { e += 1 }
                        if let code = r.smallCode(slot, p, e) { out[row] = code; p = e; done = true }
                    }
                }
                if !done, let err = generalField(&p, end, target, row: row, rowLine: rowLine, column: col, line: &line, scratch: &scratch, into: &r) {
                    r.error = err
                    return
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

    /// Any field the fast paths did not take (quoted, padded, missing, unusual or invalid): scans
    /// it from `p`, stores its value at `row`, and returns the error for it, if any.
    @inline(never)
    static func generalField(_ p: inout UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>, _ target: Target, row: Int,
                             rowLine: Int, column col: Int, line: inout Int, scratch: inout [UInt8],
                             into r: inout ChunkResult) -> ChunkError?
    {
        let s: UnsafePointer<UInt8>, e: UnsafePointer<UInt8>, quoted: Bool
        do {
            let scanned = try scanField(&p, end, &scratch, line: rowLine)
            (s, e, quoted) = (scanned.0, scanned.1, scanned.2)
            line += scanned.3
        } catch let err as CSVFieldError {
            return ChunkError(line: rowLine, column: col, message: err.message)
        } catch {
            return ChunkError(line: rowLine, column: col, message: "\(error)")
        }
        switch target {
        case .skip:
            break
        case .number(let out):
            let v: Double?
            if quoted {
                v = scratch.withUnsafeBufferPointer { b in
                    numericValue(b.baseAddress ?? s, (b.baseAddress ?? s) + b.count)
                }
            } else {
                v = numericValue(s, e)
            }
            guard let v else {
                let text = fieldText(s, e, quoted, scratch)
                if let nul = text.utf8.firstIndex(of: 0) {
                    let offset = text.utf8.distance(from: text.utf8.startIndex, to: nul)
                    return ChunkError(line: rowLine, column: col,
                                      message: "NUL byte at offset \(offset) of the value '\(printable(text))' in a numeric column")
                }
                return ChunkError(line: rowLine, column: col,
                                  message: "non-numeric value '\(printable(text))' in a numeric column")
            }
            out[row] = v
        case .label(let out):
            let text = fieldText(s, e, quoted, scratch)
            let v: Double
            switch text.trimmingCharacters(in: .whitespaces) {
            case "1", "1.0", "true", "True", "TRUE": v = 1
            case "0", "0.0", "false", "False", "FALSE": v = 0
            case let t where missingTokens.contains(t):
                return ChunkError(line: rowLine, column: col, message: "target value is missing")
            default:
                return ChunkError(line: rowLine, column: col, message: "target value '\(printable(text))' is not 0/1 (binary classification)")
            }
            out[row] = v
        case .category(let slot, let out):
            // Few levels: compare bytes (no String per field); otherwise a dictionary.
            let code: Int32
            if let known = quoted ? nil : r.smallCode(slot, s, e) {
                code = known
            } else {
                let text = fieldText(s, e, quoted, scratch)
                if missingTokens.contains(text) {
                    code = -1
                } else if let c = r.dictionaries[slot][text] {
                    code = c
                } else {
                    code = r.addLevel(slot, text)
                }
            }
            out[row] = code
        }
        return nil
    }

    /// An unquoted numeric field converted while it is scanned, when it is
    /// `[+-]digits[.digits][(e|E)[+-]digits]` directly followed by `,`, `\n` or `\r` and meets
    /// `FastFloat`'s exactness conditions (here at most 19 digits counting leading zeros). Anything
    /// else returns nil with `p` unchanged, for the general path. Needs a newline at or after `p`.
    @inline(__always)
    static func fastNumber(_ p: inout UnsafePointer<UInt8>, _ powers: UnsafeBufferPointer<Double>) -> Double? {
        var q = p
        let negative = q[0] == 0x2D
        if negative || q[0] == 0x2B { q += 1 }
        var mantissa: UInt64 = 0
        let intStart = q
        while true {
            let d = q[0] &- 0x30
            if d > 9 { break }
            mantissa = mantissa &* 10 &+ UInt64(d); q += 1
        }
        var digits = q - intStart
        var exponent = 0
        if q[0] == 0x2E {
            q += 1
            let fracStart = q
            while true {
                let d = q[0] &- 0x30
                if d > 9 { break }
                mantissa = mantissa &* 10 &+ UInt64(d); q += 1
            }
            exponent = fracStart - q
            digits += q - fracStart
        }
        // More than 19 digits may have overflowed the mantissa: leave them to the general path.
        guard digits > 0, digits <= 19 else { return nil }
        if q[0] | 0x20 == 0x65 {  // e or E
            q += 1
            let expNegative = q[0] == 0x2D
            if expNegative || q[0] == 0x2B { q += 1 }
            let expStart = q
            var e = 0
            while true {
                let d = q[0] &- 0x30
                if d > 9 { break }
                if e < 100_000 { e = e &* 10 &+ Int(d) }
                q += 1
            }
            guard q != expStart else { return nil }
            exponent += expNegative ? -e : e
        }
        guard isFieldEnd(q[0]) else { return nil }
        var v = 0.0
        if mantissa != 0 {
            guard mantissa < (1 << 53), exponent >= -22, exponent <= 22 else { return nil }
            v = Double(mantissa)  // exact: below 2^53
            if exponent < 0 { v /= powers[-exponent] } else if exponent > 0 { v *= powers[exponent] }
        }
        p = q
        return negative ? -v : v
    }

    @inline(__always)
    static func fieldText(_ s: UnsafePointer<UInt8>, _ e: UnsafePointer<UInt8>, _ quoted: Bool, _ scratch: [UInt8]) -> String {
        quoted ? String(decoding: scratch, as: UTF8.self) : String(decoding: UnsafeBufferPointer(start: s, count: e - s), as: UTF8.self)
    }

    /// Control characters as `\u{0}` escapes, so an error message never carries raw bytes.
    static func printable(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined())
    }

    /// A numeric field: a number, NaN for a missing token, nil when it is neither.
    @inline(__always)
    static func numericValue(_ s: UnsafePointer<UInt8>, _ e: UnsafePointer<UInt8>) -> Double? {
        var a = s, b = e
        while a < b, a[0] == 0x20 || a[0] == 0x09 { a += 1 }
        while b > a, b[-1] == 0x20 || b[-1] == 0x09 { b -= 1 }
        if a == b { return .nan }
        if let v = FastFloat.parse(a, b) { return v }
        // `Double(String)` goes through a C string and would stop at a NUL byte ("1\0 2" read as 1).
        if memchr(a, 0, b - a) != nil { return nil }
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
