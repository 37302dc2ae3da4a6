// Reads a Parquet file into the trainer's columns (`CSVTable`), the same form the CSV parser
// produces, so everything after loading (profile, gates, split, training) is format-blind.
//
// Layout: "PAR1", column chunks, the Thrift-encoded FileMetaData, its 4-byte length, "PAR1".
// Only flat schemas (every column a leaf of the root); only the columns `kinds` asks for are
// decoded, each column on its own task, row group after row group. Errors name the file and the
// byte offset: `data: <file>: offset N: ...`.

public enum ParquetReader {
    static let magic: [UInt8] = Array("PAR1".utf8)

    /// True when `bytes` starts with the Parquet magic.
    public static func looksLikeParquet(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 4 && Array(bytes[0..<4]) == magic
    }

    /// Parses `bytes` (a whole Parquet file named `name` in messages). `kinds` is called with the
    /// column names and returns the parse kind of each wanted column.
    public static func read(_ bytes: UnsafeRawBufferPointer, name: String, threads: Int = 1,
                            kinds: ([String]) throws -> [String: CSVColumnKind]) throws -> CSVTable {
        do {
            return try readTable(bytes, threads: threads, kinds: kinds)
        } catch let e as ParquetError {
            throw TrainerError.badInput("data: \(name): offset \(e.offset): \(e.message)")
        }
    }

    /// The column names (flat schema) of a Parquet file.
    public static func columnNames(_ bytes: UnsafeRawBufferPointer, name: String) throws -> [String] {
        do {
            let (meta, _) = try footer(bytes)
            return try leaves(meta).map(\.name)
        } catch let e as ParquetError {
            throw TrainerError.badInput("data: \(name): offset \(e.offset): \(e.message)")
        }
    }

    /// The decoded footer and the offset where it starts.
    static func footer(_ bytes: UnsafeRawBufferPointer) throws -> (FileMetadata, Int) {
        let n = bytes.count
        guard n >= 12 else { throw ParquetError(0, "file of \(n) bytes is too short for Parquet (at least 12)") }
        guard looksLikeParquet(bytes) else { throw ParquetError(0, "not a Parquet file (no PAR1 magic at the start)") }
        let tail = Array(bytes[(n - 4)..<n])
        if tail == Array("PARE".utf8) { throw ParquetError(n - 4, "encrypted Parquet footers are not supported") }
        guard tail == magic else { throw ParquetError(n - 4, "no PAR1 magic at the end (truncated or not Parquet)") }
        let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: n - 8, as: UInt32.self)))
        guard length > 0, length <= n - 12 else {
            throw ParquetError(n - 8, "footer length \(length) does not fit in the file of \(n) bytes")
        }
        let start = n - 8 - length
        var r = ThriftReader(UnsafeRawBufferPointer(rebasing: bytes[start..<(n - 8)]), fileOffset: start)
        let meta = try MetadataDecoder.fileMetadata(&r)
        guard r.position == length else {
            throw ParquetError(r.fileOffset, "metadata: footer has \(length - r.position) unread bytes after FileMetaData")
        }
        return (meta, start)
    }

    /// The leaf columns of a flat schema; nested schemas are refused by name.
    static func leaves(_ meta: FileMetadata) throws -> [SchemaElement] {
        let root = meta.schema[0]
        let columns = Array(meta.schema.dropFirst())
        guard root.numChildren == columns.count else {
            if let group = columns.first(where: { $0.numChildren > 0 }) {
                throw ParquetError(0, "column '\(group.name)' is nested (a group of \(group.numChildren) fields): only flat schemas are supported")
            }
            throw ParquetError(0, "schema root has \(root.numChildren) children but \(columns.count) columns follow")
        }
        var seen = Set<String>()
        for c in columns {
            if c.numChildren > 0 || c.type == nil {
                throw ParquetError(0, "column '\(c.name)' is nested (a group): only flat schemas are supported")
            }
            if c.repetition == .repeated {
                throw ParquetError(0, "column '\(c.name)' is repeated (a list): only flat schemas are supported")
            }
            guard seen.insert(c.name).inserted else { throw ParquetError(0, "duplicate column name '\(c.name)'") }
        }
        return columns
    }

    static func readTable(_ bytes: UnsafeRawBufferPointer, threads: Int,
                          kinds: ([String]) throws -> [String: CSVColumnKind]) throws -> CSVTable {
        let (meta, footerStart) = try footer(bytes)
        let columns = try leaves(meta)
        var total = 0
        for (g, group) in meta.rowGroups.enumerated() {
            guard group.columns.count == columns.count else {
                throw ParquetError(0, "row group \(g) has \(group.columns.count) column chunks, the schema \(columns.count) columns")
            }
            total += group.numRows
        }
        guard total == meta.numRows else {
            throw ParquetError(0, "row groups hold \(total) rows, the footer says \(meta.numRows)")
        }
        let header = columns.map(\.name)
        let wanted = try kinds(header)
        for name in wanted.keys where !header.contains(name) {
            throw TrainerError.badInput("data: column '\(name)' not found (columns: \(header.joined(separator: ", ")))")
        }
        var plans: [ColumnPlan] = []
        for (i, c) in columns.enumerated() {
            guard let kind = wanted[c.name], let type = c.type else { continue }
            plans.append(ColumnPlan(leaf: i, element: c, type: type, meaning: try meaning(c), kind: kind,
                                    maxDefinition: c.repetition == .optional ? 1 : 0))
        }
        let results = ResultSlots<Result<CSVColumn, ParquetError>>(count: plans.count)
        let plansCopy = plans
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { throw ParquetError(0, "empty file") }
        let file = SharedPointer(base)
        let count = bytes.count
        parallelForDynamic(plans.count, threads: threads) { k in
            let buffer = UnsafeRawBufferPointer(start: UnsafeRawPointer(file.base), count: count)
            var reader = ColumnReader(file: buffer, dataEnd: footerStart, plan: plansCopy[k], metadata: meta)
            do {
                results.set(k, .success(try reader.read()))
            } catch let e as ParquetError {
                results.set(k, .failure(e))
            } catch {
                results.set(k, .failure(ParquetError(0, "column '\(plansCopy[k].element.name)': \(error)")))
            }
        }
        var table: [String: CSVColumn] = [:]
        for (k, r) in results.all.enumerated() {
            guard let r else { throw ParquetError(0, "internal error: column '\(plans[k].element.name)' was not read") }
            let column = try r.get()
            guard column.count == total else {
                throw ParquetError(0, "column '\(plans[k].element.name)' has \(column.count) values for \(total) rows")
            }
            table[plans[k].element.name] = column
        }
        return CSVTable(header: header, rowCount: total, columns: table)
    }

    /// What a column's values mean, from its logical type (or converted type); unsupported kinds
    /// are refused here, before any page is read.
    static func meaning(_ c: SchemaElement) throws -> ValueMeaning {
        var m = c.logical ?? .plain
        if c.logical == nil, let ct = c.convertedType {
            switch ct {
            case 0, 4: m = .string
            case 5: m = .decimal(scale: c.scale ?? 0)
            case 6: m = .date
            case 7: m = .time(exponent: 3)
            case 8: m = .time(exponent: 6)
            case 9: m = .timestamp(exponent: 3)
            case 10: m = .timestamp(exponent: 6)
            case 11...14: m = .unsigned
            case 15...18: m = .plain
            case 19: m = .unsupported("JSON")
            case 20: m = .unsupported("BSON")
            case 21: m = .unsupported("INTERVAL")
            default: m = .unsupported("converted type \(ct)")
            }
        }
        if case .unsupported(let what) = m {
            throw ParquetError(0, "column '\(c.name)' has logical type \(what), which the trainer cannot read as a number or a category")
        }
        switch c.type {
        case .int96?:
            throw ParquetError(0, "column '\(c.name)' is INT96 (legacy timestamps): not supported; write timestamps as INT64 (pyarrow: use_deprecated_int96_timestamps=False)")
        case .fixedLenByteArray?:
            guard case .decimal = m else {
                throw ParquetError(0, "column '\(c.name)' is FIXED_LEN_BYTE_ARRAY without a DECIMAL type: not supported")
            }
            guard let n = c.typeLength, n > 0, n <= 32 else {
                throw ParquetError(0, "column '\(c.name)': fixed length \(c.typeLength ?? 0) out of range 1...32")
            }
        default: break
        }
        return m
    }
}

extension Dataset {
    /// Reads a Parquet file according to `config`, as `load(csv:)` reads a CSV file: the same
    /// columns, categorical codes in order of first appearance, NaN / -1 for nulls.
    public static func load(parquet bytes: UnsafeRawBufferPointer, name: String, config: TrainingConfig, threads: Int) throws -> Dataset {
        try load(config: config) { kinds in
            try ParquetReader.read(bytes, name: name, threads: threads, kinds: kinds)
        }
    }
}

extension InputBytes {
    /// True when the content starts with the Parquet magic `PAR1`.
    public var isParquet: Bool { withBytes { ParquetReader.looksLikeParquet($0) } }
}
