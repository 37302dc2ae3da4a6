// CSV parsing over raw bytes: RFC 4180 quoting, missing values, typed columns, parallel chunks.
//
// Speed: the bytes are memory-mapped (or already in memory after gzip/HTTP) and parsed with a
// hand-written number parser. Files without any quote character are split at newlines into
// chunks of a few MiB that the threads take in turn (a busy core does not hold up the others); a
// quote can hide a newline inside a field, so files with quotes are parsed in one pass (still
// correct, just single-threaded). Unquoted numeric fields are converted while they are scanned
// (`fastNumber`); everything else (quotes, padding, missing tokens, long or unusual numbers,
// errors) takes the general field path, so values and errors do not depend on which path ran.
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

    /// Bytes per parallel chunk: many chunks per thread keep the threads evenly busy.
    static let defaultChunkBytes = 4 << 20

    /// Parses `bytes` (a whole CSV file with a header line). `kinds` is called with the header and
    /// returns the parse kind of each wanted column by name; header problems are reported there.
    ///
    /// With `shard` (index, count), only that part of the rows is parsed: the body is cut into
    /// `count` byte ranges of equal size, each moved to the start of the next line (the rule of
    /// the parallel chunks), so the shards of all ranks hold every row exactly once, in order.
    public static func parse(
        _ bytes: UnsafeRawBufferPointer,
        threads: Int = 1,
        shard: (index: Int, count: Int)? = nil,
        kinds: ([String]) throws -> [String: CSVColumnKind]
    ) throws -> CSVTable {
        try parse(bytes, threads: threads, chunkBytes: defaultChunkBytes, shard: shard, kinds: kinds)
    }

    /// Start of line-aligned part `k` of `parts` of the body (the byte after a newline).
    static func lineBoundary(_ k: Int, of parts: Int, _ start: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> UnsafePointer<UInt8> {
        if k <= 0 { return start }
        if k >= parts { return end }
        let p = start + (end - start) * k / parts
        guard let nl = memchr(p, 0x0A, end - p) else { return end }
        return UnsafePointer(nl.assumingMemoryBound(to: UInt8.self)) + 1
    }

    /// `parse` with the chunk size as a parameter (tests use small chunks to get many of them).
    static func parse(
        _ bytes: UnsafeRawBufferPointer,
        threads: Int,
        chunkBytes: Int,
        shard: (index: Int, count: Int)? = nil,
        kinds: ([String]) throws -> [String: CSVColumnKind]
    ) throws -> CSVTable {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count > 0 else {
            throw TrainerError.badInput("data: the file is empty (no header line)")
        }
        var start = base
        var end = base + bytes.count
        if bytes.count >= 3, base[0] == 0xEF, base[1] == 0xBB, base[2] == 0xBF { start += 3 }  // UTF-8 BOM
        var (header, bodyStart, headerLines) = try parseHeader(start, end)
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

        // A shard: only its rows; errors name lines of the file (the newlines before it counted).
        var linesBefore: () -> Int = { 0 }
        if let shard, shard.count > 1 {
            let fileBody = UnsafePointer(bodyStart), fileEnd = UnsafePointer(end)
            let from = lineBoundary(shard.index, of: shard.count, fileBody, fileEnd)
            let to = lineBoundary(shard.index + 1, of: shard.count, fileBody, fileEnd)
            // A quoted field may hold a newline, which would make a shard start inside a row.
            if to > from, let q = memchr(from, 0x22, to - from) {
                let offset = UnsafePointer<UInt8>(q.assumingMemoryBound(to: UInt8.self)) - base
                throw TrainerError.badInput("data: byte \(offset): a quote character; training on several ranks splits CSV files at newlines and needs files without quoted fields (write Parquet, or train on one rank)")
            }
            linesBefore = {
                var count = 0, p = fileBody
                while p < from, let nl = memchr(p, 0x0A, from - p) {
                    count += 1
                    p = UnsafePointer(nl.assumingMemoryBound(to: UInt8.self)) + 1
                }
                return count
            }
            bodyStart = from
            end = to
        }

        // Chunk boundaries: only at newlines, and only when no quote can hide one.
        let bodyCount = end - bodyStart
        let hasQuote = bodyCount > 0 && memchr(bodyStart, 0x22, bodyCount) != nil
        let parts = hasQuote ? 1 : max(1, min(bodyCount / max(chunkBytes, 1), 1 << 16))
        var bounds: [UnsafePointer<UInt8>] = [UnsafePointer(bodyStart)]
        for k in 1..<parts {
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
        let chunkBounds = bounds.map { SharedPointer($0) }

        // Each chunk writes its rows straight into the output columns, starting after the rows the
        // chunks before it can hold at most (their line ends, counted in parallel). Without blank
        // lines or quoted newlines these bounds are exact and the rows need no moving afterwards.
        let bounded = ResultSlots<Int>(count: chunkCount)
        parallelForDynamic(chunkCount, threads: threads) { k in
            bounded.set(k, maxRows(chunkBounds[k].base, chunkBounds[k + 1].base))
        }
        var capacities: [Int] = [], offsets: [Int] = [], total = 0
        for c in bounded.all {
            guard let c else { throw TrainerError.io("data: internal error: a chunk was not counted") }
            capacities.append(c); offsets.append(total); total += c
        }

        let nNum = numericNames.count, nCat = categoricalNames.count
        // Double outputs: the numeric columns, then the label (if any).
        let nDouble = nNum + (labelName == nil ? 0 : 1)
        var levels = [[String]](repeating: [], count: nCat)
        var codes: [[Int32]] = []
        var rowCount = 0
        let doubles = try withNewArrays(Double.self, count: nDouble, capacity: total) { doubleOut in
            codes = try withNewArrays(Int32.self, count: nCat, capacity: total) { codeOut in
                let slots = ResultSlots<ChunkResult>(count: chunkCount)
                let sharedDoubles = doubleOut.map { SharedMutablePointer($0) }
                let sharedCodes = codeOut.map { SharedMutablePointer($0) }
                let planCopy = plan, offsetsCopy = offsets, capacitiesCopy = capacities
                parallelForDynamic(chunkCount, threads: threads) { k in
                    let offset = offsetsCopy[k]
                    // This chunk's view of the outputs: one pointer per column, at its first row.
                    let targets = planCopy.map { slot -> Target in
                        switch slot {
                        case .skip: .skip
                        case .numeric(let i): .number(sharedDoubles[i].base + offset)
                        case .label: .label(sharedDoubles[nNum].base + offset)
                        case .categorical(let i): .category(i, sharedCodes[i].base + offset)
                        }
                    }
                    var chunk = ChunkResult(categorical: nCat)
                    FastFloat.powersOfTen.withUnsafeBufferPointer { powers in
                        targets.withUnsafeBufferPointer { t in
                            parseChunk(chunkBounds[k].base, chunkBounds[k + 1].base, targets: t, capacity: capacitiesCopy[k],
                                       powers: powers, into: &chunk)
                        }
                    }
                    slots.set(k, chunk)
                }
                let chunks = slots.all.compactMap { $0 }
                guard chunks.count == chunkCount else { throw TrainerError.io("data: internal error: a chunk was not parsed") }

                // The first error in file order wins; line numbers are made global here.
                var lineOffset = headerLines
                if chunks.contains(where: { $0.error != nil }) { lineOffset += linesBefore() }
                for chunk in chunks {
                    if let err = chunk.error {
                        let column = err.column.map { " column '\(header[$0])':" } ?? ""
                        throw TrainerError.badInput("data: line \(lineOffset + err.line):\(column) \(err.message)")
                    }
                    lineOffset += chunk.lines
                }
                // Categorical codes: per-chunk dictionaries merged in chunk order, so codes follow
                // the first appearance in the file.
                var index = [[String: Int32]](repeating: [:], count: nCat)
                for (k, c) in chunks.enumerated() {
                    for slot in 0..<nCat {
                        let remap = c.levels[slot].map { level -> Int32 in
                            if let code = index[slot][level] { return code }
                            let code = Int32(levels[slot].count)
                            levels[slot].append(level); index[slot][level] = code
                            return code
                        }
                        if remap.enumerated().allSatisfy({ $0.offset == Int($0.element) }) { continue }
                        let out = codeOut[slot] + offsets[k]
                        for i in 0..<c.rows where out[i] >= 0 { out[i] = remap[Int(out[i])] }
                    }
                }
                // Compact: move each chunk's rows down over the unused tail of the previous chunk.
                for (k, c) in chunks.enumerated() {
                    if offsets[k] != rowCount {
                        for p in doubleOut { (p + rowCount).moveInitialize(from: p + offsets[k], count: c.rows) }
                        for p in codeOut { (p + rowCount).moveInitialize(from: p + offsets[k], count: c.rows) }
                    }
                    rowCount += c.rows
                }
                return rowCount
            }
            return rowCount
        }
        var columns: [String: CSVColumn] = [:]
        for (slot, name) in numericNames.enumerated() { columns[name] = .numeric(doubles[slot]) }
        if let labelName { columns[labelName] = .numeric(doubles[nNum]) }
        for (slot, name) in categoricalNames.enumerated() {
            columns[name] = .categorical(codes: codes[slot], levels: levels[slot])
        }
        return CSVTable(header: header, rowCount: rowCount, columns: columns)
    }

    // MARK: - Internals

    enum Slot: Sendable { case skip, numeric(Int), categorical(Int), label }

    /// Where one column's values go within a chunk (pointers at the chunk's first row).
    enum Target { case skip, number(UnsafeMutablePointer<Double>), label(UnsafeMutablePointer<Double>), category(Int, UnsafeMutablePointer<Int32>) }

    struct ChunkError: Sendable { var line: Int; var column: Int?; var message: String }

    /// The bytes of a short categorical level, compared as two words instead of as a String.
    struct SmallKey: Equatable, Sendable {
        var length: Int
        var low: UInt64
        var high: UInt64
        static let never = SmallKey(length: -1, low: 0, high: 0)
        init(length: Int, low: UInt64, high: UInt64) { self.length = length; self.low = low; self.high = high }
        /// nil when longer than 16 bytes.
        @inline(__always)
        init?(_ s: UnsafePointer<UInt8>, count n: Int) {
            guard n <= 16 else { return nil }
            var low: UInt64 = 0, high: UInt64 = 0
            for i in 0..<n {
                if i < 8 { low |= UInt64(s[i]) << (8 * i) } else { high |= UInt64(s[i]) << (8 * (i - 8)) }
            }
            self.init(length: n, low: low, high: high)
        }
    }

    struct ChunkResult: Sendable {
        static let smallLevels = 16
        var levels: [[String]]
        var dictionaries: [[String: Int32]]
        /// Keys of the first `smallLevels` levels of each column (index = code), for a string-free
        /// lookup; levels longer than 16 bytes hold `SmallKey.never`.
        var smallKeys: [SmallKey]
        /// How many entries of `smallKeys` each column uses.
        var smallCount: [Int]
        var rows = 0
        var lines = 0
        var error: ChunkError?
        init(categorical: Int) {
            levels = Array(repeating: [], count: categorical)
            dictionaries = Array(repeating: [:], count: categorical)
            smallKeys = Array(repeating: .never, count: categorical * Self.smallLevels)
            smallCount = Array(repeating: 0, count: categorical)
        }

        /// Code of an unquoted field among the first levels of column `slot`, nil when not among them.
        @inline(__always)
        func smallCode(_ slot: Int, _ s: UnsafePointer<UInt8>, _ e: UnsafePointer<UInt8>) -> Int32? {
            guard let key = SmallKey(s, count: e - s) else { return nil }
            let n = smallCount[slot]
            let base = slot * Self.smallLevels
            for i in 0..<n where smallKeys[base + i] == key { return Int32(i) }
            return nil
        }

        mutating func addLevel(_ slot: Int, _ text: String) -> Int32 {
            let code = Int32(levels[slot].count)
            dictionaries[slot][text] = code
            levels[slot].append(text)
            if code < Self.smallLevels {
                let bytes = Array(text.utf8)
                let key = bytes.withUnsafeBufferPointer { b in b.baseAddress.flatMap { SmallKey($0, count: b.count) } }
                smallKeys[slot * Self.smallLevels + Int(code)] = key ?? .never
                smallCount[slot] = Int(code) + 1
            }
            return code
        }
    }

    /// `count` new arrays of `capacity` elements whose storage `body` fills in place; `body` returns
    /// how many leading elements of every array it initialized. Each array comes from a nested
    /// `Array(unsafeUninitializedCapacity:)`, so nothing is pre-filled and nothing is copied. Only
    /// for trivial element types (numbers). Beyond `nestingLimit` arrays the nesting would use too
    /// much stack (about 200 bytes per level), so such wide tables go through temporary buffers
    /// and one copy.
    static func withNewArrays<T: BitwiseCopyable>(_: T.Type, count: Int, capacity: Int, nestingLimit: Int = 1024,
                                                  _ body: ([UnsafeMutablePointer<T>]) throws -> Int) throws -> [[T]] {
        if count > nestingLimit {
            let buffers = (0..<count).map { _ in UnsafeMutablePointer<T>.allocate(capacity: max(capacity, 1)) }
            defer { for b in buffers { b.deallocate() } }
            let n = try body(buffers)
            return buffers.map { Array(UnsafeBufferPointer(start: $0, count: n)) }
        }
        var pointers: [UnsafeMutablePointer<T>] = []
        var arrays: [[T]] = []  // innermost (last) first
        pointers.reserveCapacity(count); arrays.reserveCapacity(count)
        _ = try nestArrays(count, max(capacity, 1), &pointers, &arrays, body)
        return arrays.reversed()
    }

    private static func nestArrays<T: BitwiseCopyable>(_ count: Int, _ capacity: Int, _ pointers: inout [UnsafeMutablePointer<T>],
                                      _ arrays: inout [[T]], _ body: ([UnsafeMutablePointer<T>]) throws -> Int) throws -> Int {
        if pointers.count == count { return try body(pointers) }
        var initialized = 0
        let array = try [T](unsafeUninitializedCapacity: capacity) { buffer, n in
            guard let base = buffer.baseAddress else { throw TrainerError.io("data: cannot allocate \(capacity) rows") }
            pointers.append(base)
            initialized = try nestArrays(count, capacity, &pointers, &arrays, body)
            n = initialized
        }
        arrays.append(array)
        return initialized
    }

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
