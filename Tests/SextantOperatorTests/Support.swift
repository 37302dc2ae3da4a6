import Foundation
import SextantDevServer
import SextantKube
import SextantKubeTypes
import SextantOperator
import Synchronization
import Testing

/// A development API server on a free loopback port and a client for it.
struct TestCluster {
    let server: DevServer

    static func start(history: Int = 10_000, bookmarkInterval: Duration = .seconds(1)) async throws -> TestCluster {
        let server = try await DevServer.start(DevServerConfiguration(
            store: StoreConfiguration(historyLimit: history), bookmarkInterval: bookmarkInterval))
        return TestCluster(server: server)
    }

    /// A separate client (own rate limiter and connections), as a separate process would have.
    func client(namespace: String = "default") -> KubeClient {
        var options = KubeClient.Options()
        options.retryBaseDelay = .milliseconds(20)
        options.retryMaxDelay = .milliseconds(200)
        options.qps = 5000
        options.burst = 5000
        return KubeClient(config: ClusterConfig(server: server.baseURL, namespace: namespace), options: options)
    }

    var configMaps: ResourceType {
        get async throws {
            try #require(await server.store.resourceType(group: "", version: "v1", plural: "configmaps"))
        }
    }

    func stop() async { await server.stop() }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(10), _ condition: @Sendable () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

func configMap(_ name: String, namespace: String = "default", labels: [String: String]? = nil,
               owner: OwnerReference? = nil, data: [String: String] = [:]) -> ConfigMap {
    ConfigMap(metadata: ObjectMeta(name: name, namespace: namespace, labels: labels,
                                   ownerReferences: owner.map { [$0] }), data: data)
}

/// A thread-safe box for values tests collect from concurrent callbacks.
final class Box<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func get() -> Value { value.withLock { $0 } }
    func update<R: Sendable>(_ body: (inout Value) -> R) -> R { value.withLock { body(&$0) } }
}
