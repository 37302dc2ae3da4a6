import Foundation
import Testing
@testable import SextantML

/// Delta Parquet checkpoints (nested Parquet: structs, maps, lists) against tables delta-rs
/// wrote, with the JSON commits before the checkpoint deleted so that only the checkpoint path
/// can read them: every version still in the log trains the model of deltalake's own CSV export,
/// with deltalake's file list; a multi-part checkpoint reads the same; older versions, deletion
/// vectors, missing and damaged checkpoints fail by name.
@Suite struct DeltaCheckpointTests {
    static func uri(_ name: String) throws -> String {
        let (dir, _) = try DeltaCheckpointFixtures.generate()
        return "file://" + dir.appendingPathComponent(name).path
    }

    @Test func cleanedTableReadsThroughTheCheckpointAsDeltalakeDoes() async throws {
        let (dir, info) = try DeltaCheckpointFixtures.generate()
        let out = try makeTempDir("sextant-delta-cp-out")
        let cleaned = try Self.uri("cleaned")
        // The fixture is what it claims: no commit before 4 is left, deltalake reads versions 3-5.
        let log = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("cleaned/_delta_log").path)
        #expect(!log.contains(DeltaLogNames.commit(0)) && !log.contains(DeltaLogNames.commit(3)) && log.contains(DeltaLogNames.commit(4)))
        for v in 3...5 {
            let expected = try #require(info.versions[String(v)])
            let deltalake = try #require(info.cleaned[String(v)])
            #expect(deltalake.error == nil && deltalake.files == expected.files, "deltalake on the cleaned table, version \(v): \(deltalake.error ?? "")")
            let fromDelta = try await Trainer.run(try DeltaTests.config(cleaned, format: "delta", version: String(v), output: out.appendingPathComponent("d\(v)")))
            let fromCSV = try await Trainer.run(try DeltaTests.config(dir.appendingPathComponent("v\(v).csv").path, output: out.appendingPathComponent("c\(v)")))
            #expect(fromDelta.summary.status == .succeeded, "\(fromDelta.summary.message ?? "")")
            var a = try #require(fromDelta.artifact), b = try #require(fromCSV.artifact)
            let lineage = try #require(a.data)
            #expect(lineage.version == String(v) && lineage.rows == expected.rows)
            #expect(lineage.files?.map(\.path) == expected.files, "version \(v): files differ from deltalake's")
            a.data = b.data
            #expect(try a.encoded() == (try b.encoded()), "version \(v): the model differs from the model of deltalake's CSV export")
        }
        // Version 4 keeps files from the checkpoint and adds its own; the latest is 5.
        #expect(info.versions["4"]?.files?.count ?? 0 > info.versions["3"]?.files?.count ?? 0)
        let latest = try await Trainer.run(try DeltaTests.config(cleaned, format: "delta", output: out.appendingPathComponent("latest")))
        #expect(latest.summary.data?.version == "5")
        #expect(latest.artifact?.data?.files?.map(\.path) == info.versions["5"]?.files)
    }

    @Test func multiPartCheckpointReadsTheSameSnapshot() async throws {
        let (_, info) = try DeltaCheckpointFixtures.generate()
        let single = try DeltaStores.open(uri: try Self.uri("cleaned"), s3: S3Settings())
        let multi = try DeltaStores.open(uri: try Self.uri("multipart"), s3: S3Settings())
        for v in 3...5 {
            #expect(info.multipart[String(v)]?.files == info.versions[String(v)]?.files, "deltalake on the multi-part table, version \(v)")
            let a = try await DeltaTable.snapshot(uri: "cleaned", select: .version(v), store: single)
            let b = try await DeltaTable.snapshot(uri: "cleaned", select: .version(v), store: multi)
            #expect(a == b, "version \(v): multi-part checkpoint gives another snapshot")
            #expect(b.files.map(\.path) == info.versions[String(v)]?.files)
            #expect(b.partitionColumns == ["region"] && b.files.allSatisfy { $0.partitionValues["region"] != nil })
        }
    }

    @Test func fullLogAndCheckpointAgree() async throws {
        // With every commit present, the checkpoint is used from version 3 on; replaying the JSON
        // commits from 0 (the checkpoint hidden) must give the same snapshot.
        let table = try DeltaCheckpointFixtures.copy("table")
        let store = try DeltaStores.open(uri: table.path, s3: S3Settings())
        var withCheckpoint: [DeltaSnapshot] = []
        for v in 3...5 { withCheckpoint.append(try await DeltaTable.snapshot(uri: "t", select: .version(v), store: store)) }
        try FileManager.default.removeItem(at: table.appendingPathComponent("_delta_log/_last_checkpoint"))
        for v in 3...5 {
            let json = try await DeltaTable.snapshot(uri: "t", select: .version(v), store: store)
            #expect(json == withCheckpoint[v - 3], "version \(v): checkpoint and JSON replay differ")
        }
    }

    @Test func timeTravelOnACleanedLog() async throws {
        let cleaned = try Self.uri("cleaned")
        let store = try DeltaStores.open(uri: cleaned, s3: S3Settings())
        // Commit 4 was written 2026-02-05, commit 5 2026-02-06 (the fixture sets file times).
        let s = try await DeltaTable.snapshot(uri: cleaned, select: try DeltaTable.selector(version: nil, timestamp: "2026-02-05T12:00:00Z"), store: store)
        #expect(s.version == 4)
        let m = await asyncErrorMessage {
            _ = try await DeltaTable.snapshot(uri: cleaned, select: try DeltaTable.selector(version: nil, timestamp: "2026-02-02T00:00:00Z"), store: store)
        }
        #expect(m.contains("before the oldest commit left in the log (version 4") && m.contains("cleaned up"), "\(m)")
        let older = await asyncErrorMessage { _ = try await DeltaTable.snapshot(uri: cleaned, select: .version(2), store: store) }
        #expect(older.contains("commit 0 is not in the log (cleaned up) and the checkpoint (version 3) is newer than version 2"), "\(older)")
    }

    @Test func damagedCheckpointsFailByName() async throws {
        let (_, info) = try DeltaCheckpointFixtures.generate()
        func failure(_ table: URL, version: Int? = nil) async -> String {
            await asyncErrorMessage {
                let store = try DeltaStores.open(uri: table.path, s3: S3Settings())
                _ = try await DeltaTable.snapshot(uri: table.path, select: version.map { .version($0) } ?? .latest, store: store)
            }
        }
        let name = "00000000000000000003.checkpoint.parquet"
        // A deletion vector recorded in the checkpoint (version 4 still holds that file).
        var m = await failure(try DeltaCheckpointFixtures.copy("dv"), version: 4)
        #expect(m.contains("'\(info.dvPath)' has a deletion vector") && m.contains("6 deleted rows"), "\(m)")

        // The checkpoint _last_checkpoint names is missing.
        var table = try DeltaCheckpointFixtures.copy("cleaned")
        try FileManager.default.removeItem(at: table.appendingPathComponent("_delta_log/" + name))
        m = await failure(table)
        #expect(m.contains(name) && m.contains("does not exist"), "\(m)")

        // Truncated: the error names the file and an offset.
        table = try DeltaCheckpointFixtures.copy("cleaned")
        let path = table.appendingPathComponent("_delta_log/" + name)
        let bytes = try Data(contentsOf: path)
        try bytes.prefix(bytes.count / 2).write(to: path)
        m = await failure(table)
        #expect(m.contains(name) && m.contains("offset"), "\(m)")

        // One part of a multi-part checkpoint gone.
        table = try DeltaCheckpointFixtures.copy("multipart")
        let part2 = "00000000000000000003.checkpoint.0000000002.0000000002.parquet"
        try FileManager.default.removeItem(at: table.appendingPathComponent("_delta_log/" + part2))
        m = await failure(table)
        #expect(m.contains(part2) && m.contains("does not exist"), "\(m)")

        // _last_checkpoint disagrees with the checkpoint's row count; names a V2 checkpoint; is not JSON.
        table = try DeltaCheckpointFixtures.copy("cleaned")
        let last = table.appendingPathComponent("_delta_log/_last_checkpoint")
        try Data(#"{"version":3,"size":\#(info.checkpointRows + 1)}"#.utf8).write(to: last)
        m = await failure(table)
        #expect(m.contains("holds \(info.checkpointRows) actions, _last_checkpoint says \(info.checkpointRows + 1)"), "\(m)")
        try Data(#"{"version":3,"size":4,"v2Checkpoint":{"path":"00000000000000000003.checkpoint.80a083e8-7026-4e79-81be-64bd76c43a11.json"}}"#.utf8).write(to: last)
        m = await failure(table)
        #expect(m.contains("V2 checkpoint") && m.contains("_last_checkpoint"), "\(m)")
        try Data("{not json".utf8).write(to: last)
        m = await failure(table)
        #expect(m.contains("_last_checkpoint: not a JSON object"), "\(m)")
    }

    /// Seeded mutations of the checkpoint (bytes flipped, runs overwritten, truncations): each read
    /// either succeeds or fails with an error naming the checkpoint; never a crash.
    @Test func checkpointMutationFuzz() async throws {
        let table = try DeltaCheckpointFixtures.copy("cleaned")
        let path = table.appendingPathComponent("_delta_log/00000000000000000003.checkpoint.parquet")
        let original = [UInt8](try Data(contentsOf: path))
        let store = try DeltaStores.open(uri: table.path, s3: S3Settings())
        var rng = SplitMix64(seed: 17)
        var failures = 0, truncatedFailures = 0, unnamed: [String] = []
        for i in 0..<400 {
            var bytes = original
            switch i % 4 {
            case 0: for _ in 0..<(1 + Int(rng.next() % 4)) { bytes[Int(rng.next() % UInt64(bytes.count))] ^= UInt8(1 + rng.next() % 255) }
            case 1:
                let at = Int(rng.next() % UInt64(bytes.count)), n = min(8, bytes.count - at)
                for k in 0..<n { bytes[at + k] = UInt8(rng.next() % 256) }
            case 2: bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count))))
            default:
                // Inside the footer, where sizes and offsets live.
                let footer = bytes.count - 8 - Int(UInt32(bytes[bytes.count - 8]) | UInt32(bytes[bytes.count - 7]) << 8)
                let at = max(0, footer) + Int(rng.next() % UInt64(max(1, bytes.count - max(0, footer))))
                bytes[min(at, bytes.count - 1)] ^= UInt8(1 + rng.next() % 255)
            }
            try Data(bytes).write(to: path)
            let m = await asyncErrorMessage { _ = try await DeltaTable.snapshot(uri: table.path, select: .version(4), store: store) }
            if !m.isEmpty {
                failures += 1
                if i % 4 == 2 { truncatedFailures += 1 }
                if !m.contains("00000000000000000003.checkpoint.parquet") { unnamed.append(m) }
            }
        }
        // Every truncation loses the footer; flipped bytes in unread columns (stats) may read fine.
        #expect(truncatedFailures == 100 && failures > 150, "\(failures) of 400 mutations refused, \(truncatedFailures) of 100 truncations")
        #expect(unnamed.isEmpty, "errors not naming the checkpoint: \(unnamed.prefix(3))")
    }
}
