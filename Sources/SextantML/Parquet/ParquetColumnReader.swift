// Reads one column of a Parquet file, row group after row group and page after page, into the
// trainer's column form (`CSVColumn`): numbers with NaN for nulls, or categorical codes in order
// of first appearance with -1 for nulls, the same as the CSV parser produces.
import Foundation

/// One wanted column: where it is in the schema and how its values are to be read.
struct ColumnPlan: Sendable {
    var leaf: Int
    var element: SchemaElement
    var type: PhysicalType
    var meaning: ValueMeaning
    var kind: CSVColumnKind
    /// 1 for an optional column (definition levels present), 0 for a required one.
    var maxDefinition: Int
}

/// A column chunk's dictionary, decoded once.
enum DecodedDictionary {
    case numbers([Double])
    case strings(BinaryValues)
    var count: Int {
        switch self {
        case .numbers(let v): v.count
        case .strings(let v): v.count
        }
    }
}

/// Where one column's values accumulate.
struct ColumnSink {
    let kind: CSVColumnKind
    let name: String
    /// Numbers of integer physical types are named without a fraction when used as categories.
    let integral: Bool
    var numbers: [Double] = []
    var codes: [Int32] = []
    var levels: [String] = []
    var levelIndex: [String: Int32] = [:]
    /// Dictionary index -> category code (-2: not seen yet), for the current dictionary.
    var remap: [Int32] = []
    /// Dictionary index -> number, for numeric reads of a string dictionary (nil: not a number).
    var dictionaryNumbers: [Double?] = []
    var rows: Int { kind == .categorical ? codes.count : numbers.count }

    init(kind: CSVColumnKind, name: String, integral: Bool, reserve: Int) {
        self.kind = kind; self.name = name; self.integral = integral
        if kind == .categorical { codes.reserveCapacity(reserve) } else { numbers.reserveCapacity(reserve) }
    }

    func fail(_ row: Int, _ message: String) -> ParquetError {
        ParquetError(-1, "row \(row + 1): \(message)")
    }

    mutating func code(_ text: String) -> Int32 {
        if let c = levelIndex[text] { return c }
        let c = Int32(levels.count)
        levels.append(text); levelIndex[text] = c
        return c
    }

    func categoryName(_ v: Double) -> String {
        if integral, v == v.rounded(), abs(v) < 9.0e15 { return String(Int64(v)) }
        return String(v)
    }

    /// A binary label as the CSV parser reads it.
    static func label(_ v: Double) -> Double? { v == 0 || v == 1 ? v : nil }
    static func label(_ text: String) -> Double? {
        switch text.trimmingCharacters(in: .whitespaces) {
        case "1", "1.0", "true", "True", "TRUE": 1
        case "0", "0.0", "false", "False", "FALSE": 0
        default: nil
        }
    }

    /// A string read as a number with the CSV parser's rules (missing tokens are NaN).
    static func number(_ bytes: UnsafeRawBufferPointer) -> Double? {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count > 0 else { return .nan }
        return CSVParser.numericValue(base, base + bytes.count)
    }

    mutating func new(dictionary: DecodedDictionary) {
        remap = [Int32](repeating: -2, count: dictionary.count)
        dictionaryNumbers = []
        if case .strings(let s) = dictionary, kind != .categorical {
            dictionaryNumbers = (0..<s.count).map { i in
                kind == .label ? Self.label(s.string(i)) : s.withValue(i) { Self.number($0) }
            }
        }
    }

    /// Appends `rows` rows; `defined(r)` says whether row r has a value, `value(k, row)` handles the
    /// k-th value.
    @inline(__always)
    mutating func appendRows(_ rowCount: Int, defs: [UInt32]?, maxDef: UInt32,
                             value: (inout ColumnSink, Int, Int) throws -> Void) throws {
        let first = rows
        var k = 0
        for r in 0..<rowCount {
            if let defs, defs[r] != maxDef {
                switch kind {
                case .numeric: numbers.append(.nan)
                case .categorical: codes.append(-1)
                case .label: throw fail(first + r, "target value is missing (null)")
                }
            } else {
                try value(&self, k, first + r)
                k += 1
            }
        }
    }

    mutating func append(numbers v: [Double], rows: Int, defs: [UInt32]?, maxDef: UInt32) throws {
        try appendRows(rows, defs: defs, maxDef: maxDef) { s, k, row in
            let x = v[k]
            switch s.kind {
            case .numeric: s.numbers.append(x)
            case .label:
                guard let l = Self.label(x) else { throw s.fail(row, "target value \(x) is not 0/1 (binary classification)") }
                s.numbers.append(l)
            case .categorical: s.codes.append(x.isNaN ? -1 : s.code(s.categoryName(x)))
            }
        }
    }

    mutating func append(strings v: BinaryValues, rows: Int, defs: [UInt32]?, maxDef: UInt32) throws {
        try appendRows(rows, defs: defs, maxDef: maxDef) { s, k, row in
            switch s.kind {
            case .numeric:
                guard let x = v.withValue(k, { Self.number($0) }) else {
                    throw s.fail(row, "non-numeric value '\(v.string(k))' in a numeric column")
                }
                s.numbers.append(x)
            case .label:
                guard let l = Self.label(v.string(k)) else { throw s.fail(row, "target value '\(v.string(k))' is not 0/1 (binary classification)") }
                s.numbers.append(l)
            case .categorical: s.codes.append(s.code(v.string(k)))
            }
        }
    }

    mutating func append(indices: [UInt32], dictionary: DecodedDictionary, rows: Int, defs: [UInt32]?, maxDef: UInt32) throws {
        let size = dictionary.count
        try appendRows(rows, defs: defs, maxDef: maxDef) { s, k, row in
            let i = Int(indices[k])
            guard i < size else { throw s.fail(row, "dictionary index \(i) out of range (the dictionary has \(size) entries)") }
            switch (s.kind, dictionary) {
            case (.categorical, _):
                var c = s.remap[i]
                if c == -2 {
                    switch dictionary {
                    case .strings(let d): c = s.code(d.string(i))
                    case .numbers(let d): c = d[i].isNaN ? -1 : s.code(s.categoryName(d[i]))
                    }
                    s.remap[i] = c
                }
                s.codes.append(c)
            case (.numeric, .numbers(let d)): s.numbers.append(d[i])
            case (.label, .numbers(let d)):
                guard let l = Self.label(d[i]) else { throw s.fail(row, "target value \(d[i]) is not 0/1 (binary classification)") }
                s.numbers.append(l)
            case (_, .strings(let d)):
                guard let x = s.dictionaryNumbers[i] else {
                    throw s.fail(row, s.kind == .label ? "target value '\(d.string(i))' is not 0/1 (binary classification)"
                                                       : "non-numeric value '\(d.string(i))' in a numeric column")
                }
                s.numbers.append(x)
            }
        }
    }

    func column() -> CSVColumn {
        kind == .categorical ? .categorical(codes: codes, levels: levels) : .numeric(numbers)
    }
}

/// Reads all row groups of one column.
struct ColumnReader {
    let file: UnsafeRawBufferPointer
    /// Where the footer starts: column chunks must end before it.
    let dataEnd: Int
    let plan: ColumnPlan
    let metadata: FileMetadata
    /// Largest number of values accepted in one page (writers use at most tens of thousands).
    static let maxPageValues = 1 << 24

    // Scratch reused across pages.
    var page: [UInt8] = []
    var defs: [UInt32] = []
    var indices: [UInt32] = []
    var numbers: [Double] = []
    var strings = BinaryValues()

    init(file: UnsafeRawBufferPointer, dataEnd: Int, plan: ColumnPlan, metadata: FileMetadata) {
        self.file = file; self.dataEnd = dataEnd; self.plan = plan; self.metadata = metadata
    }

    var name: String { plan.element.name }

    mutating func read() throws -> CSVColumn {
        let integral = plan.type == .int32 || plan.type == .int64 || plan.type == .boolean
        var sink = ColumnSink(kind: plan.kind, name: name, integral: integral, reserve: min(metadata.numRows, Self.maxPageValues))
        for (g, group) in metadata.rowGroups.enumerated() {
            try readChunk(group: g, group.columns[plan.leaf], rows: group.numRows, into: &sink)
        }
        return sink.column()
    }

    func chunkError(_ group: Int, _ offset: Int, _ message: String) -> ParquetError {
        ColumnChunkPages(file: file, dataEnd: dataEnd, column: name).error(group, offset, message)
    }

    mutating func readChunk(group g: Int, _ chunk: ColumnChunk, rows: Int, into sink: inout ColumnSink) throws {
        guard let meta = chunk.meta else { throw chunkError(g, 0, "column chunk has no metadata") }
        if let path = chunk.filePath { throw chunkError(g, meta.dataPageOffset, "column chunk stored in another file ('\(path)') is not supported") }
        guard meta.path == [name] else {
            throw chunkError(g, meta.dataPageOffset, "column chunk path \(meta.path.joined(separator: ".")) does not match the schema column")
        }
        guard meta.type == plan.type else {
            throw chunkError(g, meta.dataPageOffset, "column chunk type \(meta.type) differs from the schema's \(plan.type)")
        }
        let pages = ColumnChunkPages(file: file, dataEnd: dataEnd, column: name)
        var dictionary: DecodedDictionary?
        try pages.walk(group: g, meta, total: rows, unit: "rows") { page, header, body in
            switch page {
            case .dictionary(let d):
                let decoded = try decodeDictionary(d, header, body, codec: meta.codec)
                sink.new(dictionary: decoded)
                dictionary = decoded
            case .dataV1(let d):
                try decodeDataPageV1(d, header, body, codec: meta.codec, dictionary: dictionary, into: &sink)
            case .dataV2(let d):
                try decodeDataPageV2(d, header, body, codec: meta.codec, dictionary: dictionary, into: &sink)
            }
        }
    }

    /// The page body, decompressed into `page` when compressed.
    mutating func withPageData<R>(_ codec: CompressionCodec, _ body: UnsafeRawBufferPointer, size: Int,
                                  _ use: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        if codec == .uncompressed {
            guard body.count == size else { throw ParquetError(0, "uncompressed page has \(body.count) bytes, its header says \(size)") }
            return try use(body)
        }
        try PageCodec.decompress(codec, body, size: size, into: &page)
        return try page.withUnsafeBytes { try use(UnsafeRawBufferPointer(rebasing: $0[0..<size])) }
    }

    mutating func decodeDictionary(_ d: DictionaryPageHeader, _ h: PageHeader, _ body: UnsafeRawBufferPointer,
                                   codec: CompressionCodec) throws -> DecodedDictionary {
        guard d.encoding == PageEncoding.plain.rawValue || d.encoding == PageEncoding.plainDictionary.rawValue else {
            throw ParquetError(0, "dictionary page encoding \(d.encoding) is not PLAIN")
        }
        guard d.numValues <= Self.maxPageValues else { throw ParquetError(0, "dictionary of \(d.numValues) values is too large") }
        let plan = self.plan
        var nums: [Double] = []
        var strs = BinaryValues()
        try withPageData(codec, body, size: h.uncompressedSize) { data in
            var c = ByteCursor(data)
            try Self.decodeValues(&c, encoding: PageEncoding.plain.rawValue, count: d.numValues, plan: plan,
                                  numbers: &nums, strings: &strs)
        }
        return Self.producesStrings(plan) ? .strings(strs) : .numbers(nums)
    }

    /// Byte arrays that are not decimals stay strings; everything else becomes numbers.
    static func producesStrings(_ plan: ColumnPlan) -> Bool {
        if case .decimal = plan.meaning { return false }
        return plan.type == .byteArray
    }

    mutating func decodeDataPageV1(_ d: DataPageHeader, _ h: PageHeader, _ body: UnsafeRawBufferPointer,
                                   codec: CompressionCodec, dictionary: DecodedDictionary?, into sink: inout ColumnSink) throws {
        guard d.numValues <= Self.maxPageValues else { throw ParquetError(0, "page of \(d.numValues) values exceeds the limit of \(Self.maxPageValues)") }
        let maxDef = plan.maxDefinition
        var defs = self.defs
        var present = d.numValues
        let size = h.uncompressedSize
        var scratch = Scratch(indices: indices, numbers: numbers, strings: strings)
        defer { self.defs = defs; indices = scratch.indices; numbers = scratch.numbers; strings = scratch.strings }
        let plan = self.plan
        let kind = try withPageData(codec, body, size: size) { data -> Scratch.Filled in
            var c = ByteCursor(data)
            if maxDef > 0 {
                guard d.definitionLevelEncoding == PageEncoding.rle.rawValue else {
                    throw ParquetError(0, "definition level encoding \(d.definitionLevelEncoding) is not supported (RLE only)")
                }
                let length = Int(try c.u32())
                let r = try c.take(length, "definition levels")
                var lc = ByteCursor(data, from: r.lowerBound, end: r.upperBound)
                try LevelDecoder.hybrid(&lc, width: LevelDecoder.bitWidth(maxDef), count: d.numValues, into: &defs)
                present = Self.countPresent(defs, d.numValues, UInt32(maxDef))
            }
            return try scratch.decode(&c, encoding: d.encoding, count: present, plan: plan, dictionary: dictionary)
        }
        try scratch.flush(kind, into: &sink, rows: d.numValues, defs: maxDef > 0 ? Array(defs.prefix(d.numValues)) : nil,
                          maxDef: UInt32(maxDef), dictionary: dictionary)
    }

    mutating func decodeDataPageV2(_ d: DataPageHeaderV2, _ h: PageHeader, _ body: UnsafeRawBufferPointer,
                                   codec: CompressionCodec, dictionary: DecodedDictionary?, into sink: inout ColumnSink) throws {
        guard d.numValues <= Self.maxPageValues else { throw ParquetError(0, "page of \(d.numValues) values exceeds the limit of \(Self.maxPageValues)") }
        guard d.repetitionLevelsByteLength == 0 else { throw ParquetError(0, "repetition levels in a flat column") }
        let levelBytes = d.definitionLevelsByteLength
        guard levelBytes <= body.count, levelBytes <= h.uncompressedSize else {
            throw ParquetError(0, "definition levels of \(levelBytes) bytes exceed the page")
        }
        let maxDef = plan.maxDefinition
        var present = d.numValues
        if maxDef > 0 {
            var lc = ByteCursor(UnsafeRawBufferPointer(rebasing: body[0..<levelBytes]))
            try LevelDecoder.hybrid(&lc, width: LevelDecoder.bitWidth(maxDef), count: d.numValues, into: &defs)
            present = Self.countPresent(defs, d.numValues, UInt32(maxDef))
        } else if levelBytes != 0 {
            throw ParquetError(0, "definition levels in a required column")
        }
        guard present == d.numValues - d.numNulls else {
            throw ParquetError(0, "definition levels give \(d.numValues - present) nulls, the page header says \(d.numNulls)")
        }
        let values = UnsafeRawBufferPointer(rebasing: body[levelBytes...])
        let size = h.uncompressedSize - levelBytes
        var scratch = Scratch(indices: indices, numbers: numbers, strings: strings)
        defer { indices = scratch.indices; numbers = scratch.numbers; strings = scratch.strings }
        let plan = self.plan
        let kind = try withPageData(d.isCompressed ? codec : .uncompressed, values, size: size) { data in
            var c = ByteCursor(data)
            return try scratch.decode(&c, encoding: d.encoding, count: present, plan: plan, dictionary: dictionary)
        }
        try scratch.flush(kind, into: &sink, rows: d.numValues, defs: maxDef > 0 ? Array(defs.prefix(d.numValues)) : nil,
                          maxDef: UInt32(maxDef), dictionary: dictionary)
    }

    static func countPresent(_ defs: [UInt32], _ n: Int, _ maxDef: UInt32) -> Int {
        var k = 0
        for i in 0..<n where defs[i] == maxDef { k += 1 }
        return k
    }

    /// Decodes `count` non-dictionary values of `plan`'s type into `numbers` or `strings`.
    static func decodeValues(_ c: inout ByteCursor, encoding: Int32, count: Int, plan: ColumnPlan,
                             numbers: inout [Double], strings: inout BinaryValues) throws {
        numbers.removeAll(keepingCapacity: true)
        strings.removeAll()
        guard let enc = PageEncoding(rawValue: encoding) else { throw c.fail("unknown encoding \(encoding)") }
        let convert = NumberConversion.converter(plan.type, plan.meaning)
        switch (enc, plan.type) {
        case (.plain, .boolean): try FixedDecoder.booleans(&c, count: count, into: &numbers)
        case (.rle, .boolean):
            let length = Int(try c.u32())
            let r = try c.take(length, "RLE booleans")
            var lc = ByteCursor(c.buffer, from: r.lowerBound, end: r.upperBound)
            var bits: [UInt32] = []
            try LevelDecoder.hybrid(&lc, width: 1, count: count, into: &bits)
            for i in 0..<count { numbers.append(Double(bits[i])) }
        case (.plain, .int32), (.plain, .float): try FixedDecoder.values(&c, count: count, width: 4, split: false, into: &numbers, convert)
        case (.plain, .int64), (.plain, .double): try FixedDecoder.values(&c, count: count, width: 8, split: false, into: &numbers, convert)
        case (.byteStreamSplit, .int32), (.byteStreamSplit, .float):
            try FixedDecoder.values(&c, count: count, width: 4, split: true, into: &numbers, convert)
        case (.byteStreamSplit, .int64), (.byteStreamSplit, .double):
            try FixedDecoder.values(&c, count: count, width: 8, split: true, into: &numbers, convert)
        case (.deltaBinaryPacked, .int32), (.deltaBinaryPacked, .int64):
            let values = try DeltaDecoder.binaryPacked(&c, limit: count, int32: plan.type == .int32)
            guard values.count == count else { throw c.fail("delta stream holds \(values.count) values, the page \(count)") }
            for v in values { numbers.append(convert(UInt64(bitPattern: v))) }
        case (.plain, .byteArray): try ByteArrayDecoder.plain(&c, count: count, into: &strings)
        case (.deltaLengthByteArray, .byteArray): try ByteArrayDecoder.deltaLength(&c, count: count, into: &strings)
        case (.deltaByteArray, .byteArray), (.deltaByteArray, .fixedLenByteArray):
            try ByteArrayDecoder.deltaByteArray(&c, count: count, into: &strings)
        case (.plain, .fixedLenByteArray):
            try ByteArrayDecoder.fixed(&c, count: count, length: plan.element.typeLength ?? 0, into: &strings)
        case (.byteStreamSplit, .fixedLenByteArray):
            let width = plan.element.typeLength ?? 0
            guard width > 0 else { throw c.fail("fixed length \(width) must be positive") }
            let r = try c.take(count * width, "BYTE_STREAM_SPLIT values")
            var value = [UInt8](repeating: 0, count: width)
            for i in 0..<count {
                for k in 0..<width { value[k] = c.buffer[r.lowerBound + k * count + i] }
                value.withUnsafeBytes { strings.append($0) }
            }
        default:
            throw c.fail("encoding \(enc) is not supported for \(plan.type) columns")
        }
        // Decimals stored as bytes become numbers.
        if case .decimal(let scale) = plan.meaning, plan.type == .byteArray || plan.type == .fixedLenByteArray {
            for i in 0..<strings.count { numbers.append(strings.withValue(i) { NumberConversion.bigEndianDecimal($0, scale: scale) }) }
            strings.removeAll()
        }
    }
}

/// Per-page scratch arrays and the dispatch from decoded values to the sink.
struct Scratch {
    enum Filled { case numbers, strings, indices }
    var indices: [UInt32]
    var numbers: [Double]
    var strings: BinaryValues

    mutating func decode(_ c: inout ByteCursor, encoding: Int32, count: Int, plan: ColumnPlan,
                         dictionary: DecodedDictionary?) throws -> Filled {
        if encoding == PageEncoding.rleDictionary.rawValue || encoding == PageEncoding.plainDictionary.rawValue {
            guard dictionary != nil else { throw c.fail("dictionary-encoded page without a dictionary page") }
            if count == 0 { indices.removeAll(keepingCapacity: true); return .indices }
            let width = Int(try c.byte())
            try LevelDecoder.hybrid(&c, width: width, count: count, into: &indices)
            return .indices
        }
        try ColumnReader.decodeValues(&c, encoding: encoding, count: count, plan: plan, numbers: &numbers, strings: &strings)
        return ColumnReader.producesStrings(plan) ? .strings : .numbers
    }

    func flush(_ filled: Filled, into sink: inout ColumnSink, rows: Int, defs: [UInt32]?, maxDef: UInt32,
               dictionary: DecodedDictionary?) throws {
        switch filled {
        case .numbers: try sink.append(numbers: numbers, rows: rows, defs: defs, maxDef: maxDef)
        case .strings: try sink.append(strings: strings, rows: rows, defs: defs, maxDef: maxDef)
        case .indices:
            guard let dictionary else { throw ParquetError(0, "dictionary-encoded page without a dictionary page") }
            try sink.append(indices: indices, dictionary: dictionary, rows: rows, defs: defs, maxDef: maxDef)
        }
    }
}

/// Physical values to Double according to their logical type (documented in docs/trainer.md).
enum NumberConversion {
    static func powerOfTen(_ e: Int) -> Double { e <= 22 ? FastFloat.powersOfTen[e] : pow(10, Double(e)) }

    static func converter(_ type: PhysicalType, _ meaning: ValueMeaning) -> (UInt64) -> Double {
        var divisor = 1.0
        switch meaning {
        case .decimal(let s): divisor = powerOfTen(s)
        case .time(let e), .timestamp(let e): divisor = powerOfTen(e)
        default: break
        }
        let unsigned = meaning == .unsigned
        switch type {
        case .int32:
            if unsigned { return { Double(UInt32(truncatingIfNeeded: $0)) } }
            if divisor == 1 { return { Double(Int32(truncatingIfNeeded: $0)) } }
            return { Double(Int32(truncatingIfNeeded: $0)) / divisor }
        case .int64:
            if unsigned { return { Double($0) } }
            if divisor == 1 { return { Double(Int64(bitPattern: $0)) } }
            return { Double(Int64(bitPattern: $0)) / divisor }
        case .float: return { Double(Float(bitPattern: UInt32(truncatingIfNeeded: $0))) }
        case .double: return { Double(bitPattern: $0) }
        default: return { Double($0) }
        }
    }

    /// A big-endian two's complement unscaled decimal divided by 10^scale.
    static func bigEndianDecimal(_ b: UnsafeRawBufferPointer, scale: Int) -> Double {
        if b.isEmpty { return .nan }
        if b.count <= 8 {
            var v: Int64 = b[0] >= 0x80 ? -1 : 0
            for x in b { v = v << 8 | Int64(x) }
            return Double(v) / powerOfTen(scale)
        }
        var v = 0.0
        for x in b { v = v * 256 + Double(x) }
        if b[0] >= 0x80 { v -= pow(2, Double(8 * b.count)) }
        return v / powerOfTen(scale)
    }
}
