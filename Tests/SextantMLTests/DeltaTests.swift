import Foundation
import Testing
@testable import SextantML

/// The Delta Lake reader against tables written by delta-rs: every version trains the same model
/// as deltalake's own CSV export of that version; time travel by timestamp resolves the version
/// deltalake resolves; the lineage pins version, files and digest; bad tables fail by name.
@Suite struct DeltaTests {
    static func config(_ uri: String, format: String? = nil, version: String? = nil, timestamp: String? = nil,
                       output: URL) throws -> TrainingConfig {
        var data = "uri: \"\(uri)\""
        if let format { data += ", format: \(format)" }
        if let version { data += ", version: \"\(version)\"" }
        if let timestamp { data += ", timestamp: \"\(timestamp)\"" }
        return try TrainingConfig.parse(yaml: """
            modelName: delta
            data: {\(data)}
            features: [x0, x1, x2, color, region]
            categoricalFeatures: [color, region]
            target: label
            split: {train: 0.6, validation: 0.2, test: 0.2, seed: 3}
            hyperparameters: {nEstimators: 20, maxDepth: 4, learningRate: 0.2, threads: 2}
            output: {uri: "\(output.path)"}
            """)
    }

    static func tableURI() throws -> String {
        let (dir, _) = try DeltaFixtures.generate()
        return "file://" + dir.appendingPathComponent("table").path
    }

    @Test func everyVersionTrainsTheModelOfDeltalakesCSVExport() async throws {
        let (dir, info) = try DeltaFixtures.generate()
        let uri = try Self.tableURI()
        let out = try makeTempDir("sextant-delta-out")
        // The fixture covers what it claims: a delete, a schema change, a null partition, a checkpoint.
        #expect(info.versions.count == 5)
        #expect(info.versions["2"].map(\.rows) ?? 0 < info.versions["1"].map(\.rows) ?? 0)
        #expect(info.versions["3"]?.columns.contains("x3") == true && info.versions["2"]?.columns.contains("x3") == false)
        #expect(info.versions["3"]?.files.contains { $0.contains("__HIVE_DEFAULT_PARTITION__") } == true)
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("table/_delta_log/00000000000000000003.checkpoint.parquet").path))
        for v in 0..<5 {
            let fromDelta = try await Trainer.run(try Self.config(uri, format: "delta", version: String(v), output: out.appendingPathComponent("d\(v)")))
            let fromCSV = try await Trainer.run(try Self.config(dir.appendingPathComponent("v\(v).csv").path, output: out.appendingPathComponent("c\(v)")))
            #expect(fromDelta.summary.status == .succeeded, "\(fromDelta.summary.message ?? "")")
            var a = try #require(fromDelta.artifact), b = try #require(fromCSV.artifact)
            let lineage = try #require(a.data)
            let expected = try #require(info.versions[String(v)])
            #expect(lineage.version == String(v) && fromDelta.summary.data?.version == String(v))
            #expect(lineage.format == "delta" && lineage.rows == expected.rows && b.data?.rows == expected.rows)
            #expect(lineage.files?.map(\.path) == expected.files, "version \(v): files differ from deltalake's")
            #expect(lineage.bytes == lineage.files?.reduce(0) { $0 + $1.size })
            #expect(fromDelta.summary.data?.sha256 == lineage.sha256)
            a.data = b.data
            #expect(try a.encoded() == (try b.encoded()), "version \(v): the Delta model differs from the model of deltalake's CSV export")
        }
    }

    @Test func latestIsRecordedAndARetrainOfTheSameVersionIsTheSameModel() async throws {
        let uri = try Self.tableURI()
        let out = try makeTempDir("sextant-delta-out")
        let latest = try await Trainer.run(try Self.config(uri, format: "delta", output: out.appendingPathComponent("latest")))
        #expect(latest.summary.data?.version == "4")
        let pinned = try await Trainer.run(try Self.config(uri, format: "delta", version: "4", output: out.appendingPathComponent("pinned")))
        let older = try await Trainer.run(try Self.config(uri, format: "delta", version: "2", output: out.appendingPathComponent("older")))
        let a = try #require(latest.artifact), b = try #require(pinned.artifact), c = try #require(older.artifact)
        #expect(try a.encoded() == (try b.encoded()), "latest (version 4) and version 4 give different artifacts")
        #expect(c.data?.sha256 != a.data?.sha256 && c.data?.version == "2")
        // The digest pins the data: a matching sha256 passes, another one fails before training.
        var config = try Self.config(uri, format: "delta", version: "2", output: out.appendingPathComponent("digest"))
        config.data.sha256 = c.data?.sha256
        #expect(try await Trainer.run(config).summary.status == .succeeded)
        config.data.sha256 = a.data?.sha256
        let message = await asyncErrorMessage { _ = try await Trainer.run(config) }
        #expect(message.contains("sha256 mismatch") && message.contains("version 2"), "\(message)")
    }

    @Test func timeTravelByTimestampResolvesDeltalakesVersion() async throws {
        let (_, info) = try DeltaFixtures.generate()
        let uri = try Self.tableURI()
        let store = try DeltaStores.open(uri: uri, s3: S3Settings())
        #expect(info.timestamps.count == 6)
        for (text, version) in info.timestamps.sorted(by: { $0.key < $1.key }) where !text.hasPrefix("2025") {
            let snapshot = try await DeltaTable.snapshot(uri: uri, select: try DeltaTable.selector(version: nil, timestamp: text), store: store)
            #expect(snapshot.version == version, "\(text): deltalake resolves \(version), Sextant \(snapshot.version)")
        }
        // Before the first commit: deltalake falls back to version 0; Sextant refuses (the data did not exist).
        do {
            _ = try await DeltaTable.snapshot(uri: uri, select: try DeltaTable.selector(version: nil, timestamp: "2025-12-31T00:00:00Z"), store: store)
            Issue.record("a timestamp before the first commit was accepted")
        } catch let e as TrainerError {
            #expect(e.message.contains("before the first commit"), "\(e.message)")
        }
    }

    @Test func badTablesFailByName() async throws {
        let out = try makeTempDir("sextant-delta-out")
        func failure(_ uri: String, version: String? = nil) async throws -> String {
            let config = try Self.config(uri, format: "delta", version: version, output: out.appendingPathComponent(UUID().uuidString))
            return await asyncErrorMessage { _ = try await Trainer.run(config) }
        }
        let uri = try Self.tableURI()
        var m = try await failure(uri, version: "9")
        #expect(m.contains("version 9 does not exist (latest is 4)"), "\(m)")

        m = try await failure("file:///nonexistent/table")
        #expect(m.contains("/nonexistent/table") && m.contains("cannot open"), "\(m)")
        let plain = try makeTempDir("sextant-delta-plain")
        m = try await failure("file://" + plain.path)
        #expect(m.contains("no _delta_log"), "\(m)")

        // A data file the log lists is gone.
        var table = try DeltaFixtures.copy()
        let (_, info) = try DeltaFixtures.generate()
        let victim = try #require(info.versions["4"]?.files.first)
        try FileManager.default.removeItem(at: table.appendingPathComponent(victim))
        m = try await failure("file://" + table.path)
        #expect(m.contains(victim) && m.contains("cannot be read"), "\(m)")
        m = try await failure("file://" + table.path, version: "1")  // older versions do not need it
        #expect(m.isEmpty, "\(m)")

        // A corrupt commit: the error names the file and line.
        table = try DeltaFixtures.copy()
        let commit1 = table.appendingPathComponent("_delta_log/00000000000000000001.json")
        var text = try String(contentsOf: commit1, encoding: .utf8)
        text += "{\"add\": {\"path\": \"x.parquet\", \"size\": \n"
        try text.write(to: commit1, atomically: true, encoding: .utf8)
        m = try await failure("file://" + table.path, version: "2")  // before the checkpoint (version 3)
        #expect(m.contains("00000000000000000001.json: line") && m.contains("invalid JSON"), "\(m)")
        m = try await failure("file://" + table.path, version: "0")  // version 0 does not read commit 1
        #expect(m.isEmpty, "\(m)")

        // A missing commit in the middle: versions before the checkpoint (3) need it, later ones
        // start from the checkpoint.
        table = try DeltaFixtures.copy()
        try FileManager.default.removeItem(at: table.appendingPathComponent("_delta_log/00000000000000000002.json"))
        m = try await failure("file://" + table.path, version: "2")
        #expect(m.contains("commit 2 (") && m.contains("00000000000000000002.json) is missing"), "\(m)")
        m = try await failure("file://" + table.path)
        #expect(m.isEmpty, "\(m)")

        // Commits before the checkpoint cleaned up: the latest reads through the checkpoint, an
        // older version cannot be rebuilt.
        table = try DeltaFixtures.copy()
        for v in 0..<3 { try FileManager.default.removeItem(at: table.appendingPathComponent("_delta_log/" + DeltaLogNames.commit(v))) }
        m = try await failure("file://" + table.path)
        #expect(m.isEmpty, "\(m)")
        m = try await failure("file://" + table.path, version: "1")
        #expect(m.contains("commit 0 is not in the log (cleaned up) and the checkpoint (version 3) is newer than version 1"), "\(m)")

        // A data file of another size than the log says.
        table = try DeltaFixtures.copy()
        let handle = try FileHandle(forWritingTo: table.appendingPathComponent(victim))
        handle.seekToEndOfFile(); handle.write(Data([0])); try handle.close()
        m = try await failure("file://" + table.path)
        #expect(m.contains(victim) && m.contains("the log says"), "\(m)")

        // A data file that is not Parquet (same size as the log says).
        table = try DeltaFixtures.copy()
        let size = try #require(try FileManager.default.attributesOfItem(atPath: table.appendingPathComponent(victim).path)[.size] as? Int)
        try Data(repeating: 0x41, count: size).write(to: table.appendingPathComponent(victim))
        m = try await failure("file://" + table.path)
        #expect(m.contains(victim) && m.contains("PAR1"), "\(m)")
    }

    /// Log actions the writers used here never produce: deletion vectors, column mapping, a newer
    /// protocol. Written as the protocol describes them; each is refused by name.
    @Test func unsupportedFeaturesAreRefusedByName() throws {
        let schema = #"{\"type\":\"struct\",\"fields\":[{\"name\":\"x\",\"type\":\"double\",\"nullable\":true,\"metadata\":{}}]}"#
        let meta = #"{"metaData":{"id":"1","format":{"provider":"parquet","options":{}},"schemaString":"\#(schema)","partitionColumns":[],"configuration":{}}}"#
        func replay(_ lines: [String]) -> String {
            var r = DeltaLogReplay()
            do {
                try r.apply(commit: Data(lines.joined(separator: "\n").utf8), version: 0, name: "t/_delta_log/0.json")
                _ = try r.snapshot(table: "t")
                return ""
            } catch let e as DeltaLogError { return e.message } catch { return "\(error)" }
        }
        let ok = replay([#"{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}"#, meta,
                         #"{"add":{"path":"a.parquet","partitionValues":{},"size":10,"modificationTime":0,"dataChange":true}}"#])
        #expect(ok.isEmpty, "\(ok)")
        let dv = replay([#"{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["deletionVectors"],"writerFeatures":["deletionVectors"]}}"#, meta,
                         #"{"add":{"path":"a.parquet","partitionValues":{},"size":10,"modificationTime":0,"dataChange":true,"deletionVector":{"storageType":"u","pathOrInlineDv":"ab^-aqEH.-t@S}K{vb[*k^","offset":4,"sizeInBytes":40,"cardinality":6}}}"#])
        #expect(dv.contains("'a.parquet' has a deletion vector") && dv.contains("6 deleted rows"), "\(dv)")
        let mapping = replay([#"{"protocol":{"minReaderVersion":2,"minWriterVersion":5}}"#,
                              meta.replacingOccurrences(of: #""configuration":{}"#, with: #""configuration":{"delta.columnMapping.mode":"name"}"#)])
        #expect(mapping.contains("column mapping mode 'name'"), "\(mapping)")
        let feature = replay([#"{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["v2Checkpoint"]}}"#, meta])
        #expect(feature.contains("reader feature 'v2Checkpoint'"), "\(feature)")
        let newer = replay([#"{"protocol":{"minReaderVersion":4,"minWriterVersion":7}}"#, meta])
        #expect(newer.contains("minReaderVersion 4"), "\(newer)")
        let noMeta = replay([#"{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}"#])
        #expect(noMeta.contains("no metaData"), "\(noMeta)")
        let notObject = replay(["[1, 2]"])
        #expect(notObject.contains("line 1: an action must be a JSON object"), "\(notObject)")
    }

    @Test func configChecksDeltaVersionAndTimestamp() throws {
        func parse(_ data: String) -> String {
            errorMessage { _ = try TrainingConfig.parse(yaml: "modelName: m\ndata: {\(data)}\ntarget: y\n") }
        }
        #expect(parse("uri: /t, format: delta, version: \"3\"").isEmpty)
        #expect(parse("uri: /t, format: delta, timestamp: \"2026-01-02T00:00:00Z\"").isEmpty)
        #expect(parse("uri: /t, format: delta, version: v2").contains("an integer >= 0"))
        #expect(parse("uri: /t, format: delta, version: \"1\", timestamp: \"2026-01-02T00:00:00Z\"").contains("exclusive"))
        #expect(parse("uri: /t, format: delta, timestamp: yesterday").contains("RFC 3339"))
        #expect(parse("uri: /t, timestamp: \"2026-01-02T00:00:00Z\"").contains("only for Delta tables"))
        #expect(parse("uri: /t, format: orc").contains("csv, csv.gz, parquet or delta"))
    }
}

/// Error message of a throwing async expression ("" when it did not throw).
func asyncErrorMessage(_ body: () async throws -> Void) async -> String {
    do { try await body(); return "" } catch let e as TrainerError { return e.message } catch { return "\(error)" }
}
