import ArgumentParser
import Dispatch
import Foundation
import Logging
import SextantDevServer
import SextantKube
import SextantLocalNode

/// `sextant dev node`: runs Pods, Jobs and Deployments of Sextant's own images as local
/// processes against an API server (the development one; see docs/local-node.md).
struct DevNodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run a local node: kubelet, Job and Deployment controller for sextant-trainer and sextant-server.",
        discussion: """
        Development only. Pods whose images are sextant-trainer or sextant-server (any registry,
        tag or digest) run as local processes of the executables next to this binary (or in
        --bin-dir); other Pods stay Pending as Unschedulable. See docs/local-node.md for the path
        and port rewriting rules and what is not emulated.
        """
    )

    @OptionGroup var cluster: ClusterOptions

    @Option(help: "Node name: Pods with this spec.nodeName (or none) run here.")
    var nodeName: String = "sextant-local"

    @Option(help: "Directory for pod directories, logs and emulated volume claims (default: a temporary directory).")
    var workDir: String?

    @Option(help: "Directory with the sextant-trainer and sextant-server executables (default: next to this binary).")
    var binDir: String?

    @Option(help: "Run readiness probes at least this often, in seconds (pods usually say 10).")
    var probePeriodSeconds: Double?

    @Option(help: "How containers run: process (Sextant's binaries as local processes) or podman (the Pod's image in a podman container, host networking; falls back to process when podman cannot run here).")
    var runtime: String = "process"

    func validate() throws {
        if let p = probePeriodSeconds, !(p > 0) { throw ValidationError("--probe-period-seconds must be positive") }
        guard !nodeName.isEmpty else { throw ValidationError("--node-name must not be empty") }
        guard DevNodeCommand.runtimeChoice(runtime) != nil else {
            throw ValidationError("--runtime must be process or podman, got \"\(runtime)\"")
        }
    }

    func run() async throws {
        let client = try cluster.client()
        var options = LocalNodeOptions(nodeName: nodeName, workDirectory: workDir, binDirectory: binDir,
                                       namespace: cluster.namespace)
        options.probePeriod = probePeriodSeconds.map { .milliseconds(Int($0 * 1000)) }
        options.runtime = DevNodeCommand.runtimeChoice(runtime) ?? .process
        try await DevNodeCommand.runUntilSignal(client: client, options: options)
    }

    /// Runs the node until SIGINT or SIGTERM, then stops every process it started.
    static func runUntilSignal(client: KubeClient, options: LocalNodeOptions) async throws {
        let node = LocalNode(client: client, options: options)
        let task = Task { try await node.run() }
        let signals = SignalWatcher { task.cancel() }
        printReady(node: node, options: options)
        defer { signals.stop() }
        try await task.value
    }

    /// For `sextant dev apiserver --local-node`: a node in the same process against `server`.
    /// Its work directory is `<data-dir>/local-node` when the server persists data, so a restart
    /// finds the pods the previous process ran.
    static func start(alongside server: DevServer, token: String?, dataDir: String?,
                      runtime: RuntimeChoice = .process) -> Task<Void, any Error> {
        var config = ClusterConfig(server: server.baseURL, auth: token.map { .token($0) } ?? .none)
        config.tls.caFile = server.certificates?.caFile
        var options = LocalNodeOptions(workDirectory: dataDir.map { ($0 as NSString).appendingPathComponent("local-node") })
        options.runtime = runtime
        let node = LocalNode(client: KubeClient(config: config), options: options)
        // `kubectl logs`: the server's pods/log reads the node's log files.
        server.handler.setPodLogSource(NodeLogSource(node: node))
        printReady(node: node, options: options)
        return Task { try await node.run() }
    }

    /// `--runtime` → the node's runtime; nil for an unknown name.
    static func runtimeChoice(_ name: String) -> RuntimeChoice? {
        switch name {
        case "process": return .process
        case "podman":
            let found = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
                .map { "\($0)/podman" }.first { FileManager.default.isExecutableFile(atPath: $0) }
            return .podman(executable: found ?? "/usr/bin/podman")
        default: return nil
        }
    }

    private static func printReady(node: LocalNode, options: LocalNodeOptions) {
        let found = node.executables.sorted { $0.key < $1.key }.map { name, path in
            FileManager.default.isExecutableFile(atPath: path) ? "\(name)=\(path)" : "\(name)=(missing: \(path))"
        }
        let line = "sextant dev node \(options.nodeName) running (work dir \(options.workDirectory); "
            + found.joined(separator: ", ") + ")\n"
        FileHandle.standardOutput.write(Data(line.utf8))
    }
}

/// The local node's log files as the dev server's pods/log.
struct NodeLogSource: PodLogSource {
    let node: LocalNode
    func logs(namespace: String, pod: String, uid: String, container: String, previous: Bool) async -> [UInt8]? {
        await node.logs(namespace: namespace, pod: pod, uid: uid, container: container, previous: previous)
    }
}

/// Calls `handler` once on SIGINT or SIGTERM (instead of dying at once and orphaning children).
final class SignalWatcher: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]

    init(_ handler: @escaping @Sendable () -> Void) {
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler(handler: handler)
            source.resume()
            return source
        }
    }

    func stop() {
        for source in sources { source.cancel() }
    }
}
