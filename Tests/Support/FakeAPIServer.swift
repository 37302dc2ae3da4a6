import Foundation

/// `hack/testservers/fake_apiserver.py`, started on 127.0.0.1 for one test.
public final class FakeAPIServer: @unchecked Sendable {
    public let process: TestProcess
    public let port: Int
    public let scheme: String
    public var url: String { "\(scheme)://127.0.0.1:\(port)" }

    public init(certificates: TestCertificates? = nil, requireClientCertificate: Bool = false,
                token: String? = nil) async throws {
        var args = [Repo.root + "/hack/testservers/fake_apiserver.py"]
        if let certificates {
            args += ["--cert", certificates.serverCert, "--key", certificates.serverKey]
            if requireClientCertificate { args += ["--client-ca", certificates.caCert] }
        }
        if let token { args += ["--token", token] }
        process = try TestProcess("python3", args)
        scheme = certificates == nil ? "http" : "https"
        guard let port = Int(try await process.waitForLine(prefix: "PORT ")) else {
            throw TestSetupError("fake API server printed no port: \(process.text)")
        }
        self.port = port
    }

    /// The requests the server saw, oldest first.
    public func requests() throws -> [[String: Any]] {
        // Read with Python's urllib so the check does not go through the client under test.
        let script = "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())"
        let result = try runCommand("python3", ["-c", script, "http://127.0.0.1:\(port)/_requests"])
        guard result.code == 0 else { throw TestSetupError("cannot read request log: \(result.output)") }
        let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
        return object?["requests"] as? [[String: Any]] ?? []
    }

    deinit { process.stop() }
}
