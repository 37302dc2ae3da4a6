import Foundation

/// A test CA with a server certificate (for 127.0.0.1, localhost and `alt.sextant.test`) and a
/// client certificate, made with the `openssl` command.
public struct TestCertificates: Sendable {
    public let directory: String
    public var caCert: String { directory + "/ca.crt" }
    public var serverCert: String { directory + "/server.crt" }
    public var serverKey: String { directory + "/server.key" }
    public var clientCert: String { directory + "/client.crt" }
    public var clientKey: String { directory + "/client.key" }

    public init(directory: String) throws {
        self.directory = directory
        let ext = directory + "/san.ext"
        try "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:alt.sextant.test\n"
            .write(toFile: ext, atomically: true, encoding: .utf8)
        let steps: [[String]] = [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", directory + "/ca.key", "-out", caCert,
             "-days", "2", "-subj", "/CN=sextant-test-ca"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", serverKey, "-out", directory + "/server.csr",
             "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", directory + "/server.csr", "-CA", caCert, "-CAkey", directory + "/ca.key",
             "-CAcreateserial", "-out", serverCert, "-days", "2", "-extfile", ext],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", clientKey, "-out", directory + "/client.csr",
             "-subj", "/CN=sextant-test-user/O=system:masters"],
            ["x509", "-req", "-in", directory + "/client.csr", "-CA", caCert, "-CAkey", directory + "/ca.key",
             "-CAcreateserial", "-out", clientCert, "-days", "2"],
        ]
        for args in steps {
            let result = try runCommand("openssl", args)
            guard result.code == 0 else { throw TestSetupError("openssl \(args[0]) failed: \(result.output)") }
        }
    }
}
