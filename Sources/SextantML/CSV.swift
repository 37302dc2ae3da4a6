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
}
