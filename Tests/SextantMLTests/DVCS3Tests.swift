import Foundation
import Testing
@testable import SextantML
import SextantTestSupport

/// A DVC remote on S3 written by `dvc push` itself (the `dvc-s3` plugin from PyPI) to moto's S3
/// server: the trainer reads the object through the remote the repository's .dvc/config names,
/// records the DVC hash, and refuses the object once its bytes no longer have that MD5.
@Suite struct DVCS3Tests {
    static let script = #"""
import sys, os, csv, random, subprocess
out, endpoint = sys.argv[1], sys.argv[2]
repo = out + "/repo"
os.makedirs(repo + "/data")
def run(*args):
    subprocess.run(args, cwd=repo, check=True, stdout=subprocess.DEVNULL)
def dvc(*args):
    run(sys.executable, "-m", "dvc", *args)
rng = random.Random(9)
with open(repo + "/data/train.csv", "w", newline="") as fh:
    w = csv.writer(fh, lineterminator="\n")
    w.writerow(["x0", "x1", "color", "label"])
    for _ in range(900):
        x0, x1 = rng.gauss(0, 1), rng.gauss(0, 1)
        color = rng.choice(["red", "green", "blue"])
        z = 1.2 * x0 - x1 + (0.8 if color == "red" else 0) + 0.4 * rng.gauss(0, 1)
        w.writerow([repr(x0), repr(x1), color, 1 if z > 0.5 else 0])
open(out + "/train.csv", "w").write(open(repo + "/data/train.csv").read())
run("git", "init", "-q")
run("git", "config", "user.email", "t@example.com"); run("git", "config", "user.name", "t")
dvc("init", "-q")
dvc("config", "core.analytics", "false")
dvc("remote", "add", "-d", "store", "s3://dvc-remote/store")
dvc("remote", "modify", "store", "endpointurl", endpoint)
dvc("remote", "modify", "--local", "store", "access_key_id", "testing")
dvc("remote", "modify", "--local", "store", "secret_access_key", "testing")
dvc("add", "-q", "data/train.csv")
run("git", "add", "-A"); run("git", "commit", "-q", "-m", "data")
dvc("push", "-q")
"""#

    @Test func dvcPushToS3ThenTrainThroughTheRemote() async throws {
        let moto = try await MotoS3.start(buckets: ["dvc-remote"])
        defer { moto.stop() }
        let s3 = moto.s3Settings
        let endpoint = moto.endpoint

        // dvc (with dvc-s3) makes the repository and pushes to moto.
        let dir = try makeTempDir("sextant-dvc-s3")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", Self.script, dir.path, endpoint]
        var env = ProcessInfo.processInfo.environment
        env["DVC_NO_ANALYTICS"] = "1"
        p.environment = env
        let err = Pipe()
        p.standardError = err
        try p.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        try #require(p.terminationStatus == 0, "dvc push to S3 failed (are dvc and dvc-s3 installed? pip install -r hack/requirements-test.txt): \(stderr)")

        let pointer = dir.appendingPathComponent("repo/data/train.csv.dvc")
        let md5 = try DVCTests.pointerMD5(pointer)
        let key = "s3://dvc-remote/store/files/md5/\(md5.prefix(2))/\(md5.dropFirst(2))"
        let out = try makeTempDir("sextant-dvc-s3-out")
        // The remote is the repository's default (s3://dvc-remote/store from .dvc/config).
        let viaS3 = try await Trainer.run(try DVCTests.config(pointer.path, output: out.appendingPathComponent("a")), s3: s3)
        let direct = try await Trainer.run(try DVCTests.config(dir.appendingPathComponent("train.csv").path, output: out.appendingPathComponent("b")).withoutDVC())
        #expect(viaS3.summary.status == .succeeded, "\(viaS3.summary.message ?? "")")
        var a = try #require(viaS3.artifact), b = try #require(direct.artifact)
        #expect(a.data?.version == "md5:" + md5 && viaS3.summary.data?.version == "md5:" + md5 && a.data?.md5 == md5)
        #expect(a.data?.files?.first?.path == key, "\(a.data?.files?.first?.path ?? "")")
        #expect(a.data?.sha256 == b.data?.sha256 && a.data?.rows == 900)
        a.data = b.data
        #expect(try a.encoded() == (try b.encoded()), "the model through the S3 remote differs from the model of the file")

        // The object replaced by bytes of the same size with another MD5: refused.
        var bytes = try Data(contentsOf: dir.appendingPathComponent("train.csv"))
        bytes[bytes.count - 2] = bytes[bytes.count - 2] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        try await DataSource.write(bytes, to: key, s3: s3)
        let m = await asyncErrorMessage { _ = try await Trainer.run(try DVCTests.config(pointer.path, output: out.appendingPathComponent("c")), s3: s3) }
        #expect(m.contains("records \(md5)") && m.contains("has md5"), "\(m)")
    }
}
