import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// moto's S3 server (`pip install 'moto[server]'`, hack/requirements-test.txt) on 127.0.0.1: an
/// S3-compatible store that programs in containers with host networking reach too. Like S3, moto
/// refuses anonymous requests to an existing object whose ACL is private (the default: what the
/// trainer uploads, and the test's own CSV once written), so the test reads and writes objects with
/// path-style requests signed with AWS Signature V4 by curl (`--aws-sigv4`) and `credentials`.
public final class MotoS3: @unchecked Sendable {
    /// The access key, secret and region the test's clients use (moto accepts any key).
    public static let credentials = (accessKey: "testing", secretKey: "testing", region: "us-east-1")

    public let process: TestProcess
    public let port: Int
    /// The CA of the server's certificate when it serves HTTPS.
    public let caCert: String?
    /// `http://127.0.0.1:PORT` (`https://` with TLS), for `AWS_ENDPOINT_URL_S3` and `endpoint` fields.
    public var endpoint: String { "\(caCert == nil ? "http" : "https")://127.0.0.1:\(port)" }

    public static var executable: String? { Tooling.find("moto_server") }

    /// Starts the server and creates `buckets`; with `tls`, moto serves HTTPS with its server
    /// certificate (`--ssl-cert`/`--ssl-key`).
    public static func start(buckets: [String], tls: TestCertificates? = nil) async throws -> MotoS3 {
        guard let moto = executable else { throw TestSetupError("moto_server is not installed (hack/install-deps.sh)") }
        let port = try LocalHTTP.freePort()
        var arguments = ["-H", "127.0.0.1", "-p", "\(port)"]
        if let tls { arguments += ["--ssl-cert", tls.serverCert, "--ssl-key", tls.serverKey] }
        let server = MotoS3(process: try TestProcess(moto, arguments), port: port, caCert: tls?.caCert)
        let createXML = "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></CreateBucketConfiguration>"
        let create = Data(createXML.utf8)
        for bucket in buckets {
            let deadline = ContinuousClock.now + .seconds(30)
            while true {
                if let ca = tls?.caCert {
                    let answer = try await runCommandAsync("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                                                                    "--cacert", ca, "-X", "PUT", "--data-binary", createXML,
                                                                    server.endpoint + "/\(bucket)"])
                    if answer.output == "200" { break }
                } else if let answer = try? LocalHTTP.request("PUT", port: port, path: "/\(bucket)", body: create), answer.status == 200 { break }
                guard ContinuousClock.now < deadline, server.process.process.isRunning else {
                    server.stop()
                    throw TestSetupError("moto_server did not create bucket \(bucket) on port \(port): \(server.process.text)")
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        return server
    }

    private init(process: TestProcess, port: Int, caCert: String?) {
        self.process = process
        self.port = port
        self.caCert = caCert
    }

    /// `s3://bucket/key` → the object's path on this server.
    private func path(_ uri: String) throws -> String {
        guard uri.hasPrefix("s3://") else { throw TestSetupError("not an s3:// URI: \(uri)") }
        return "/" + uri.dropFirst("s3://".count)
    }

    public func put(_ data: Data, to uri: String) throws {
        let file = NSTemporaryDirectory() + "sextant-moto-put-" + UUID().uuidString
        try data.write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        _ = try signed(["--upload-file", file], uri: uri)
    }

    public func get(_ uri: String) throws -> Data {
        let file = NSTemporaryDirectory() + "sextant-moto-get-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: file) }
        _ = try signed(["--output", file], uri: uri)
        return try Data(contentsOf: URL(fileURLWithPath: file))
    }

    /// One request signed with SigV4 by curl; throws naming the URI and curl's answer unless 2xx.
    private func signed(_ arguments: [String], uri: String) throws -> String {
        guard let curl = Tooling.find("curl") else { throw TestSetupError("curl is not installed (hack/apt-packages.txt)") }
        let c = Self.credentials
        let result = try runCommand(curl, ["--silent", "--show-error", "--fail-with-body", "--max-time", "30",
                                           "--aws-sigv4", "aws:amz:\(c.region):s3", "--user", "\(c.accessKey):\(c.secretKey)"]
                                    + (caCert.map { ["--cacert", $0] } ?? []) + arguments + [endpoint + (try path(uri))])
        guard result.code == 0 else { throw TestSetupError("signed request for \(uri) to moto failed (curl exit \(result.code)): \(result.output.prefix(500))") }
        return result.output
    }

    /// moto_server (werkzeug) does not always stop on SIGTERM.
    public func stop() {
        if process.process.isRunning { kill(process.process.processIdentifier, SIGKILL) }
        process.stop()
    }

    deinit { stop() }
}
