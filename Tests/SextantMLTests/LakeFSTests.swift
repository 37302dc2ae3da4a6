import Foundation
import Testing
@testable import SextantML

/// lakeFS does not run here (it is neither in Debian nor on PyPI). These tests run the trainer
/// against a STAND-IN written from lakeFS's published OpenAPI document: logCommits
/// (`GET /api/v1/repositories/{repository}/refs/{ref}/commits`, basic auth, a CommitList) and the
/// S3 gateway's path-style GET `/{repository}/{ref}/{path}` (SigV4 header required, not verified).
/// They test Sextant's side of the contract, not lakeFS.
@Suite struct LakeFSTests {
    static let standIn = #"""
import sys, json, os, http.server
root, port_file = sys.argv[1], sys.argv[2]
refs = json.load(open(root + "/refs.json"))
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def send(self, code, body, ctype):
        self.send_response(code); self.send_header("Content-Type", ctype); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def do_GET(self):
        path, _, query = self.path.partition("?")
        auth = self.headers.get("Authorization", "")
        parts = path.split("/")
        if path.startswith("/api/v1/repositories/"):
            # /api/v1/repositories/{repository}/refs/{ref}/commits
            if auth != "Basic dGVzdGtleTp0ZXN0c2VjcmV0":  # testkey:testsecret
                return self.send(401, b'{"message":"error authenticating request"}', "application/json")
            if len(parts) != 8 or parts[5] != "refs" or parts[7] != "commits" or "amount=1" not in query:
                return self.send(400, b'{"message":"bad request"}', "application/json")
            repo, ref = parts[4], parts[6]
            commit = refs.get(repo, {}).get(ref)
            if commit is None:
                return self.send(404, json.dumps({"message": "%s: not found" % ref}).encode(), "application/json")
            body = {"pagination": {"has_more": True, "next_offset": commit, "results": 1, "max_per_page": 1},
                    "results": [{"id": commit, "parents": [], "committer": "admin", "message": "commit", "creation_date": 1767225600,
                                 "meta_range_id": "", "metadata": {}}]}
            return self.send(200, json.dumps(body).encode(), "application/json")
        # S3 gateway: /{repository}/{ref}/{path}
        if not auth.startswith("AWS4-HMAC-SHA256 Credential=testkey/"):
            return self.send(403, b"<Error><Code>AccessDenied</Code></Error>", "application/xml")
        file = os.path.join(root, "objects", *parts[1:])
        if len(parts) < 4 or not os.path.isfile(file):
            return self.send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        return self.send(200, open(file, "rb").read(), "application/octet-stream")
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(port_file + ".tmp", "w").write(str(server.server_address[1])); os.rename(port_file + ".tmp", port_file)
server.serve_forever()
"""#

    @Test func aRefIsResolvedToItsCommitAndReadThroughTheGateway() async throws {
        let dir = try makeTempDir("sextant-lakefs")
        let c1 = String(repeating: "a1", count: 32), c2 = String(repeating: "b2", count: 32)
        try #"{"ml": {"main": "\#(c2)", "v1": "\#(c1)", "\#(c1)": "\#(c1)"}}"#.write(to: dir.appendingPathComponent("refs.json"), atomically: true, encoding: .utf8)
        for (commit, rows) in [(c1, 600), (c2, 800)] {
            let folder = dir.appendingPathComponent("objects/ml/\(commit)/data")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            _ = try EndToEndTests.writeData(folder, rows: rows)
        }
        let dataName = try #require(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("objects/ml/\(c1)/data").path).first)

        let portFile = dir.appendingPathComponent("port")
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", "-c", Self.standIn, dir.path, portFile.path]
        server.standardOutput = FileHandle.nullDevice
        try server.run()
        // SIGKILL: the child may inherit a signal mask that blocks SIGTERM (as moto_server in S3Tests).
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
        var port: String?
        for _ in 0..<300 where port == nil {
            port = try? String(contentsOf: portFile, encoding: .utf8)
            if port == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let endpoint = "http://127.0.0.1:\(try #require(port, "the lakeFS stand-in did not start within 30 s"))"
        let s3 = S3Settings(region: "us-east-1", accessKeyID: "testkey", secretAccessKey: "testsecret", endpoint: endpoint)
        let out = try makeTempDir("sextant-lakefs-out")

        func config(_ uri: String, _ name: String) throws -> TrainingConfig {
            var c = try TrainingConfig.parse(yaml: EndToEndTests.config(data: dir.appendingPathComponent("unused.csv"), out: out.appendingPathComponent(name)))
            c.data.uri = uri
            c.hyperparameters?.folds = nil
            return c
        }
        let main = try await Trainer.run(try config("lakefs://ml/main/data/\(dataName)", "main"), s3: s3)
        #expect(main.summary.status == .succeeded, "\(main.summary.message ?? "")")
        #expect(main.summary.data?.version == c2 && main.summary.data?.rows == 800)
        let lineage = try #require(main.artifact?.data)
        #expect(lineage.format == "lakefs" && lineage.uri == "lakefs://ml/main/data/\(dataName)")
        #expect(lineage.files?.first?.path == "lakefs://ml/\(c2)/data/\(dataName)")
        let local = try Data(contentsOf: dir.appendingPathComponent("objects/ml/\(c2)/data/\(dataName)"))
        #expect(lineage.sha256 == (try SHA256.hex(local)))

        // A tag and a commit id resolve to the older commit; a retrain by the recorded commit reads the same bytes.
        let tag = try await Trainer.run(try config("lakefs://ml/v1/data/\(dataName)", "tag"), s3: s3)
        let pinned = try await Trainer.run(try config("lakefs://ml/\(c1)/data/\(dataName)", "pinned"), s3: s3)
        #expect(tag.summary.data?.version == c1 && tag.summary.data?.rows == 600)
        #expect(pinned.summary.data?.sha256 == tag.summary.data?.sha256)

        var m = await asyncErrorMessage { _ = try await Trainer.run(try config("lakefs://ml/nobranch/data/\(dataName)", "x"), s3: s3) }
        #expect(m.contains("ref 'nobranch'") && m.contains("HTTP 404"), "\(m)")
        m = await asyncErrorMessage { _ = try await Trainer.run(try config("lakefs://ml/main/data/missing.csv", "y"), s3: s3) }
        #expect(m.contains("'data/missing.csv' at commit \(c2)") && m.contains("404"), "\(m)")
        var wrong = s3
        wrong.secretAccessKey = "nope"
        m = await asyncErrorMessage { _ = try await Trainer.run(try config("lakefs://ml/main/data/\(dataName)", "z"), s3: wrong) }
        #expect(m.contains("HTTP 401"), "\(m)")
        m = errorMessage { _ = try LakeFSLocation(uri: "lakefs://ml/main") }
        #expect(m.contains("expected lakefs://repository/ref/path"), "\(m)")
        var noEndpoint = s3
        noEndpoint.endpoint = nil
        m = await asyncErrorMessage { _ = try await Trainer.run(try config("lakefs://ml/main/data/\(dataName)", "w"), s3: noEndpoint) }
        #expect(m.contains("lakeFS endpoint"), "\(m)")
    }
}
