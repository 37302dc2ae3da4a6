// Parquet's file metadata (the footer) and page headers, decoded from the Thrift compact protocol
// with `ThriftReader`. Field ids are those of parquet-format's parquet.thrift; fields the reader
// does not use are skipped.

enum PhysicalType: Int32, Sendable {
    case boolean = 0, int32 = 1, int64 = 2, int96 = 3, float = 4, double = 5, byteArray = 6, fixedLenByteArray = 7
}

enum Repetition: Int32, Sendable { case required = 0, optional = 1, repeated = 2 }

enum CompressionCodec: Int32, Sendable {
    case uncompressed = 0, snappy = 1, gzip = 2, lzo = 3, brotli = 4, lz4 = 5, zstd = 6, lz4Raw = 7
}

enum PageEncoding: Int32, Sendable {
    case plain = 0, plainDictionary = 2, rle = 3, bitPacked = 4, deltaBinaryPacked = 5
    case deltaLengthByteArray = 6, deltaByteArray = 7, rleDictionary = 8, byteStreamSplit = 9
}

enum PageType: Int32, Sendable { case dataPage = 0, indexPage = 1, dictionaryPage = 2, dataPageV2 = 3 }

/// What a column's values mean beyond their physical type (LogicalType, or the older ConvertedType).
enum ValueMeaning: Sendable, Equatable {
    case plain
    case string
    /// Unscaled integer / 10^scale.
    case decimal(scale: Int)
    /// Days since 1970-01-01.
    case date
    /// Since the epoch, in units of 10^-exponent seconds (3 millis, 6 micros, 9 nanos).
    case timestamp(exponent: Int)
    /// Time of day, in units of 10^-exponent seconds.
    case time(exponent: Int)
    case unsigned
    /// A type the trainer cannot turn into a number or a category (JSON, BSON, UUID, intervals...).
    case unsupported(String)
}

struct SchemaElement: Sendable {
    var name = ""
    var type: PhysicalType?
    var typeLength: Int?
    var repetition: Repetition?
    var numChildren = 0
    var convertedType: Int32?
    var scale: Int?
    var logical: ValueMeaning?
}

struct ColumnMeta: Sendable {
    var type: PhysicalType = .int32
    var path: [String] = []
    var codec: CompressionCodec = .uncompressed
    var numValues = 0
    var totalCompressedSize = 0
    var dataPageOffset = 0
    var dictionaryPageOffset: Int?
}

struct ColumnChunk: Sendable {
    var filePath: String?
    var meta: ColumnMeta?
}

struct RowGroup: Sendable {
    var columns: [ColumnChunk] = []
    var numRows = 0
}

struct FileMetadata: Sendable {
    var schema: [SchemaElement] = []
    var numRows = 0
    var rowGroups: [RowGroup] = []
    var createdBy: String?
}

struct DataPageHeader: Sendable {
    var numValues = 0
    var encoding: Int32 = 0
    var definitionLevelEncoding: Int32 = 3
    var repetitionLevelEncoding: Int32 = 3
}

struct DataPageHeaderV2: Sendable {
    var numValues = 0
    var numNulls = 0
    var numRows = 0
    var encoding: Int32 = 0
    var definitionLevelsByteLength = 0
    var repetitionLevelsByteLength = 0
    var isCompressed = true
}

struct DictionaryPageHeader: Sendable {
    var numValues = 0
    var encoding: Int32 = 0
}

struct PageHeader: Sendable {
    var type: Int32 = -1
    var uncompressedSize = 0
    var compressedSize = 0
    var dataPage: DataPageHeader?
    var dataPageV2: DataPageHeaderV2?
    var dictionaryPage: DictionaryPageHeader?
}

enum MetadataDecoder {
    static func fileMetadata(_ r: inout ThriftReader) throws -> FileMetadata {
        var m = FileMetadata()
        var sawSchema = false, sawRowGroups = false
        try r.readStruct(depth: 0) { r, id, t in
            switch id {
            case 2:
                try r.expect(t, .list, "FileMetaData.schema")
                let (n, et) = try r.listHeader()
                try r.expect(et, .structure, "FileMetaData.schema[]")
                m.schema.reserveCapacity(n)
                for _ in 0..<n { m.schema.append(try schemaElement(&r)) }
                sawSchema = true
            case 3: try r.expect(t, .i64, "FileMetaData.num_rows"); m.numRows = try r.count("num_rows", i64: true)
            case 4:
                try r.expect(t, .list, "FileMetaData.row_groups")
                let (n, et) = try r.listHeader()
                try r.expect(et, .structure, "FileMetaData.row_groups[]")
                for _ in 0..<n { m.rowGroups.append(try rowGroup(&r)) }
                sawRowGroups = true
            case 6: try r.expect(t, .binary, "FileMetaData.created_by"); m.createdBy = try r.string()
            default: try r.skip(t, depth: 1)
            }
        }
        guard sawSchema, !m.schema.isEmpty else { throw r.fail("FileMetaData has no schema") }
        guard sawRowGroups else { throw r.fail("FileMetaData has no row_groups list") }
        return m
    }

    static func schemaElement(_ r: inout ThriftReader) throws -> SchemaElement {
        var e = SchemaElement()
        var decimalScale: Int?
        try r.readStruct(depth: 1) { r, id, t in
            switch id {
            case 1:
                try r.expect(t, .i32, "SchemaElement.type")
                let v = try r.i32()
                guard let p = PhysicalType(rawValue: v) else { throw r.fail("unknown physical type \(v)") }
                e.type = p
            case 2: try r.expect(t, .i32, "SchemaElement.type_length"); e.typeLength = try r.count("type_length")
            case 3:
                try r.expect(t, .i32, "SchemaElement.repetition_type")
                let v = try r.i32()
                guard let rep = Repetition(rawValue: v) else { throw r.fail("unknown repetition type \(v)") }
                e.repetition = rep
            case 4: try r.expect(t, .binary, "SchemaElement.name"); e.name = try r.string()
            case 5: try r.expect(t, .i32, "SchemaElement.num_children"); e.numChildren = try r.count("num_children")
            case 6: try r.expect(t, .i32, "SchemaElement.converted_type"); e.convertedType = try r.i32()
            case 7: try r.expect(t, .i32, "SchemaElement.scale"); e.scale = try r.count("scale")
            case 10:
                try r.expect(t, .structure, "SchemaElement.logicalType")
                e.logical = try logicalType(&r, scale: &decimalScale)
            default: try r.skip(t, depth: 2)
            }
        }
        if let decimalScale, case .decimal? = e.logical { e.logical = .decimal(scale: decimalScale) }
        return e
    }

    /// The LogicalType union (one field set).
    static func logicalType(_ r: inout ThriftReader, scale: inout Int?) throws -> ValueMeaning {
        var meaning = ValueMeaning.plain
        var decimalScale = 0
        try r.readStruct(depth: 2) { r, id, t in
            switch id {
            case 1: meaning = .string; try r.skip(t, depth: 3)
            case 4: meaning = .string; try r.skip(t, depth: 3)  // ENUM: strings
            case 5:
                try r.expect(t, .structure, "DecimalType")
                try r.readStruct(depth: 3) { r, id, t in
                    if id == 1 { try r.expect(t, .i32, "DecimalType.scale"); decimalScale = try r.count("decimal scale") } else { try r.skip(t, depth: 4) }
                }
                meaning = .decimal(scale: decimalScale)
            case 6: meaning = .date; try r.skip(t, depth: 3)
            case 7, 8:
                try r.expect(t, .structure, id == 7 ? "TimeType" : "TimestampType")
                var exponent = 3
                try r.readStruct(depth: 3) { r, fid, ft in
                    if fid == 2 {
                        try r.expect(ft, .structure, "TimeUnit")
                        try r.readStruct(depth: 4) { r, uid, ut in
                            switch uid { case 1: exponent = 3; case 2: exponent = 6; case 3: exponent = 9; default: break }
                            try r.skip(ut, depth: 5)
                        }
                    } else { try r.skip(ft, depth: 4) }
                }
                meaning = id == 7 ? .time(exponent: exponent) : .timestamp(exponent: exponent)
            case 10:
                try r.expect(t, .structure, "IntType")
                var signed = true
                try r.readStruct(depth: 3) { r, fid, ft in
                    if fid == 2 { signed = try r.bool(ft, "IntType.isSigned") } else { try r.skip(ft, depth: 4) }
                }
                meaning = signed ? .plain : .unsigned
            case 11: meaning = .plain; try r.skip(t, depth: 3)  // UNKNOWN (always null)
            case 12: meaning = .unsupported("JSON"); try r.skip(t, depth: 3)
            case 13: meaning = .unsupported("BSON"); try r.skip(t, depth: 3)
            case 14: meaning = .unsupported("UUID"); try r.skip(t, depth: 3)
            case 15: meaning = .unsupported("FLOAT16"); try r.skip(t, depth: 3)
            case 2: meaning = .unsupported("MAP"); try r.skip(t, depth: 3)
            case 3: meaning = .unsupported("LIST"); try r.skip(t, depth: 3)
            default: meaning = .unsupported("logical type \(id)"); try r.skip(t, depth: 3)
            }
        }
        if case .decimal = meaning { scale = decimalScale }
        return meaning
    }

    static func rowGroup(_ r: inout ThriftReader) throws -> RowGroup {
        var g = RowGroup()
        try r.readStruct(depth: 1) { r, id, t in
            switch id {
            case 1:
                try r.expect(t, .list, "RowGroup.columns")
                let (n, et) = try r.listHeader()
                try r.expect(et, .structure, "RowGroup.columns[]")
                for _ in 0..<n { g.columns.append(try columnChunk(&r)) }
            case 3: try r.expect(t, .i64, "RowGroup.num_rows"); g.numRows = try r.count("num_rows", i64: true)
            default: try r.skip(t, depth: 2)
            }
        }
        return g
    }

    static func columnChunk(_ r: inout ThriftReader) throws -> ColumnChunk {
        var c = ColumnChunk()
        try r.readStruct(depth: 2) { r, id, t in
            switch id {
            case 1: try r.expect(t, .binary, "ColumnChunk.file_path"); c.filePath = try r.string()
            case 3: try r.expect(t, .structure, "ColumnChunk.meta_data"); c.meta = try columnMeta(&r)
            default: try r.skip(t, depth: 3)
            }
        }
        return c
    }

    static func columnMeta(_ r: inout ThriftReader) throws -> ColumnMeta {
        var m = ColumnMeta()
        try r.readStruct(depth: 3) { r, id, t in
            switch id {
            case 1:
                try r.expect(t, .i32, "ColumnMetaData.type")
                let v = try r.i32()
                guard let p = PhysicalType(rawValue: v) else { throw r.fail("unknown physical type \(v)") }
                m.type = p
            case 3:
                try r.expect(t, .list, "ColumnMetaData.path_in_schema")
                let (n, et) = try r.listHeader()
                try r.expect(et, .binary, "path_in_schema[]")
                for _ in 0..<n { m.path.append(try r.string()) }
            case 4:
                try r.expect(t, .i32, "ColumnMetaData.codec")
                let v = try r.i32()
                guard let codec = CompressionCodec(rawValue: v) else { throw r.fail("unknown compression codec \(v)") }
                m.codec = codec
            case 5: try r.expect(t, .i64, "ColumnMetaData.num_values"); m.numValues = try r.count("num_values", i64: true)
            case 7: try r.expect(t, .i64, "ColumnMetaData.total_compressed_size"); m.totalCompressedSize = try r.count("total_compressed_size", i64: true)
            case 9: try r.expect(t, .i64, "ColumnMetaData.data_page_offset"); m.dataPageOffset = try r.count("data_page_offset", i64: true)
            case 11: try r.expect(t, .i64, "ColumnMetaData.dictionary_page_offset"); m.dictionaryPageOffset = try r.count("dictionary_page_offset", i64: true)
            default: try r.skip(t, depth: 4)
            }
        }
        return m
    }

    static func pageHeader(_ r: inout ThriftReader) throws -> PageHeader {
        var h = PageHeader()
        try r.readStruct(depth: 0) { r, id, t in
            switch id {
            case 1: try r.expect(t, .i32, "PageHeader.type"); h.type = try r.i32()
            case 2: try r.expect(t, .i32, "PageHeader.uncompressed_page_size"); h.uncompressedSize = try r.count("uncompressed_page_size")
            case 3: try r.expect(t, .i32, "PageHeader.compressed_page_size"); h.compressedSize = try r.count("compressed_page_size")
            case 5:
                try r.expect(t, .structure, "PageHeader.data_page_header")
                var d = DataPageHeader()
                try r.readStruct(depth: 1) { r, fid, ft in
                    switch fid {
                    case 1: try r.expect(ft, .i32, "DataPageHeader.num_values"); d.numValues = try r.count("num_values")
                    case 2: try r.expect(ft, .i32, "DataPageHeader.encoding"); d.encoding = try r.i32()
                    case 3: try r.expect(ft, .i32, "DataPageHeader.definition_level_encoding"); d.definitionLevelEncoding = try r.i32()
                    case 4: try r.expect(ft, .i32, "DataPageHeader.repetition_level_encoding"); d.repetitionLevelEncoding = try r.i32()
                    default: try r.skip(ft, depth: 2)
                    }
                }
                h.dataPage = d
            case 7:
                try r.expect(t, .structure, "PageHeader.dictionary_page_header")
                var d = DictionaryPageHeader()
                try r.readStruct(depth: 1) { r, fid, ft in
                    switch fid {
                    case 1: try r.expect(ft, .i32, "DictionaryPageHeader.num_values"); d.numValues = try r.count("num_values")
                    case 2: try r.expect(ft, .i32, "DictionaryPageHeader.encoding"); d.encoding = try r.i32()
                    default: try r.skip(ft, depth: 2)
                    }
                }
                h.dictionaryPage = d
            case 8:
                try r.expect(t, .structure, "PageHeader.data_page_header_v2")
                var d = DataPageHeaderV2()
                try r.readStruct(depth: 1) { r, fid, ft in
                    switch fid {
                    case 1: try r.expect(ft, .i32, "DataPageHeaderV2.num_values"); d.numValues = try r.count("num_values")
                    case 2: try r.expect(ft, .i32, "DataPageHeaderV2.num_nulls"); d.numNulls = try r.count("num_nulls")
                    case 3: try r.expect(ft, .i32, "DataPageHeaderV2.num_rows"); d.numRows = try r.count("num_rows")
                    case 4: try r.expect(ft, .i32, "DataPageHeaderV2.encoding"); d.encoding = try r.i32()
                    case 5: try r.expect(ft, .i32, "definition_levels_byte_length"); d.definitionLevelsByteLength = try r.count("definition_levels_byte_length")
                    case 6: try r.expect(ft, .i32, "repetition_levels_byte_length"); d.repetitionLevelsByteLength = try r.count("repetition_levels_byte_length")
                    case 7: d.isCompressed = try r.bool(ft, "DataPageHeaderV2.is_compressed")
                    default: try r.skip(ft, depth: 2)
                    }
                }
                h.dataPageV2 = d
            default: try r.skip(t, depth: 1)
            }
        }
        return h
    }
}
