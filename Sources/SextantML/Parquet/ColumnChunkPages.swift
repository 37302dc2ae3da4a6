// The pages of one column chunk, walked the same way by the flat reader (`ColumnReader`) and the
// nested one (`NestedLeafReader`): the chunk's byte range checked against the data area, every
// page header and body checked against the chunk, at most one dictionary page, no data page
// holding more values than are left, and every error named by column, row group and byte offset.

/// A page the readers decode (index pages are skipped by the walk).
enum ChunkPage {
    case dictionary(DictionaryPageHeader)
    case dataV1(DataPageHeader)
    case dataV2(DataPageHeaderV2)
}

struct ColumnChunkPages {
    let file: UnsafeRawBufferPointer
    /// Where the footer starts: column chunks must end before it.
    let dataEnd: Int
    /// The column as errors name it.
    let column: String

    func error(_ group: Int, _ offset: Int, _ message: String) -> ParquetError {
        ParquetError(offset, "column '\(column)' (row group \(group)): \(message)")
    }

    /// Walks the pages of chunk `meta` (row group `g`) until `total` values are read, `unit`
    /// naming them in errors ("rows" of the row group or "values" of the chunk). `decode` gets
    /// each page with its header and still-compressed body; its ParquetError and CodecError are
    /// given the page's place.
    func walk(group g: Int, _ meta: ColumnMeta, total: Int, unit: String,
              _ decode: (ChunkPage, PageHeader, UnsafeRawBufferPointer) throws -> Void) throws {
        var start = meta.dataPageOffset
        if let d = meta.dictionaryPageOffset, d > 0, d < start { start = d }
        let (end, overflow) = start.addingReportingOverflow(meta.totalCompressedSize)
        guard start >= 4, !overflow, end <= dataEnd else {
            throw error(g, start, "column chunk of \(meta.totalCompressedSize) bytes at offset \(start) lies outside the data area (4..<\(dataEnd))")
        }
        var position = start
        var sawDictionary = false
        var read = 0
        while read < total {
            guard position < end else {
                throw error(g, position, "column chunk ends after \(read) of \(total) \(unit)")
            }
            let headerStart = position
            var r = ThriftReader(UnsafeRawBufferPointer(rebasing: file[position..<end]), fileOffset: position)
            let header: PageHeader
            do { header = try MetadataDecoder.pageHeader(&r) } catch let e as ParquetError {
                throw error(g, e.offset, "page header: \(e.message)")
            }
            let bodyStart = r.fileOffset
            guard header.compressedSize <= end - bodyStart else {
                throw error(g, headerStart, "page size \(header.compressedSize) runs past the end of the column chunk (\(end - bodyStart) bytes left)")
            }
            let body = UnsafeRawBufferPointer(rebasing: file[bodyStart..<bodyStart + header.compressedSize])
            position = bodyStart + header.compressedSize
            do {
                func values(_ n: Int) throws -> Int {
                    guard n <= total - read else {
                        throw ParquetError(0, "data page holds \(n) values, the \(unit == "rows" ? "row group" : "column chunk") only \(total - read) more \(unit)")
                    }
                    return n
                }
                switch PageType(rawValue: header.type) {
                case .dictionaryPage?:
                    guard let d = header.dictionaryPage else { throw ParquetError(0, "dictionary page without its header") }
                    guard !sawDictionary else { throw ParquetError(0, "a second dictionary page in one column chunk") }
                    sawDictionary = true
                    try decode(.dictionary(d), header, body)
                case .dataPage?:
                    guard let d = header.dataPage else { throw ParquetError(0, "data page without its header") }
                    let n = try values(d.numValues)
                    try decode(.dataV1(d), header, body)
                    read += n
                case .dataPageV2?:
                    guard let d = header.dataPageV2 else { throw ParquetError(0, "data page v2 without its header") }
                    let n = try values(d.numValues)
                    try decode(.dataV2(d), header, body)
                    read += n
                case .indexPage?:
                    continue
                case nil:
                    throw ParquetError(0, "unknown page type \(header.type)")
                }
            } catch let e as ParquetError {
                let within = e.offset > 0 ? " (byte \(e.offset) of the decoded page)" : ""
                throw error(g, headerStart, "page: \(e.message)\(within)")
            } catch let e as CodecError {
                throw error(g, headerStart, "page: \(e.message)")
            }
        }
    }
}
