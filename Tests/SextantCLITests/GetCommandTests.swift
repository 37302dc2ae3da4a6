import Foundation
import SextantDevServer
import SextantKube
import SextantKubeTypes
import SextantTestSupport
import Testing

/// The client and `sextant get` end to end against the development API server, with bearer-token
/// auth through a generated kubeconfig.
@Suite("sextant get against the development API server", .serialized)
struct GetCommandTests {
    /// The `sextant` binary built next to the test bundle.
    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("sextant").path
    }

    struct Environment {
        let server: DevServer
        let directory: TemporaryDirectory
        let kubeconfig: String
        let client: KubeClient
    }

    func start() async throws -> Environment {
        let server = try await DevServer.start(DevServerConfiguration(token: "cli-test-token"))
        let directory = try TemporaryDirectory()
        let kubeconfig = directory.file("kubeconfig")
        try server.writeKubeconfig(to: kubeconfig)
        let client = KubeClient(config: try ClusterConfig.load(kubeconfigPath: kubeconfig))
        return Environment(server: server, directory: directory, kubeconfig: kubeconfig, client: client)
    }

    @Test func clientCreatesListsPatchesAndWatchesThroughTheKubeconfig() async throws {
        let env = try await start()
        defer { Task { await env.server.stop() } }
        let kube = env.client
        let created = try await kube.create(ConfigMap(metadata: ObjectMeta(name: "model-a", namespace: "default"),
                                                      data: ["threshold": "0.5"]))
        #expect(created.metadata.uid != nil)

        // A stale resourceVersion is a conflict, never a blind overwrite.
        var stale = created
        stale.data = ["threshold": "0.9"]
        _ = try await kube.update(stale)
        await #expect(throws: KubeError.self) { try await kube.update(stale) }

        let stream = try await kube.watch(ConfigMap.self, namespace: "default",
                                          options: WatchOptions(resourceVersion: created.metadata.resourceVersion))
        _ = try await kube.patch(ConfigMap.self, name: "model-a", .merge(["data": ["threshold": "0.7"]]))
        try await kube.delete(ConfigMap.self, name: "model-a")
        var seen: [String] = []
        for try await change in stream {
            switch change {
            case .modified(let cm): seen.append("modified \(cm.data?["threshold"] ?? "")")
            case .deleted(let cm): seen.append("deleted \(cm.metadata.name ?? "")")
            case .added(let cm): seen.append("added \(cm.metadata.name ?? "")")
            case .bookmark: continue
            }
            if seen.count == 3 { break }
        }
        #expect(seen == ["modified 0.9", "modified 0.7", "deleted model-a"])

        let listed = try await kube.list(ConfigMap.self, namespace: "default")
        #expect(listed.items.allSatisfy { $0.metadata.name != "model-a" })
    }

    @Test func getListsShowsAndFailsWithTheServersMessage() async throws {
        let env = try await start()
        defer { Task { await env.server.stop() } }
        _ = try await env.client.create(ConfigMap(metadata: ObjectMeta(name: "features", namespace: "default",
                                                                      labels: ["app": "fraud"])))
        _ = try await env.client.create(ConfigMap(metadata: ObjectMeta(name: "other", namespace: "default")))

        let table = try await runCommandAsync(Self.binary, ["get", "configmaps", "--kubeconfig", env.kubeconfig])
        #expect(table.code == 0, "\(table.output)")
        #expect(table.output.contains("NAME"))
        #expect(table.output.contains("features"))

        let names = try await runCommandAsync(Self.binary, ["get", "cm", "-l", "app=fraud", "-o", "name",
                                                 "--kubeconfig", env.kubeconfig])
        #expect(names.output.trimmingCharacters(in: .whitespacesAndNewlines) == "configmap/features")

        let json = try await runCommandAsync(Self.binary, ["get", "configmap", "features", "-o", "json",
                                                "--kubeconfig", env.kubeconfig])
        let object = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
        #expect((object?["metadata"] as? [String: Any])?["name"] as? String == "features")

        let unknown = try await runCommandAsync(Self.binary, ["get", "widgets", "--kubeconfig", env.kubeconfig])
        #expect(unknown.code != 0)
        #expect(unknown.output.contains(#"doesn't have a resource type "widgets""#))

        let missing = try await runCommandAsync(Self.binary, ["get", "cm", "nope", "--kubeconfig", env.kubeconfig])
        #expect(missing.code == 1)
        #expect(missing.output.contains(#"configmaps "nope" not found"#), "\(missing.output)")
    }

    @Test func getWatchPrintsChangesAsTheyHappen() async throws {
        let env = try await start()
        defer { Task { await env.server.stop() } }
        _ = try await env.client.create(ConfigMap(metadata: ObjectMeta(name: "listed", namespace: "default")))
        let watcher = try TestProcess(Self.binary, ["get", "configmaps", "-w", "-o", "name",
                                                    "--kubeconfig", env.kubeconfig])
        defer { watcher.stop() }
        func waitForOutput(_ text: String) async throws {
            let deadline = ContinuousClock.now + .seconds(15)
            while !watcher.text.contains(text), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        // Once the list is printed, whatever is created next can only arrive through the watch.
        try await waitForOutput("configmap/listed")
        #expect(watcher.text.contains("configmap/listed"), "\(watcher.text)")
        _ = try await env.client.create(ConfigMap(metadata: ObjectMeta(name: "late-arrival", namespace: "default")))
        try await waitForOutput("configmap/late-arrival")
        #expect(watcher.text.contains("configmap/late-arrival"), "\(watcher.text)")
    }
}
