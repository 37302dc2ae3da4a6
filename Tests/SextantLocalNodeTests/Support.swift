import Foundation
import SextantDevServer
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantLocalNode
import SextantTestSupport
import SextantTransport
import Testing

/// The development API server with a local node running in-process against it.
final class NodeHarness: @unchecked Sendable {
    let server: DevServer
    let client: KubeClient
    let work: TemporaryDirectory
    let options: LocalNodeOptions
    private(set) var node: LocalNode
    private(set) var task: Task<Void, any Error>

    /// The directory with the built `sextant-trainer` and `sextant-server` (next to the test
    /// bundle after `swift build --build-tests`); nil when they are missing.
    static var binDirectory: String? {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let dir = exe.deletingLastPathComponent().path
        let fm = FileManager.default
        return ["sextant-trainer", "sextant-server"].allSatisfy { fm.isExecutableFile(atPath: "\(dir)/\($0)") } ? dir : nil
    }

    /// Throws, naming them, when the executables are missing.
    static func start(configure: (inout LocalNodeOptions) -> Void = { _ in }) async throws -> NodeHarness? {
        guard try Tooling.available("sextant-trainer and sextant-server next to the test bundle (swift build --build-tests)",
                                    binDirectory != nil), let bin = binDirectory else { return nil }
        let server = try await DevServer.start(DevServerConfiguration(port: 0, bookmarkInterval: .seconds(1)))
        var clientOptions = KubeClient.Options()
        clientOptions.retryBaseDelay = .milliseconds(20)
        clientOptions.retryMaxDelay = .milliseconds(200)
        clientOptions.qps = 5000
        clientOptions.burst = 5000
        let client = KubeClient(config: ClusterConfig(server: server.baseURL, namespace: "default"), options: clientOptions)
        let work = try TemporaryDirectory()
        var options = LocalNodeOptions(workDirectory: work.file("node"), binDirectory: bin,
                                       probePeriod: .milliseconds(200), resyncInterval: .milliseconds(250),
                                       initialBackoff: .milliseconds(200), maximumBackoff: .seconds(1),
                                       shutdownGracePeriod: .seconds(2))
        configure(&options)
        return NodeHarness(server: server, client: client, work: work, options: options)
    }

    private init(server: DevServer, client: KubeClient, work: TemporaryDirectory, options: LocalNodeOptions) {
        self.server = server
        self.client = client
        self.work = work
        self.options = options
        (node, task) = NodeHarness.launch(client: client, options: options)
    }

    private static func launch(client: KubeClient, options: LocalNodeOptions) -> (LocalNode, Task<Void, any Error>) {
        let node = LocalNode(client: client, options: options)
        return (node, Task { try await node.run() })
    }

    /// Stops the node (and every process it started), as Ctrl-C on `sextant dev node` would.
    func stopNode() async {
        task.cancel()
        _ = try? await task.value
    }

    /// A new node process against the same server and work directory.
    func restartNode() {
        (node, task) = NodeHarness.launch(client: client, options: options)
    }

    func stop() async {
        await stopNode()
        await server.stop()
    }

    // MARK: API shortcuts

    static let pods = ResourceDescriptor(group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true)
    static let jobs = ResourceDescriptor(group: "batch", version: "v1", plural: "jobs", kind: "Job", namespaced: true)
    static let deployments = ResourceDescriptor(group: "apps", version: "v1", plural: "deployments", kind: "Deployment",
                                                namespaced: true)

    func create(_ resource: ResourceDescriptor, _ object: JSONValue) async throws -> JSONValue {
        try await client.create(resource, DynamicObject(object), namespace: "default").raw
    }

    func get(_ resource: ResourceDescriptor, _ name: String) async throws -> JSONValue? {
        do {
            return try await client.get(resource, name: name, namespace: "default", as: DynamicObject.self).raw
        } catch where error.isKube(.notFound) {
            return nil
        }
    }

    /// Pods owned (as controller) by the object with this uid.
    func pods(ownedBy uid: String) async throws -> [JSONValue] {
        try await client.list(NodeHarness.pods, namespace: "default", as: DynamicObject.self).items.map(\.raw).filter {
            ($0[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).contains { $0["uid"]?.stringValue == uid }
        }
    }

    /// Polls until `body` returns a value; throws with `what` after the timeout.
    func wait<T: Sendable>(_ what: String, timeout: Duration = .seconds(20),
                           _ body: @Sendable () async throws -> T?) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let value = try await body() { return value }
            try await Task.sleep(for: .milliseconds(100))
        }
        if let value = try await body() { return value }
        throw TestSetupError("timed out after \(timeout) waiting for \(what)")
    }
}

func condition(_ object: JSONValue?, _ type: String) -> JSONValue? {
    (object?[path: ["status", "conditions"]]?.arrayValue ?? []).first { $0["type"]?.stringValue == type }
}

func isTrue(_ object: JSONValue?, _ type: String) -> Bool { condition(object, type)?["status"]?.stringValue == "True" }

func phase(_ pod: JSONValue?) -> String? { pod?[path: ["status", "phase"]]?.stringValue }

func terminated(_ pod: JSONValue?) -> JSONValue? {
    pod?[path: ["status", "containerStatuses"]]?[0]?[path: ["state", "terminated"]]
}

/// Deterministic training data: two informative features and a 0/1 label.
func writeTrainingData(_ path: String, rows: Int = 600) throws {
    var state: UInt64 = 42
    func unit() -> Double {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Double(state >> 11) / Double(1 << 53)
    }
    var text = "x0,x1,x2,label\n"
    for _ in 0..<rows {
        let x0 = unit() * 2 - 1, x1 = unit() * 2 - 1, x2 = unit()
        let label = (1.5 * x0 - x1 + 0.3 * (unit() - 0.5)) > 0 ? 1 : 0
        text += "\(x0),\(x1),\(x2),\(label)\n"
    }
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

func trainerConfig(data: String, extra: String = "") -> String {
    """
    modelName: demo
    data: {uri: "file://\(data)", version: v1}
    target: label
    hyperparameters: {nEstimators: 10, maxDepth: 3, threads: 1}
    gates:
      performance: [{metric: aucRoc, min: 0.6}]
    output: {uri: "/unused"}
    \(extra)
    """
}

/// Trains a model with the trainer binary directly (no node) and returns the artifact path.
func trainModel(in dir: TemporaryDirectory) throws -> String {
    guard let bin = NodeHarness.binDirectory else { throw TestSetupError("sextant-trainer not built") }
    try writeTrainingData(dir.file("model-data.csv"))
    try trainerConfig(data: dir.file("model-data.csv")).write(toFile: dir.file("model.yaml"), atomically: true,
                                                               encoding: .utf8)
    let (code, output) = try runCommand(bin + "/sextant-trainer", [
        "--config", dir.file("model.yaml"), "--output", dir.file("model"), "--result-file", dir.file("model-result.json"),
        "--quiet"])
    guard code == 0 else { throw TestSetupError("trainer failed (\(code)): \(output)") }
    return dir.file("model/model.json")
}

/// `GET http://ENDPOINT/PATH`: the status code, or nil when nothing answers.
func httpStatus(_ endpoint: String, _ path: String) async -> Int? {
    let request = HTTPRequest(url: "http://\(endpoint)\(path)", timeouts: HTTPTimeouts(total: .seconds(2)))
    return try? await HTTPClient.shared.send(request).status
}

/// A container of a pod template.
func container(_ name: String, image: String, args: [String], mounts: [(String, String)] = [],
               extra: [String: JSONValue] = [:]) -> JSONValue {
    var c: [String: JSONValue] = [
        "name": .string(name), "image": .string(image), "args": .array(args.map(JSONValue.string)),
    ]
    if !mounts.isEmpty {
        c["volumeMounts"] = .array(mounts.map { ["name": .string($0.0), "mountPath": .string($0.1)] })
    }
    for (k, v) in extra { c[k] = v }
    return .object(c)
}

func job(_ name: String, containers: [JSONValue], volumes: [JSONValue] = [], spec extra: [String: JSONValue] = [:])
    -> JSONValue
{
    var spec: [String: JSONValue] = [
        "template": ["metadata": ["labels": ["app": .string(name)]],
                     "spec": ["restartPolicy": "Never", "containers": .array(containers), "volumes": .array(volumes)]],
    ]
    for (k, v) in extra { spec[k] = v }
    return ["apiVersion": "batch/v1", "kind": "Job", "metadata": ["name": .string(name), "namespace": "default"],
            "spec": .object(spec)]
}

let trainerImage = "ghcr.io/sextant-dev/sextant-trainer:0.1.0"
let serverImage = "ghcr.io/sextant-dev/sextant-server@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/// A sextant-server container serving `model` as NAME `demo`.
func serverContainer(model: String, probe: Bool = true) -> JSONValue {
    container("server", image: serverImage,
              args: ["--model-uri", model, "--model-name", "demo", "--listen", "0.0.0.0:8080"],
              extra: probe ? ["readinessProbe": ["httpGet": ["path": "/v2/health/ready", "port": 8080],
                                                  "periodSeconds": 10]] : [:])
}
