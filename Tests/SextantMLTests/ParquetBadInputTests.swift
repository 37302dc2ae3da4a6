import Foundation
import Testing
@testable import SextantML

/// Broken Parquet files give an error naming the file and the byte offset, never a crash.
@Suite struct ParquetBadInputTests {
    static let kinds: [String: CSVColumnKind] = ["s": .categorical, "x": .numeric, "y": .label]

    static func small() throws -> (URL, [UInt8]) {
        let (dir, _) = try PyarrowFixtures.generate()
        return (dir, Array(try Data(contentsOf: dir.appendingPathComponent("small.parquet"))))
    }

    /// The message of reading `bytes`, checked to name the file and an offset.
    static func failure(_ bytes: [UInt8], _ sourceLocation: SourceLocation = #_sourceLocation) -> String {
        let m = errorMessage { _ = try readParquet(bytes, name: "bad.parquet", kinds: kinds) }
        #expect(m.hasPrefix("data: bad.parquet: offset "), "\(m)", sourceLocation: sourceLocation)
        return m
    }

    /// The offset of the first column chunk's first page header and its metadata.
    static func firstChunk(_ bytes: [UInt8]) throws -> ColumnMeta {
        let (meta, _) = try bytes.withUnsafeBytes { try ParquetReader.footer($0) }
        return try #require(meta.rowGroups.first?.columns.first?.meta)
    }

    @Test func structuralDamage() throws {
        let (_, good) = try Self.small()
        #expect(try readParquet(good, name: "good.parquet", kinds: Self.kinds).rowCount == 50)

        var magic = good
        magic[0] = UInt8(ascii: "X")
        #expect(Self.failure(magic).contains("offset 0: not a Parquet file"))

        #expect(Self.failure(Array(good.prefix(8))).contains("too short"))
        let cut = Self.failure(Array(good.prefix(good.count - 3)))
        #expect(cut.contains("no PAR1 magic at the end"), "\(cut)")
        for n in stride(from: 12, to: good.count, by: 7) {
            _ = Self.failure(Array(good.prefix(n)))  // any truncation: a named error
        }

        var length = good
        length[good.count - 6] = 0x7F  // footer length far beyond the file
        #expect(Self.failure(length).contains("offset \(good.count - 8): footer length"))

        var footer = good
        let footerLength = Int(UInt32(good[good.count - 8]) | UInt32(good[good.count - 7]) << 8)
        let footerStart = good.count - 8 - footerLength
        for i in footerStart..<(footerStart + 8) { footer[i] = 0xFF }
        let corrupt = Self.failure(footer)
        #expect(corrupt.contains("metadata:"), "\(corrupt)")
    }

    @Test func pageSizePastTheEnd() throws {
        let (_, good) = try Self.small()
        let meta = try Self.firstChunk(good)
        // A page header starts: 0x15 type, 0x15 uncompressed size, 0x15 compressed size (zigzag
        // varints). Replace the compressed size's varint by the largest of the same length.
        var p = meta.dictionaryPageOffset ?? meta.dataPageOffset
        var bytes = good
        #expect(bytes[p] == 0x15)
        p += 1
        while bytes[p] & 0x80 != 0 { p += 1 }
        p += 1
        #expect(bytes[p] == 0x15)
        p += 1
        while bytes[p] & 0x80 != 0 { p += 1 }
        p += 1
        #expect(bytes[p] == 0x15)
        p += 1
        while bytes[p] & 0x80 != 0 { bytes[p] = 0xFE; p += 1 }
        bytes[p] = 0x7E
        let m = Self.failure(bytes)
        #expect(m.contains("offset \(meta.dictionaryPageOffset ?? meta.dataPageOffset): column 's' (row group 0): page size"), "\(m)")
        #expect(m.contains("runs past the end of the column chunk"), "\(m)")
    }

    @Test func dictionaryIndexOutOfRange() throws {
        let (_, good) = try Self.small()
        let meta = try Self.firstChunk(good)
        let start = try #require(meta.dictionaryPageOffset)
        // DictionaryPageHeader (field 7, a struct: 0x4C) starts with num_values = 2 (0x15, zigzag 4):
        // claim one entry, so the data page's index 1 is out of range.
        var bytes = good
        let window = Array(bytes[start..<(start + 16)])
        let at = try #require((0..<14).first { window[$0] == 0x4C && window[$0 + 1] == 0x15 && window[$0 + 2] == 0x04 })
        bytes[start + at + 2] = 0x02
        let m = Self.failure(bytes)
        #expect(m.contains("dictionary index 1 out of range (the dictionary has 1 entries)"), "\(m)")
        #expect(m.contains("column 's' (row group 0)"), "\(m)")
    }

    /// Seeded mutations of pyarrow-written files (flipped bytes, overwritten runs, truncations):
    /// each read returns a table or a named error, and never traps.
    @Test func boundedMutationFuzz() throws {
        let (dir, _) = try PyarrowFixtures.generate()
        var rng = SplitMix64(seed: 20261206)
        var failures = 0, successes = 0
        for base in ["small.parquet", "small-snappy-v2.parquet"] {
            let good = Array(try Data(contentsOf: dir.appendingPathComponent(base)))
            for _ in 0..<1_500 {
                var b = good
                switch rng.next() % 4 {
                case 0:
                    for _ in 0..<(1 + Int(rng.next() % 4)) { b[Int(rng.next() % UInt64(b.count))] ^= UInt8(1 + rng.next() % 255) }
                case 1:
                    let at = Int(rng.next() % UInt64(b.count)), n = min(b.count - at, 1 + Int(rng.next() % 8))
                    for i in at..<(at + n) { b[i] = UInt8(truncatingIfNeeded: rng.next()) }
                case 2:
                    // Inside the footer, where the Thrift decoder works.
                    let footer = Int(UInt32(good[good.count - 8]) | UInt32(good[good.count - 7]) << 8)
                    let at = good.count - 8 - footer + Int(rng.next() % UInt64(max(footer, 1)))
                    b[at] = UInt8(truncatingIfNeeded: rng.next())
                default:
                    b = Array(b.prefix(Int(rng.next() % UInt64(b.count))))
                }
                do {
                    let t = try readParquet(b, name: "fuzz.parquet", kinds: Self.kinds)
                    #expect(t.columns.values.allSatisfy { $0.count == t.rowCount })
                    successes += 1
                } catch let e as TrainerError {
                    #expect(e.message.hasPrefix("data: fuzz.parquet: offset ") || e.message.contains("not found"), "\(e.message)")
                    failures += 1
                }
            }
        }
        #expect(failures > 1_000 && successes + failures == 3_000)
    }
}
