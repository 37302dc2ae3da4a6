// Nested Parquet columns (structs, lists, maps), as far as the Delta checkpoint reader needs them:
// one leaf column at a time, with its definition and repetition levels (Dremel encoding), read
// into per-row values. Only leaves with at most one repeated ancestor (a list or a map of
// primitives, possibly inside structs) are supported; deeper nesting is refused by name.
//
// The page loop is the flat reader's, with repetition levels added; decompression, dictionary
// pages and value encodings are shared with `ColumnReader`. Errors name the byte offset.

/// One value of a nested leaf: a number (integer, float, boolean as 0/1) or a string.
enum ParquetValue: Sendable, Equatable {
    case number(Double)
    case string(String)

    var string: String? { if case .string(let s) = self { s } else { nil } }
    var number: Double? { if case .number(let x) = self { x } else { nil } }
    /// A number that is a whole integer (sizes, versions).
    var integer: Int? {
        guard case .number(let x) = self, x == x.rounded(), abs(x) < 9.0e15 else { return nil }
        return Int(x)
    }
}

/// A leaf of the schema tree with its levels.
struct SchemaLeaf: Sendable {
    var path: [String]
    var element: SchemaElement
    /// Index of its column chunk in each row group.
    var index: Int
    var maxDefinition: Int
    var maxRepetition: Int
    /// The definition level at which its repeated ancestor (if any) holds an element.
    var repeatedDefinition: Int
}

/// A decoded nested leaf: levels for every entry and the non-null values in order.
struct NestedColumn: Sendable {
    let leaf: SchemaLeaf
    /// Entry index where each row starts.
    var rowStarts: [Int] = []
    var defs: [UInt8] = []
    /// Value index of each entry, -1 for a null or absent value.
    var valueIndex: [Int32] = []
    var values: [ParquetValue] = []

    var rowCount: Int { rowStarts.count }

    /// The entries of `row`.
    func entries(_ row: Int) -> Range<Int> {
        rowStarts[row]..<(row + 1 < rowStarts.count ? rowStarts[row + 1] : defs.count)
    }

    /// The value of a non-repeated leaf in `row` (nil: it or an ancestor is null).
    func scalar(_ row: Int) -> ParquetValue? {
        guard row >= 0, row < rowCount else { return nil }
        let v = valueIndex[rowStarts[row]]
        return v < 0 ? nil : values[Int(v)]
    }

    /// The elements of a repeated leaf in `row` (empty when the list or a parent is null or empty);
    /// an element whose value is null is nil.
    func elements(_ row: Int) -> [ParquetValue?] {
        guard row >= 0, row < rowCount else { return [] }
        var out: [ParquetValue?] = []
        for e in entries(row) where Int(defs[e]) >= leaf.repeatedDefinition {
            let v = valueIndex[e]
            out.append(v < 0 ? nil : values[Int(v)])
        }
        return out
    }
}

extension ParquetReader {
    /// The leaves of a (possibly nested) schema, depth first, with their levels.
    static func schemaLeaves(_ meta: FileMetadata) throws -> [SchemaLeaf] {
        var leaves: [SchemaLeaf] = []
        var next = 1
        func walk(_ count: Int, path: [String], def: Int, rep: Int, repeatedDef: Int, depth: Int) throws {
            guard depth <= 16 else { throw ParquetError(0, "schema nests deeper than 16 levels") }
            for _ in 0..<count {
                guard next < meta.schema.count else {
                    throw ParquetError(0, "schema ends inside group '\(path.joined(separator: "."))'")
                }
                let e = meta.schema[next]
                next += 1
                var d = def, r = rep, rd = repeatedDef
                switch e.repetition {
                case .optional?: d += 1
                case .repeated?: d += 1; r += 1; rd = d
                default: break
                }
                if e.numChildren > 0 {
                    try walk(e.numChildren, path: path + [e.name], def: d, rep: r, repeatedDef: rd, depth: depth + 1)
                } else {
                    guard e.type != nil else { throw ParquetError(0, "column '\((path + [e.name]).joined(separator: "."))' has no physical type") }
                    leaves.append(SchemaLeaf(path: path + [e.name], element: e, index: leaves.count,
                                             maxDefinition: d, maxRepetition: r, repeatedDefinition: rd))
                }
            }
        }
        try walk(meta.schema[0].numChildren, path: [], def: 0, rep: 0, repeatedDef: 0, depth: 0)
        guard next == meta.schema.count else {
            throw ParquetError(0, "schema has \(meta.schema.count - next) elements after the root's \(meta.schema[0].numChildren) children")
        }
        return leaves
    }

    /// Reads the leaf columns at `paths` (dotted names as in `path_in_schema`, e.g.
    /// `add.partitionValues.key_value.key`) of the file; a path the schema does not hold is absent
    /// from the result. `name` names the file in errors (`<name>: offset N: ...`).
    static func readNested(_ bytes: UnsafeRawBufferPointer, name: String, paths: [String]) throws -> [String: NestedColumn] {
        do {
            let (meta, footerStart) = try footer(bytes)
            let leaves = try schemaLeaves(meta)
            var total = 0
            for (g, group) in meta.rowGroups.enumerated() {
                guard group.columns.count == leaves.count else {
                    throw ParquetError(0, "row group \(g) has \(group.columns.count) column chunks, the schema \(leaves.count) leaf columns")
                }
                total += group.numRows
            }
            guard total == meta.numRows else { throw ParquetError(0, "row groups hold \(total) rows, the footer says \(meta.numRows)") }
            var out: [String: NestedColumn] = [:]
            for leaf in leaves where paths.contains(leaf.path.joined(separator: ".")) {
                var reader = try NestedLeafReader(file: bytes, dataEnd: footerStart, leaf: leaf, metadata: meta)
                let column = try reader.read()
                guard column.rowCount == total else {
                    throw ParquetError(0, "column '\(leaf.path.joined(separator: "."))' has \(column.rowCount) rows, the file \(total)")
                }
                out[leaf.path.joined(separator: ".")] = column
            }
            return out
        } catch let e as ParquetError {
            throw TrainerError.badInput("\(name): offset \(e.offset): \(e.message)")
        }
    }
}

/// Reads one nested leaf over all row groups.
struct NestedLeafReader {
    let file: UnsafeRawBufferPointer
    let dataEnd: Int
    let leaf: SchemaLeaf
    let metadata: FileMetadata
    /// Decompression, dictionary and value decoding are the flat reader's.
    var flat: ColumnReader
    var scratch = Scratch(indices: [], numbers: [], strings: BinaryValues())
    var levels: [UInt32] = []

    init(file: UnsafeRawBufferPointer, dataEnd: Int, leaf: SchemaLeaf, metadata: FileMetadata) throws {
        self.file = file; self.dataEnd = dataEnd; self.leaf = leaf; self.metadata = metadata
        let dotted = leaf.path.joined(separator: ".")
        guard leaf.maxRepetition <= 1 else {
            throw ParquetError(0, "column '\(dotted)' is nested in more than one list or map: not supported")
        }
        guard let type = leaf.element.type else { throw ParquetError(0, "column '\(dotted)' has no physical type") }
        var element = leaf.element
        element.name = dotted
        let meaning: ValueMeaning
        switch type {
        case .int96: throw ParquetError(0, "column '\(dotted)' is INT96: not supported")
        case .byteArray, .fixedLenByteArray:
            meaning = element.logical ?? .string
            if case .decimal = meaning { throw ParquetError(0, "column '\(dotted)' is a byte-array DECIMAL: not supported in nested columns") }
        default: meaning = .plain
        }
        let plan = ColumnPlan(leaf: leaf.index, element: element, type: type, meaning: meaning, kind: .categorical,
                              maxDefinition: leaf.maxDefinition)
        flat = ColumnReader(file: file, dataEnd: dataEnd, plan: plan, metadata: metadata)
    }

    var name: String { leaf.path.joined(separator: ".") }

    mutating func read() throws -> NestedColumn {
        var column = NestedColumn(leaf: leaf)
        for (g, group) in metadata.rowGroups.enumerated() {
            let before = column.rowCount
            try readChunk(group: g, group.columns[leaf.index], into: &column)
            guard column.rowCount - before == group.numRows else {
                throw flat.chunkError(g, 0, "holds \(column.rowCount - before) rows, the row group \(group.numRows)")
            }
        }
        return column
    }

    mutating func readChunk(group g: Int, _ chunk: ColumnChunk, into column: inout NestedColumn) throws {
        guard let meta = chunk.meta else { throw flat.chunkError(g, 0, "column chunk has no metadata") }
        if let path = chunk.filePath { throw flat.chunkError(g, meta.dataPageOffset, "column chunk stored in another file ('\(path)') is not supported") }
        guard meta.path == leaf.path else {
            throw flat.chunkError(g, meta.dataPageOffset, "column chunk path \(meta.path.joined(separator: ".")) does not match the schema column")
        }
        guard meta.type == flat.plan.type else {
            throw flat.chunkError(g, meta.dataPageOffset, "column chunk type \(meta.type) differs from the schema's \(flat.plan.type)")
        }
        let pages = ColumnChunkPages(file: file, dataEnd: dataEnd, column: flat.name)
        var dictionary: DecodedDictionary?
        try pages.walk(group: g, meta, total: meta.numValues, unit: "values") { page, header, body in
            switch page {
            case .dictionary(let d):
                dictionary = try flat.decodeDictionary(d, header, body, codec: meta.codec)
            case .dataV1(let d):
                try pageV1(d, header, body, codec: meta.codec, dictionary: dictionary, into: &column)
            case .dataV2(let d):
                try pageV2(d, header, body, codec: meta.codec, dictionary: dictionary, into: &column)
            }
        }
    }

    /// Levels of `count` entries in the RLE hybrid, each checked against `max`.
    mutating func decodeLevels(_ c: inout ByteCursor, max: Int, count: Int, what: String) throws -> [UInt8] {
        try LevelDecoder.hybrid(&c, width: LevelDecoder.bitWidth(max), count: count, into: &levels)
        var out = [UInt8](repeating: 0, count: count)
        for i in 0..<count {
            guard levels[i] <= UInt32(max) else { throw c.fail("\(what) level \(levels[i]) exceeds the maximum \(max)") }
            out[i] = UInt8(levels[i])
        }
        return out
    }

    mutating func pageV1(_ d: DataPageHeader, _ h: PageHeader, _ body: UnsafeRawBufferPointer, codec: CompressionCodec,
                         dictionary: DecodedDictionary?, into column: inout NestedColumn) throws {
        guard d.numValues <= ColumnReader.maxPageValues else { throw ParquetError(0, "page of \(d.numValues) values exceeds the limit of \(ColumnReader.maxPageValues)") }
        let leaf = self.leaf
        var this = self
        try flat.withPageData(codec, body, size: h.uncompressedSize) { data in
            var c = ByteCursor(data)
            func levels(_ max: Int, _ what: String, _ encoding: Int32) throws -> [UInt8]? {
                guard max > 0 else { return nil }
                guard encoding == PageEncoding.rle.rawValue else {
                    throw ParquetError(0, "\(what) level encoding \(encoding) is not supported (RLE only)")
                }
                let length = Int(try c.u32())
                let r = try c.take(length, "\(what) levels")
                var lc = ByteCursor(data, from: r.lowerBound, end: r.upperBound)
                return try this.decodeLevels(&lc, max: max, count: d.numValues, what: what)
            }
            let reps = try levels(leaf.maxRepetition, "repetition", d.repetitionLevelEncoding)
            let defs = try levels(leaf.maxDefinition, "definition", d.definitionLevelEncoding)
                ?? [UInt8](repeating: 0, count: d.numValues)
            let present = defs.reduce(0) { $0 + (Int($1) == leaf.maxDefinition ? 1 : 0) }
            let filled = try this.scratch.decode(&c, encoding: d.encoding, count: present, plan: this.flat.plan, dictionary: dictionary)
            try this.append(filled, reps: reps, defs: defs, dictionary: dictionary, into: &column)
        }
        scratch = this.scratch; levels = this.levels
    }

    mutating func pageV2(_ d: DataPageHeaderV2, _ h: PageHeader, _ body: UnsafeRawBufferPointer, codec: CompressionCodec,
                         dictionary: DecodedDictionary?, into column: inout NestedColumn) throws {
        guard d.numValues <= ColumnReader.maxPageValues else { throw ParquetError(0, "page of \(d.numValues) values exceeds the limit of \(ColumnReader.maxPageValues)") }
        let repBytes = d.repetitionLevelsByteLength, defBytes = d.definitionLevelsByteLength
        let (levelBytes, overflow) = repBytes.addingReportingOverflow(defBytes)
        guard !overflow, levelBytes <= body.count, levelBytes <= h.uncompressedSize else {
            throw ParquetError(0, "levels of \(repBytes) + \(defBytes) bytes exceed the page")
        }
        var reps: [UInt8]?
        if leaf.maxRepetition > 0 {
            var c = ByteCursor(UnsafeRawBufferPointer(rebasing: body[0..<repBytes]))
            reps = try decodeLevels(&c, max: leaf.maxRepetition, count: d.numValues, what: "repetition")
        } else if repBytes != 0 {
            throw ParquetError(0, "repetition levels in a column without a list or map")
        }
        var defs = [UInt8](repeating: 0, count: d.numValues)
        if leaf.maxDefinition > 0 {
            var c = ByteCursor(UnsafeRawBufferPointer(rebasing: body[repBytes..<levelBytes]))
            defs = try decodeLevels(&c, max: leaf.maxDefinition, count: d.numValues, what: "definition")
        } else if defBytes != 0 {
            throw ParquetError(0, "definition levels in a required column")
        }
        let maxDef = leaf.maxDefinition
        let present = defs.reduce(0) { $0 + (Int($1) == maxDef ? 1 : 0) }
        guard present == d.numValues - d.numNulls else {
            throw ParquetError(0, "definition levels give \(d.numValues - present) nulls, the page header says \(d.numNulls)")
        }
        let values = UnsafeRawBufferPointer(rebasing: body[levelBytes...])
        var this = self
        try flat.withPageData(d.isCompressed ? codec : .uncompressed, values, size: h.uncompressedSize - levelBytes) { data in
            var c = ByteCursor(data)
            let filled = try this.scratch.decode(&c, encoding: d.encoding, count: present, plan: this.flat.plan, dictionary: dictionary)
            try this.append(filled, reps: reps, defs: defs, dictionary: dictionary, into: &column)
        }
        scratch = this.scratch
    }

    /// Adds one page's entries: rows start where the repetition level is 0.
    func append(_ filled: Scratch.Filled, reps: [UInt8]?, defs: [UInt8], dictionary: DecodedDictionary?,
                into column: inout NestedColumn) throws {
        let count = defs.count
        if let reps, count > 0, column.defs.isEmpty, reps[0] != 0 {
            throw ParquetError(0, "the first value of the column chunk continues a row (repetition level \(reps[0]))")
        }
        var k = 0
        for i in 0..<count {
            if reps.map({ $0[i] == 0 }) ?? true { column.rowStarts.append(column.defs.count) }
            column.defs.append(defs[i])
            guard Int(defs[i]) == leaf.maxDefinition else { column.valueIndex.append(-1); continue }
            let value: ParquetValue
            switch filled {
            case .numbers:
                guard k < scratch.numbers.count else { throw ParquetError(0, "page holds fewer values than its levels say") }
                value = .number(scratch.numbers[k])
            case .strings:
                guard k < scratch.strings.count else { throw ParquetError(0, "page holds fewer values than its levels say") }
                value = .string(scratch.strings.string(k))
            case .indices:
                guard let dictionary else { throw ParquetError(0, "dictionary-encoded page without a dictionary page") }
                let index = Int(scratch.indices[k])
                guard index < dictionary.count else {
                    throw ParquetError(0, "dictionary index \(index) out of range (the dictionary has \(dictionary.count) entries)")
                }
                switch dictionary {
                case .numbers(let d): value = .number(d[index])
                case .strings(let d): value = .string(d.string(index))
                }
            }
            k += 1
            column.valueIndex.append(Int32(column.values.count))
            column.values.append(value)
        }
    }
}
