import Foundation
import SextantKube
import SextantKubeTypes
import SextantOperator
import Testing

@Suite(.serialized) struct ManagerTests {
    /// GET on one of the manager's endpoints; returns status and body.
    func get(_ port: Int, _ path: String) async throws -> (Int, String) {
        let probe = KubeClient(config: ClusterConfig(server: "http://127.0.0.1:\(port)"))
        do {
            let data = try await probe.send(method: "GET", path: path, accept: "text/plain")
            return (200, String(decoding: data, as: UTF8.self))
        } catch let error as KubeError {
            return (error.code, error.status.message ?? "")
        }
    }

    @Test func servesMetricsProbesAndReconcilesOnlyAsLeader() async throws {
        let cluster = try await TestCluster.start()
        defer { Task { await cluster.stop() } }
        let client = cluster.client()
        _ = try await client.create(configMap("one"))
        var options = ManagerOptions()
        options.metricsBindAddress = "127.0.0.1:0"
        options.healthProbeBindAddress = "127.0.0.1:0"
        options.leaseDuration = .seconds(6)
        options.renewDeadline = .seconds(4)
        options.retryPeriod = .milliseconds(500)
        options.namespace = "default"
        options.identity = "manager-test"
        let manager = Manager(client: client, options: options)
        let informer = manager.informer(ConfigMap.self)
        #expect(manager.informer(ConfigMap.self) === informer, "one shared informer per type")
        let reconciled = Box<Set<String>>([])
        let controller = Controller(name: "configmaps", reconciler: ReconcilerFunction { key in
            guard informer.cache.get(key) != nil else { return .done }
            reconciled.update { _ = $0.insert(key.name) }
            return .done
        }, metrics: manager.metrics)
        controller.watchPrimary(informer)
        manager.add(controller)
        let run = Task { try await manager.run() }
        defer { run.cancel() }

        let healthPort = try #require(await manager.boundPort("health"))
        let metricsPort = try #require(await manager.boundPort("metrics"))
        #expect(try await get(healthPort, "/healthz").0 == 200)
        #expect(await eventually { (try? await get(healthPort, "/readyz").0) == 200 })
        #expect(await eventually { reconciled.get().contains("one") })
        #expect(manager.isLeader)
        let (code, text) = try await get(metricsPort, "/metrics")
        #expect(code == 200)
        #expect(text.contains(#"sextant_reconcile_total{controller="configmaps",result="success"}"#))
        #expect(text.contains("sextant_reconcile_time_seconds_bucket"))
        #expect(text.contains(#"sextant_workqueue_depth{name="configmaps"}"#))
        #expect(text.contains("sextant_workqueue_queue_duration_seconds"))
        #expect(text.contains("sextant_leader_election_master_status 1"))
        #expect(text.contains("sextant_build_info{"))
        #expect(try await get(metricsPort, "/nope").0 == 404)

        // Shutdown releases the lease.
        run.cancel()
        _ = try? await run.value
        let lease = try await client.get(Lease.self, name: "sextant-controller-leader", namespace: "default")
        #expect(lease.spec?.holderIdentity == "")
    }

    @Test func notReadyUntilCachesSync() async throws {
        let cluster = try await TestCluster.start()
        defer { Task { await cluster.stop() } }
        let client = cluster.client()
        cluster.server.handler.setFaults(.init(failRate: 1, failCode: 500, pathPrefix: "/api/v1/namespaces/default/secrets"))
        var options = ManagerOptions()
        options.metricsBindAddress = "0"
        options.healthProbeBindAddress = "127.0.0.1:0"
        options.leaderElect = false
        options.namespace = "default"
        let manager = Manager(client: client, options: options)
        _ = manager.informer(Secret.self)
        let run = Task { try await manager.run() }
        defer { run.cancel() }
        let port = try #require(await manager.boundPort("health"))
        try await Task.sleep(for: .milliseconds(300))
        let (code, body) = try await get(port, "/readyz")
        #expect(code == 503)
        #expect(body.contains("secrets"), "\(body)")
        cluster.server.handler.setFaults(.init())
        #expect(await eventually(timeout: .seconds(15)) { (try? await get(port, "/readyz").0) == 200 })
        #expect(await manager.boundPort("metrics", timeout: .milliseconds(100)) == nil, "0 disables the endpoint")
    }
}
