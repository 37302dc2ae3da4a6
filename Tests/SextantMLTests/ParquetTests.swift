import Foundation
import Testing
@testable import SextantML

/// The Parquet reader against files written by pyarrow: every encoding, codec and page version
/// gives exactly the values of the same data as CSV text.
@Suite struct ParquetTests {
    static let kinds: [String: CSVColumnKind] = [
        "d": .numeric, "f": .numeric, "i32": .numeric, "i64": .numeric, "u8": .numeric, "b": .numeric,
        "s": .categorical, "sl": .categorical, "dt": .numeric, "ts": .numeric, "dec": .numeric, "y": .label,
    ]

    @Test func everyPyarrowVariantMatchesTheCSV() throws {
        let (dir, manifest) = try PyarrowFixtures.generate()
        let csv = try Data(contentsOf: dir.appendingPathComponent("expected.csv"))
        let expected = try csv.withUnsafeBytes { try CSVParser.parse($0) { _ in Self.kinds } }
        #expect(expected.rowCount == 2000)
        // The fixtures cover what the reader claims to support (so a pyarrow default change shows).
        let encodings = Set(manifest.values.flatMap(\.encodings))
        for e in ["PLAIN", "RLE", "RLE_DICTIONARY", "DELTA_BINARY_PACKED", "DELTA_BYTE_ARRAY", "DELTA_LENGTH_BYTE_ARRAY", "BYTE_STREAM_SPLIT"] {
            #expect(encodings.contains(e), "no fixture uses \(e)")
        }
        #expect(Set(manifest.values.flatMap(\.codecs)).isSuperset(of: ["UNCOMPRESSED", "SNAPPY", "GZIP", "ZSTD", "LZ4"]))
        #expect(manifest.values.contains { $0.rowGroups > 1 })
        #expect(manifest.count >= 17)
        for (name, _) in manifest.sorted(by: { $0.key < $1.key }) {
            for threads in [1, 2] {
                let table = try readParquet(dir.appendingPathComponent(name + ".parquet"), kinds: Self.kinds, threads: threads)
                #expect(table.rowCount == 2000, "\(name)")
                #expect(table.header == expected.header, "\(name)")
                for column in Self.kinds.keys.sorted() {
                    let same = sameColumn(table.columns[column], expected.columns[column])
                    #expect(same, "\(name): column \(column) differs from the CSV")
                }
            }
        }
        // Nulls really are there (NaN / -1), and dictionary strings keep first-appearance order.
        if case .numeric(let d)? = expected.columns["d"] { #expect(d.contains { $0.isNaN }) }
        if case .categorical(let codes, let levels)? = expected.columns["s"] {
            #expect(codes.contains(-1) && levels.contains("ünïcode, \"quoted\""))
        }

        // Required columns (no definition levels), read against their CSV.
        let reqKinds: [String: CSVColumnKind] = ["d": .numeric, "s": .categorical, "y": .label]
        let reqCSV = try Data(contentsOf: dir.appendingPathComponent("required.csv"))
        let reqExpected = try reqCSV.withUnsafeBytes { try CSVParser.parse($0) { _ in reqKinds } }
        let req = try readParquet(dir.appendingPathComponent("required.parquet"), kinds: reqKinds)
        for column in reqKinds.keys {
            let same = sameColumn(req.columns[column], reqExpected.columns[column])
            #expect(same, "required: \(column)")
        }

        // Numbers read as categories, strings as numbers where they are numbers.
        let asCategory = try readParquet(dir.appendingPathComponent("dict-snappy-v1.parquet"), kinds: ["u8": .categorical, "y": .categorical])
        let csvCategory = try csv.withUnsafeBytes { try CSVParser.parse($0) { _ in ["u8": .categorical, "y": .categorical] } }
        let sameU8 = sameColumn(asCategory.columns["u8"], csvCategory.columns["u8"])
        let sameY = sameColumn(asCategory.columns["y"], csvCategory.columns["y"])
        #expect(sameU8 && sameY)

        // Refusals: nested schemas; INT96 only when the column is wanted.
        let nested = errorMessage { _ = try readParquet(dir.appendingPathComponent("nested.parquet"), kinds: ["y": .label]) }
        #expect(nested.contains("nested.parquet") && nested.contains("'p' is nested") && nested.contains("flat schemas"), "\(nested)")
        let partial = try readParquet(dir.appendingPathComponent("int96.parquet"), kinds: ["x": .numeric, "y": .label])
        #expect(numeric(partial, "x") == Array(repeating: 1.5, count: 10))
        let int96 = errorMessage { _ = try readParquet(dir.appendingPathComponent("int96.parquet"), kinds: ["t": .numeric]) }
        #expect(int96.contains("'t' is INT96"), "\(int96)")
        let missing = errorMessage { _ = try readParquet(dir.appendingPathComponent("small.parquet"), kinds: ["nope": .numeric]) }
        #expect(missing.contains("column 'nope' not found"), "\(missing)")
    }

    /// The trainer gives the same model from the same data as CSV and as Parquet. The artifacts
    /// differ only in the data lineage (the files' own uri, hash and size) and the creation time,
    /// which are set equal before the bytes are compared.
    @Test func csvAndParquetTrainIdenticalModels() async throws {
        let (dir, _) = try PyarrowFixtures.generate()
        func config(_ file: String, format: String? = nil) throws -> TrainingConfig {
            let formatLine = format.map { ", format: \($0)" } ?? ""
            return try TrainingConfig.parse(yaml: """
                modelName: same
                data: {uri: "file://\(dir.appendingPathComponent(file).path)"\(formatLine)}
                categoricalFeatures: [color]
                target: label
                protectedAttributes: [group]
                split: {train: 0.6, validation: 0.2, test: 0.2, seed: 3}
                hyperparameters: {nEstimators: 30, maxDepth: 4, learningRate: 0.2, threads: 2}
                output: {uri: "\(dir.appendingPathComponent("out-" + file + (format ?? "")).path)"}
                """)
        }
        let fromCSV = try await Trainer.run(try config("train.csv"))
        let fromParquet = try await Trainer.run(try config("train.parquet"))
        let declared = try await Trainer.run(try config("train.parquet", format: "parquet"))
        #expect(fromCSV.summary.status == .succeeded && fromParquet.summary.status == .succeeded, "\(fromParquet.summary.message ?? "")")
        var a = try #require(fromCSV.artifact), b = try #require(fromParquet.artifact), c = try #require(declared.artifact)
        #expect(b.data?.sha256 == (try SHA256.hex(Data(contentsOf: dir.appendingPathComponent("train.parquet")))))
        #expect(a.data?.rows == 3000 && b.data?.rows == 3000)
        #expect((a.trees?.count ?? 0) > 0)
        b.createdAt = a.createdAt; b.data = a.data
        c.createdAt = a.createdAt; c.data = a.data
        let bytesA = try a.encoded(), bytesB = try b.encoded(), bytesC = try c.encoded()
        #expect(bytesA == bytesB, "the Parquet model differs from the CSV model")
        #expect(bytesB == bytesC)
        a.createdAt = "changed"
        #expect(try a.encoded() != bytesB)  // the comparison can fail
    }
}
