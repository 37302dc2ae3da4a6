import Foundation
import SextantKubeTypes
import SextantTransport

/// What a request carries to prove who it is.
struct RequestCredentials: Sendable {
    var headers: [HTTPHeader] = []
    var basicAuth: (user: String, password: String)?
    var clientCertificateData: Data?
    var clientKeyData: Data?
}

/// Hands out credentials, re-reading token files when they change and running exec plugins
/// only when their cached credential expired or the server answered 401.
actor CredentialProvider {
    private let auth: ClusterConfig.Authentication
    private let server: String
    private var cachedToken: (value: String, modified: Date?)?
    private var execCredential: ExecCredentialStatus?

    init(auth: ClusterConfig.Authentication, server: String) {
        self.auth = auth
        self.server = server
    }

    func credentials() async throws -> RequestCredentials {
        switch auth {
        case .none:
            return RequestCredentials()
        case .token(let token):
            return RequestCredentials(headers: [HTTPHeader("Authorization", "Bearer \(token)")])
        case .basic(let user, let password):
            return RequestCredentials(basicAuth: (user, password))
        case .tokenFile(let path):
            return RequestCredentials(headers: [HTTPHeader("Authorization", "Bearer \(try readTokenFile(path))")])
        case .exec(let config):
            let status = try await currentExecCredential(config)
            var creds = RequestCredentials()
            if let token = status.token { creds.headers = [HTTPHeader("Authorization", "Bearer \(token)")] }
            creds.clientCertificateData = status.clientCertificateData.map { Data($0.utf8) }
            creds.clientKeyData = status.clientKeyData.map { Data($0.utf8) }
            return creds
        }
    }

    /// The server said 401: forget cached credentials so the next request fetches new ones.
    func invalidate() {
        execCredential = nil
        cachedToken = nil
    }

    private func readTokenFile(_ path: String) throws -> String {
        let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
        if let cached = cachedToken, cached.modified == modified, modified != nil { return cached.value }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KubeConfigError("cannot read token file \(path)")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw KubeConfigError("token file \(path) is empty") }
        cachedToken = (token, modified)
        return token
    }

    private func currentExecCredential(_ config: Kubeconfig.ExecConfig) async throws -> ExecCredentialStatus {
        if let cached = execCredential, !cached.isExpired(at: Date()) { return cached }
        let status = try await runExecPlugin(config)
        execCredential = status
        return status
    }

    private func runExecPlugin(_ config: Kubeconfig.ExecConfig) async throws -> ExecCredentialStatus {
        let apiVersion = config.apiVersion ?? "client.authentication.k8s.io/v1"
        guard apiVersion == "client.authentication.k8s.io/v1" || apiVersion == "client.authentication.k8s.io/v1beta1"
        else {
            throw KubeConfigError("exec plugin apiVersion \(apiVersion) is not supported (use v1 or v1beta1)")
        }
        var info: [String: Any] = ["apiVersion": apiVersion, "kind": "ExecCredential",
                                   "spec": ["interactive": false]]
        if config.provideClusterInfo == true {
            info["spec"] = ["interactive": false, "cluster": ["server": server]]
        }
        let infoJSON = String(decoding: try JSONSerialization.data(withJSONObject: info), as: UTF8.self)

        var environment = ProcessInfo.processInfo.environment
        for variable in config.env ?? [] { environment[variable.name] = variable.value }
        environment["KUBERNETES_EXEC_INFO"] = infoJSON

        let output = try await ProcessRunner.run(command: config.command, arguments: config.args ?? [],
                                                 environment: environment)
        guard output.exitCode == 0 else {
            throw KubeConfigError(
                "exec plugin \(config.command) exited with \(output.exitCode): \(output.stderr.prefix(500))")
        }
        struct ExecCredential: Decodable {
            var apiVersion: String?
            var kind: String?
            var status: ExecCredentialStatus?
        }
        let credential: ExecCredential
        do {
            credential = try JSONDecoder().decode(ExecCredential.self, from: output.stdout)
        } catch {
            throw KubeConfigError("exec plugin \(config.command) printed an invalid ExecCredential: \(describe(error))")
        }
        guard credential.kind == "ExecCredential", let status = credential.status,
              status.token != nil || (status.clientCertificateData != nil && status.clientKeyData != nil) else {
            throw KubeConfigError("exec plugin \(config.command) returned no token and no client certificate")
        }
        return status
    }
}

struct ExecCredentialStatus: Decodable, Sendable {
    var token: String?
    var clientCertificateData: String?
    var clientKeyData: String?
    var expirationTimestamp: String?

    func isExpired(at now: Date) -> Bool {
        guard let stamp = expirationTimestamp else { return false }
        guard let expiry = KubeTime.parse(stamp) else { return true }
        return expiry <= now
    }
}

/// Runs a helper program to completion without blocking the cooperative thread pool.
enum ProcessRunner {
    struct Output: Sendable {
        var exitCode: Int32
        var stdout: Data
        var stderr: String
    }

    static func run(command: String, arguments: [String], environment: [String: String]) async throws -> Output {
        let process = Process()
        if command.contains("/") {
            process.executableURL = URL(fileURLWithPath: command)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [command] + arguments
        }
        process.environment = environment
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        return try await withCheckedThrowingContinuation { cont in
            DispatchQueue.global().async {
                do {
                    try process.run()
                } catch {
                    cont.resume(throwing: KubeConfigError("cannot run exec plugin \(command): \(error)"))
                    return
                }
                let out = stdout.fileHandleForReading.readDataToEndOfFile()
                let err = stderr.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                cont.resume(returning: Output(exitCode: process.terminationStatus, stdout: out,
                                              stderr: String(decoding: err, as: UTF8.self)))
            }
        }
    }
}
