import Foundation
import Testing
@testable import SextantML

/// DVC pointers made by the real dvc: the trainer fetches the object from the remote, checks the
/// MD5 dvc recorded, trains the same model as from the original file, and records the hash.
@Suite struct DVCTests {
    static func config(_ uri: String, remote: String? = nil, path: String? = nil, output: URL) throws -> TrainingConfig {
        var dvc: [String] = []
        if let remote { dvc.append("remote: \"\(remote)\"") }
        if let path { dvc.append("path: \"\(path)\"") }
        let data = "uri: \"\(uri)\", dvc: {\(dvc.joined(separator: ", "))}"
        return try TrainingConfig.parse(yaml: """
            modelName: dvc
            data: {\(data)}
            categoricalFeatures: [color]
            target: label
            split: {train: 0.7, test: 0.3, seed: 5}
            hyperparameters: {nEstimators: 15, maxDepth: 3, threads: 2}
            output: {uri: "\(output.path)"}
            """)
    }

    static func pointerMD5(_ url: URL) throws -> String {
        let outs = try DVCPointer.outputs(yaml: String(contentsOf: url, encoding: .utf8), name: url.path)
        return try #require(outs.first?.md5)
    }

    @Test func aDVCPointerTrainsTheModelOfItsFileAndRecordsTheHash() async throws {
        let dir = try DVCFixtures.generate()
        let out = try makeTempDir("sextant-dvc-out")
        let pointer = dir.appendingPathComponent("repo/data/train.csv.dvc")
        let md5 = try Self.pointerMD5(pointer)
        // The remote comes from the repository's .dvc/config (a path relative to .dvc/).
        let viaDVC = try await Trainer.run(try Self.config("file://" + pointer.path, output: out.appendingPathComponent("a")))
        let direct = try await Trainer.run(try Self.config(dir.appendingPathComponent("v2.csv").path, output: out.appendingPathComponent("b"))
            .withoutDVC())
        #expect(viaDVC.summary.status == .succeeded, "\(viaDVC.summary.message ?? "")")
        var a = try #require(viaDVC.artifact), b = try #require(direct.artifact)
        let lineage = try #require(a.data)
        #expect(lineage.md5 == md5 && lineage.version == "md5:" + md5 && viaDVC.summary.data?.version == "md5:" + md5)
        #expect(lineage.format == "dvc" && lineage.uri == "file://" + pointer.path)
        #expect(lineage.files?.first?.path == dir.appendingPathComponent("remote/files/md5/\(md5.prefix(2))/\(md5.dropFirst(2))").path)
        #expect(lineage.sha256 == b.data?.sha256 && lineage.rows == 1200)
        a.data = b.data
        #expect(try a.encoded() == (try b.encoded()), "the model through DVC differs from the model of the file")

        // The first version's pointer (from git history), outside the repository: remote given.
        let old = dir.appendingPathComponent("train-v1.csv.dvc")
        let oldMD5 = try Self.pointerMD5(old)
        #expect(oldMD5 != md5)
        let noRemote = await asyncErrorMessage { _ = try await Trainer.run(try Self.config(old.path, output: out.appendingPathComponent("c"))) }
        #expect(noRemote.contains("data.dvc.remote is required"), "\(noRemote)")
        let v1 = try await Trainer.run(try Self.config(old.path, remote: dir.appendingPathComponent("remote").path, output: out.appendingPathComponent("d")))
        #expect(v1.summary.data?.version == "md5:" + oldMD5 && v1.summary.data?.rows == 1500)
        let v1direct = try await Trainer.run(try Self.config(dir.appendingPathComponent("v1.csv").path, output: out.appendingPathComponent("e")).withoutDVC())
        #expect(v1.summary.data?.sha256 == v1direct.summary.data?.sha256)
    }

    @Test func dvcLockOutputsAreChosenByPath() async throws {
        let dir = try DVCFixtures.generate()
        let out = try makeTempDir("sextant-dvc-out")
        let lock = "file://" + dir.appendingPathComponent("repo/dvc.lock").path
        let ambiguous = await asyncErrorMessage { _ = try await Trainer.run(try Self.config(lock, output: out.appendingPathComponent("a"))) }
        #expect(ambiguous.contains("has 2 outputs (data/a.csv, data/b.csv)"), "\(ambiguous)")
        let wrong = await asyncErrorMessage { _ = try await Trainer.run(try Self.config(lock, path: "data/c.csv", output: out.appendingPathComponent("b"))) }
        #expect(wrong.contains("no output 'data/c.csv'"), "\(wrong)")
        let run = try await Trainer.run(try Self.config(lock, path: "data/a.csv", output: out.appendingPathComponent("c")))
        #expect(run.summary.status == .succeeded && run.summary.data?.rows == 1200)
    }

    @Test func aCorruptOrMissingObjectIsRefused() async throws {
        let dir = try DVCFixtures.generate()
        let out = try makeTempDir("sextant-dvc-out")
        let pointer = dir.appendingPathComponent("train-v1.csv.dvc")
        let md5 = try Self.pointerMD5(pointer)
        // A copy of the remote whose object has the right size but other bytes.
        let remote = try makeTempDir("sextant-dvc-remote").appendingPathComponent("remote")
        try FileManager.default.copyItem(at: dir.appendingPathComponent("remote"), to: remote)
        let object = remote.appendingPathComponent("files/md5/\(md5.prefix(2))/\(md5.dropFirst(2))")
        var bytes = try Data(contentsOf: object)
        bytes[bytes.count - 3] ^= 1
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: object.path)
        try bytes.write(to: object)
        var m = await asyncErrorMessage { _ = try await Trainer.run(try Self.config(pointer.path, remote: remote.path, output: out.appendingPathComponent("a"))) }
        #expect(m.contains("records \(md5)") && m.contains("has md5"), "\(m)")
        try bytes.dropLast().write(to: object)
        m = await asyncErrorMessage { _ = try await Trainer.run(try Self.config(pointer.path, remote: remote.path, output: out.appendingPathComponent("b"))) }
        #expect(m.contains("\(bytes.count - 1) bytes") && m.contains("records \(bytes.count)"), "\(m)")
        try FileManager.default.removeItem(at: object)
        m = await asyncErrorMessage { _ = try await Trainer.run(try Self.config(pointer.path, remote: remote.path, output: out.appendingPathComponent("c"))) }
        #expect(m.contains("md5 \(md5)") && m.contains("dvc push"), "\(m)")
    }

    @Test func pointerErrorsNameTheEntry() throws {
        func outputs(_ text: String) -> String { errorMessage { _ = try DVCPointer.outputs(yaml: text, name: "p.dvc") } }
        #expect(outputs("outs:\n- md5: 0123456789abcdef0123456789abcdef.dir\n  hash: md5\n  path: images\n").contains("is a directory"))
        #expect(outputs("outs:\n- md5: 0123456789abcdef0123456789abcdef\n  path: old.csv\n").contains("tracked by DVC 2"))
        #expect(outputs("outs:\n- md5: xyz\n  hash: md5\n  path: a.csv\n").contains("outs[0]: md5 'xyz' is not 32 hex digits"))
        #expect(outputs("outs:\n- hash: md5\n  path: a.csv\n").contains("'a.csv' has no md5"))
        #expect(outputs("foo: 1\n").contains("neither 'outs'"))
        #expect(outputs("outs: [").contains("invalid YAML"))
        #expect(DVCPointer.defaultRemote(config: "[core]\n    remote = s\n['remote \"s\"']\n    url = s3://b/p\n", local: nil, dvcDirectory: "/r/.dvc") == "s3://b/p")
        #expect(DVCPointer.defaultRemote(config: "[core]\n    remote = s\n['remote \"s\"']\n    url = ../store\n", local: "['remote \"s\"']\n    url = /local\n",
                                         dvcDirectory: "/r/.dvc") == "/local")
        #expect(DVCPointer.defaultRemote(config: "['remote \"s\"']\n    url = /x\n", local: nil, dvcDirectory: "/r/.dvc") == nil)
    }
}

extension TrainingConfig {
    /// The same config reading `data.uri` directly.
    func withoutDVC() -> TrainingConfig {
        var c = self
        c.data.dvc = nil
        return c
    }
}
