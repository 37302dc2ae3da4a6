import Foundation
import SextantDevServer
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantOperator
import Testing

@Suite(.serialized) struct ControllerTests {
    @Test func triggersFromPrimaryOwnedAndMappedObjectsAfterSync() async throws {
        let cluster = try await TestCluster.start()
        defer { Task { await cluster.stop() } }
        let client = cluster.client()
        let owner = try await client.create(configMap("model-a", labels: ["role": "primary"]))
        _ = try await client.create(configMap("model-b", labels: ["role": "primary"]))

        let primaries = Informer<ConfigMap>(client: client, resource: ResourceDescriptor(ConfigMap.self),
                                            namespace: "default", labelSelector: "role=primary")
        let children = Informer<Secret>(client: client, resource: ResourceDescriptor(Secret.self), namespace: "default")
        let related = Informer<ConfigMap>(client: client, resource: ResourceDescriptor(ConfigMap.self),
                                          namespace: "default", labelSelector: "role=related")
        let seen = Box<[String]>([])
        let unsyncedCalls = Box(0)
        let reconciler = ReconcilerFunction { key in
            if !primaries.hasSynced || !children.hasSynced || !related.hasSynced { unsyncedCalls.update { $0 += 1 } }
            seen.update { $0.append(key.name) }
            return .done
        }
        let controller = Controller(name: "models", reconciler: reconciler,
                                    options: ControllerOptions(concurrency: 2, resyncPeriod: .milliseconds(700)))
        controller.watchPrimary(primaries)
            .owns(children, ownerKind: "ConfigMap", ownerGroup: "")
            .watches(related) { object in
                (object.data?["model"]).map { [ObjectKey(namespace: "default", name: $0)] } ?? []
            }
        let tasks = [Task { await primaries.run() }, Task { await children.run() }, Task { await related.run() },
                     Task { await controller.run() }]
        defer { for t in tasks { t.cancel() } }

        #expect(await eventually { Set(seen.get()) == ["model-a", "model-b"] })
        #expect(unsyncedCalls.get() == 0, "no reconcile may start before every cache synced")

        // An owned child changes: its controller owner is reconciled.
        seen.update { $0.removeAll() }
        var secret = Secret(metadata: ObjectMeta(name: "model-a-creds", namespace: "default"))
        secret.metadata.ownerReferences = [try OwnerReference(controlledBy: owner)]
        _ = try await client.create(secret)
        #expect(await eventually { seen.get().contains("model-a") })

        // A related object mapped by a closure.
        seen.update { $0.removeAll() }
        _ = try await client.create(configMap("route", labels: ["role": "related"], data: ["model": "model-b"]))
        #expect(await eventually { seen.get().contains("model-b") })

        // Periodic resync queues every primary even without changes.
        seen.update { $0.removeAll() }
        #expect(await eventually(timeout: .seconds(3)) { Set(seen.get()) == ["model-a", "model-b"] })
    }

    @Test func finalizersOfOtherControllersSurvive() async throws {
        let cluster = try await TestCluster.start()
        defer { Task { await cluster.stop() } }
        let ours = cluster.client(), theirs = cluster.client()
        let created = try await ours.create(configMap("guarded"))
        let withOurs = try await ours.addFinalizer("mlops.sextant.dev/cleanup", to: created)
        #expect(withOurs.metadata.finalizers == ["mlops.sextant.dev/cleanup"])
        // Another controller adds its finalizer after we read the object.
        let fresh = try await theirs.get(ConfigMap.self, name: "guarded", namespace: "default")
        _ = try await theirs.addFinalizer("other.io/protect", to: fresh)
        // Our stale copy still lists the finalizer at index 0, so removal is safe and keeps theirs.
        let removed = try await ours.removeFinalizer("mlops.sextant.dev/cleanup", from: withOurs)
        #expect(removed.metadata.finalizers == ["other.io/protect"])
        // Adding from a stale copy whose list no longer matches fails as a conflict, never overwrites.
        await #expect {
            _ = try await ours.addFinalizer("mlops.sextant.dev/cleanup", to: withOurs.withFinalizers(["x"]))
        } throws: { $0.isKube(.conflict) }
        let final = try await ours.get(ConfigMap.self, name: "guarded", namespace: "default")
        #expect(final.metadata.finalizers == ["other.io/protect"])
    }

    @Test func repeatedEventsAreAggregatedIntoASeries() async throws {
        let cluster = try await TestCluster.start()
        defer { Task { await cluster.stop() } }
        let client = cluster.client()
        let object = try await client.create(configMap("noisy"))
        let recorder = EventRecorder(client: client, controllerName: "mlops.sextant.dev/test", instance: "test-0")
        for _ in 0..<3 {
            await recorder.record(object, type: .warning, reason: "GateFailed", action: "Evaluate", note: "auc 0.61 < 0.7")
        }
        await recorder.record(object, type: .normal, reason: "Promoted", action: "Promote", note: "stage Production")
        let events = try await client.list(Event.self, namespace: "default").items
        #expect(events.count == 2)
        let failed = try #require(events.first { $0.reason == "GateFailed" })
        #expect(failed.series?.count == 3)
        #expect(failed.regarding?.name == "noisy" && failed.regarding?.uid == object.metadata.uid)
        #expect(failed.reportingController == "mlops.sextant.dev/test")
        #expect(events.first { $0.reason == "Promoted" }?.series == nil)

        // The same Events through core v1, with the field selector `kubectl describe` sends: one
        // store, so what the recorder wrote (and its series patches) shows where kubectl users look.
        let uid = object.metadata.uid ?? ""
        let selector = "involvedObject.kind=ConfigMap,involvedObject.name=noisy,involvedObject.namespace=default,involvedObject.uid=\(uid)"
        let core = try await client.send(method: "GET", path: "/api/v1/namespaces/default/events",
                                         query: [URLQueryItem(name: "fieldSelector", value: selector)])
        let items = try JSONValue.decode(core)["items"]?.arrayValue ?? []
        #expect(items.count == 2)
        let gate = try #require(items.first { $0["reason"]?.stringValue == "GateFailed" })
        #expect(gate["apiVersion"]?.stringValue == "v1")
        #expect(gate["message"]?.stringValue == "auc 0.61 < 0.7")
        #expect(gate["reportingComponent"]?.stringValue == "mlops.sextant.dev/test")
        #expect(gate[path: ["series", "count"]]?.intValue == 3)
    }
}

extension ConfigMap {
    func withFinalizers(_ finalizers: [String]) -> ConfigMap {
        var copy = self
        copy.metadata.finalizers = finalizers
        return copy
    }
}
