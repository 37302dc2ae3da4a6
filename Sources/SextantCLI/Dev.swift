import ArgumentParser
import Foundation
import SextantDevServer

/// `sextant dev`: the local development environment.
struct Dev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Local development environment (never for production).",
        subcommands: [DevAPIServerCommand.self, DevNodeCommand.self]
    )
}

/// `sextant dev apiserver`: a Kubernetes-compatible API server for tests and local runs.
struct DevAPIServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apiserver",
        abstract: "Run the development Kubernetes API server (see docs/dev-apiserver.md).",
        discussion: """
        Serves the Kubernetes API over HTTPS (a CA generated with openssl, written into the
        kubeconfig; --insecure-http for plain HTTP) for kubectl, the Python client and Sextant's
        own client.
        It is a test tool: no authorization, no admission webhooks, no CEL validation. Fault
        injection is available at /sextant-dev/faults, /sextant-dev/drop-watches and /sextant-dev/compact.
        """
    )

    @Option(help: "Address to listen on, HOST:PORT (port 0 picks a free port).")
    var listen: String = "127.0.0.1:6443"

    @Option(help: "Directory where objects and resourceVersions are persisted across restarts.")
    var dataDir: String?

    @Option(help: "Write a kubeconfig for this server to this file.")
    var kubeconfigOut: String?

    @Option(help: "Require this bearer token on every request (written into the kubeconfig).")
    var token: String?

    @Option(help: "Number of past events kept for watches; older resourceVersions get 410 Expired.")
    var history: Int = 10_000

    @Option(help: "Seconds between watch bookmarks.")
    var bookmarkSeconds: Int = 5

    @Option(help: "Share of API requests (0...1) failed on purpose.")
    var failRate: Double = 0

    @Option(help: "HTTP code of injected failures: 500, 503 or 429.")
    var failCode: Int = 500

    @Option(help: "Delay in milliseconds added to every API response.")
    var delayMs: Int = 0

    @Flag(help: "Serve plain HTTP instead of HTTPS.")
    var insecureHttp = false

    @Option(help: "Directory of the CA and serving certificate (default: DATA_DIR/tls, else a new temporary directory).")
    var tlsDir: String?

    @Flag(help: "Also run a local node in this process (runs sextant-trainer/sextant-server Pods, Jobs, Deployments; docs/local-node.md).")
    var localNode = false

    @Option(help: "With --local-node: process (default) or podman; see sextant dev node --help.")
    var runtime: String = "process"

    func validate() throws {
        guard parseListen() != nil else {
            throw ValidationError("--listen must be HOST:PORT with a port between 0 and 65535, got \"\(listen)\"")
        }
        guard (0...1).contains(failRate) else { throw ValidationError("--fail-rate must be between 0 and 1") }
        guard [500, 503, 429].contains(failCode) else { throw ValidationError("--fail-code must be 500, 503 or 429") }
        guard history > 0 else { throw ValidationError("--history must be positive") }
        guard bookmarkSeconds > 0 else { throw ValidationError("--bookmark-seconds must be positive") }
        guard delayMs >= 0 else { throw ValidationError("--delay-ms must not be negative") }
        guard DevNodeCommand.runtimeChoice(runtime) != nil else {
            throw ValidationError("--runtime must be process or podman, got \"\(runtime)\"")
        }
    }

    func parseListen() -> (String, Int)? {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
              (0...65535).contains(port) else { return nil }
        let host = String(listen[..<colon])
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }

    func run() async throws {
        guard let (host, port) = parseListen() else { throw ValidationError("invalid --listen") }
        let configuration = DevServerConfiguration(
            host: host, port: port, dataDirectory: dataDir, token: token,
            store: StoreConfiguration(historyLimit: history),
            faults: FaultConfiguration(failRate: failRate, failCode: failCode, delayMilliseconds: delayMs),
            bookmarkInterval: .seconds(bookmarkSeconds), handleSignals: true,
            tlsDirectory: insecureHttp ? nil : tlsDir ?? dataDir.map { ($0 as NSString).appendingPathComponent("tls") }
                ?? (NSTemporaryDirectory() as NSString).appendingPathComponent("sextant-dev-tls-\(UUID().uuidString)"))
        let server = try await DevServer.start(configuration)
        if let kubeconfigOut { try server.writeKubeconfig(to: kubeconfigOut) }
        // Written unbuffered: scripts wait for this line on a pipe.
        let ready = "sextant dev apiserver listening on \(server.baseURL)"
            + (kubeconfigOut.map { " (kubeconfig: \($0))" } ?? "") + "\n"
        FileHandle.standardOutput.write(Data(ready.utf8))
        let node = localNode ? DevNodeCommand.start(alongside: server, token: token, dataDir: dataDir,
                                                           runtime: DevNodeCommand.runtimeChoice(runtime) ?? .process) : nil
        var failure: (any Error)?
        do { try await server.wait() } catch { failure = error }
        // The server stopped (signal): stop the node's processes before exiting.
        node?.cancel()
        _ = try? await node?.value
        if let failure { throw failure }
    }
}
