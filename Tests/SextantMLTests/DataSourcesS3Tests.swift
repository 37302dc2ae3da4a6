import Foundation
import Testing
@testable import SextantML
import SextantTestSupport

/// The Delta table and the DVC remote made by delta-rs and dvc, copied to moto's S3 server: read
/// over S3 they give the same snapshot, digest and model as read locally.
@Suite struct DataSourcesS3Tests {
    @Test func deltaTableAndDVCRemoteOnS3() async throws {
        let moto = try await MotoS3.start(buckets: ["lake"])
        defer { moto.stop() }
        let s3 = moto.s3Settings

        // Upload the fixtures as they are on disk.
        func upload(_ local: URL, to prefix: String) async throws {
            let files = FileManager.default.enumerator(at: local, includingPropertiesForKeys: [.isRegularFileKey])?
                .compactMap { $0 as? URL }.filter { (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true } ?? []
            #expect(!files.isEmpty)
            for file in files {
                let relative = String(file.standardizedFileURL.path.dropFirst(local.standardizedFileURL.path.count + 1))
                try await DataSource.write(try Data(contentsOf: file), to: "\(prefix)/\(relative)", s3: s3)
            }
        }
        let (deltaDir, info) = try DeltaFixtures.generate()
        try await upload(deltaDir.appendingPathComponent("table"), to: "s3://lake/tables/t")
        let dvcDir = try DVCFixtures.generate()
        try await upload(dvcDir.appendingPathComponent("remote"), to: "s3://lake/dvcstore")

        let out = try makeTempDir("sextant-s3-sources")
        for version in [nil, "2"] {
            let remote = try await Trainer.run(try DeltaTests.config("s3://lake/tables/t", format: "delta", version: version,
                                                                     output: out.appendingPathComponent("s3-\(version ?? "latest")")), s3: s3)
            let local = try await Trainer.run(try DeltaTests.config(try DeltaTests.tableURI(), format: "delta", version: version,
                                                                    output: out.appendingPathComponent("local-\(version ?? "latest")")))
            #expect(remote.summary.status == .succeeded, "\(remote.summary.message ?? "")")
            #expect(remote.summary.data?.version == (version ?? "4"))
            var a = try #require(remote.artifact)
            let b = try #require(local.artifact)
            #expect(a.data?.files == b.data?.files && a.data?.sha256 == b.data?.sha256)
            #expect(a.data?.rows == info.versions[version ?? "4"]?.rows)
            a.data = b.data
            #expect(try a.encoded() == (try b.encoded()))
        }
        // A table whose commits before the checkpoint were cleaned up: the checkpoint is fetched
        // by the name _last_checkpoint gives, then the commits after it.
        let (cpDir, cpInfo) = try DeltaCheckpointFixtures.generate()
        try await upload(cpDir.appendingPathComponent("multipart"), to: "s3://lake/tables/cleaned")
        let store = try DeltaStores.open(uri: "s3://lake/tables/cleaned", s3: s3)
        for v in [3, 4] {
            let snapshot = try await DeltaTable.snapshot(uri: "s3://lake/tables/cleaned", select: .version(v), store: store)
            #expect(snapshot.files.map(\.path) == cpInfo.versions[String(v)]?.files, "version \(v) over S3")
        }
        let cpLatest = try await DeltaTable.snapshot(uri: "s3://lake/tables/cleaned", select: .latest, store: store)
        #expect(cpLatest.version == 5 && cpLatest.files.map(\.path) == cpInfo.versions["5"]?.files)
        let cpOlder = await asyncErrorMessage { _ = try await DeltaTable.snapshot(uri: "s3://lake/tables/cleaned", select: .version(1), store: store) }
        #expect(cpOlder.contains("commit 0 is not in the log (cleaned up) and the checkpoint (version 3) is newer than version 1"), "\(cpOlder)")

        let missing = await asyncErrorMessage {
            _ = try await Trainer.run(try DeltaTests.config("s3://lake/tables/t", format: "delta", version: "7", output: out.appendingPathComponent("x")), s3: s3)
        }
        #expect(missing.contains("version 7 does not exist (latest is 4)"), "\(missing)")
        let empty = await asyncErrorMessage {
            _ = try await Trainer.run(try DeltaTests.config("s3://lake/tables/none", format: "delta", output: out.appendingPathComponent("y")), s3: s3)
        }
        #expect(empty.contains("no commit files"), "\(empty)")

        // DVC: the pointer stays local, the remote is on S3.
        let pointer = dvcDir.appendingPathComponent("repo/data/train.csv.dvc").path
        let viaS3 = try await Trainer.run(try DVCTests.config(pointer, remote: "s3://lake/dvcstore", output: out.appendingPathComponent("dvc")), s3: s3)
        let md5 = try DVCTests.pointerMD5(URL(fileURLWithPath: pointer))
        #expect(viaS3.summary.data?.version == "md5:" + md5)
        #expect(viaS3.artifact?.data?.files?.first?.path == "s3://lake/dvcstore/files/md5/\(md5.prefix(2))/\(md5.dropFirst(2))")
    }
}
