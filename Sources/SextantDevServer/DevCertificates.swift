import Foundation

/// A CA and a serving certificate for `sextant dev apiserver`, made with the `openssl` command
/// (EC P-256, valid ten years, SANs `localhost`, `127.0.0.1`, `::1` and the listen host). Kept in
/// a directory so a restart with the same `--data-dir` keeps the CA that kubeconfigs trust.
public struct DevCertificates: Sendable {
    public var directory: String
    public var caFile: String { directory + "/ca.crt" }
    public var certificateFile: String { directory + "/server.crt" }
    public var keyFile: String { directory + "/server.key" }
    /// A client certificate for the kubeconfig (`CN=sextant-dev-admin`, `O=system:masters`): over
    /// HTTPS kubectl prompts for a password when a user has no credentials at all. The server does
    /// not ask for it; without `--token` every request is allowed.
    public var clientCertificateFile: String { directory + "/client.crt" }
    public var clientKeyFile: String { directory + "/client.key" }

    /// Reuses the files in `directory` when all exist, else generates them.
    public static func ensure(in directory: String, host: String) throws -> DevCertificates {
        let certificates = DevCertificates(directory: directory)
        let manager = FileManager.default
        if [certificates.caFile, certificates.certificateFile, certificates.keyFile, certificates.clientCertificateFile,
            certificates.clientKeyFile].allSatisfy(manager.fileExists) {
            return certificates
        }
        try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var names = ["DNS:localhost", "IP:127.0.0.1", "IP:::1"]
        if host != "localhost" && host != "127.0.0.1" && host != "0.0.0.0" && !host.isEmpty {
            names.append(host.allSatisfy { $0.isNumber || $0 == "." || $0 == ":" } ? "IP:\(host)" : "DNS:\(host)")
        }
        let ext = directory + "/server.ext", clientExt = directory + "/client.ext"
        try "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n"
            .write(toFile: clientExt, atomically: true, encoding: .utf8)
        try "subjectAltName=\(names.joined(separator: ","))\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
            .write(toFile: ext, atomically: true, encoding: .utf8)
        let steps: [[String]] = [
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "3650",
             "-subj", "/CN=sextant-dev-ca", "-keyout", directory + "/ca.key", "-out", certificates.caFile],
            ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-subj", "/CN=sextant-dev-apiserver", "-keyout", certificates.keyFile, "-out", directory + "/server.csr"],
            ["x509", "-req", "-in", directory + "/server.csr", "-CA", certificates.caFile, "-CAkey", directory + "/ca.key",
             "-CAcreateserial", "-days", "3650", "-extfile", ext, "-out", certificates.certificateFile],
            ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-subj", "/O=system:masters/CN=sextant-dev-admin", "-keyout", certificates.clientKeyFile,
             "-out", directory + "/client.csr"],
            ["x509", "-req", "-in", directory + "/client.csr", "-CA", certificates.caFile, "-CAkey", directory + "/ca.key",
             "-CAcreateserial", "-days", "3650", "-extfile", clientExt, "-out", certificates.clientCertificateFile],
        ]
        for arguments in steps {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["openssl"] + arguments
            let errors = Pipe()
            process.standardError = errors
            process.standardOutput = FileHandle.nullDevice
            do {
                try process.run()
            } catch {
                throw DevServerError("TLS needs the openssl command to make a certificate: \(error)")
            }
            let message = errors.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw DevServerError("openssl \(arguments[0]) failed: \(String(decoding: message, as: UTF8.self))")
            }
        }
        return certificates
    }

    /// The CA certificate, base64 as `certificate-authority-data` wants it.
    public func caData() throws -> String { try Self.base64(caFile) }
    public func clientCertificateData() throws -> String { try Self.base64(clientCertificateFile) }
    public func clientKeyData() throws -> String { try Self.base64(clientKeyFile) }

    static func base64(_ file: String) throws -> String {
        try Data(contentsOf: URL(fileURLWithPath: file)).base64EncodedString()
    }
}
