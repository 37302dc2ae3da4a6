import Foundation
import SextantDevServer
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantOperator
import Testing

/// What a handler saw, replayed into a map: it must equal the server's state.
final class EventLedger: Sendable {
    let state = Box<[String: String]>([:])  // name -> resourceVersion
    let duplicates = Box(0)
    let events = Box(0)

    func apply(_ event: CacheEvent<ConfigMap>) {
        let name = event.object.metadata.name ?? ""
        let rv = event.object.metadata.resourceVersion ?? ""
        events.update { $0 += 1 }
        state.update { s in
            switch event {
            case .added:
                if s[name] != nil { duplicates.update { $0 += 1 } }
                s[name] = rv
            case .updated:
                if s[name] == rv || s[name] == nil { duplicates.update { $0 += 1 } }
                s[name] = rv
            case .deleted:
                if s[name] == nil { duplicates.update { $0 += 1 } }
                s[name] = nil
            }
        }
    }
}

@Suite(.serialized) struct ReflectorTests {
    func serverState(_ client: KubeClient) async throws -> [String: String] {
        let list = try await client.listAll(ResourceDescriptor(ConfigMap.self), namespace: "default", as: ConfigMap.self)
        var state: [String: String] = [:]
        for item in list.items { state[item.metadata.name ?? ""] = item.metadata.resourceVersion ?? "" }
        return state
    }

    @Test func survivesForcedGoneAndDroppedWatchesWithoutMissingOrDuplicatingState() async throws {
        let cluster = try await TestCluster.start(history: 50, bookmarkInterval: .milliseconds(200))
        defer { Task { await cluster.stop() } }
        let client = cluster.client()
        for i in 0..<120 { _ = try await client.create(configMap("cm-\(i)", labels: ["app": i % 2 == 0 ? "even" : "odd"])) }

        let informer = Informer<ConfigMap>(client: client, resource: ResourceDescriptor(ConfigMap.self),
                                           namespace: "default",
                                           backoff: Backoff(initial: .milliseconds(20), maximum: .milliseconds(200)))
        let ledger = EventLedger()
        informer.addHandler { ledger.apply($0) }
        let run = Task { await informer.run() }
        defer { run.cancel() }
        #expect(await eventually { informer.hasSynced })
        #expect(informer.cache.count == 120)

        let store = cluster.server.store
        let type = try await cluster.configMaps
        for round in 0..<6 {
            // Changes while the watch is open...
            for i in 0..<20 {
                // A plain dropped watch mid-stream: resumed from the last version, no relist.
                if i == 10 {
                    // Only a drop that meets an open watch tests resuming; on a loaded machine the
                    // reflector may still be relisting from the previous round.
                    #expect(await eventually { await store.watcherCount > 0 })
                    #expect(await store.dropAllWatches() >= 1)
                }
                let name = "cm-\((round * 17 + i * 7) % 150)"
                if var existing = try? await client.get(ConfigMap.self, name: name, namespace: "default") {
                    if i % 5 == 0 {
                        try await client.delete(ConfigMap.self, name: name, namespace: "default")
                    } else {
                        existing.data = ["round": "\(round)", "i": "\(i)"]
                        _ = try await client.update(existing)
                    }
                } else {
                    _ = try await client.create(configMap(name, labels: ["app": "new"]))
                }
            }
            // ...then a dropped watch that cannot reconnect, a deletion nobody streams, and a
            // compaction: the reflector resumes from a version the server forgot (410 Gone) and
            // must relist and report the vanished object as deleted.
            let faults = FaultConfiguration(failRate: 1, failCode: 500, pathPrefix: "/api/v1/namespaces/default/configmaps")
            #expect(await eventually { await store.watcherCount > 0 })
            cluster.server.handler.setFaults(faults)
            #expect(await store.dropAllWatches() >= 1)
            var deleteOptions = SextantDevServer.DeleteOptions()
            deleteOptions.propagation = .background
            _ = try? await store.delete(type, namespace: "default", name: "cm-\((round * 11) % 120)", options: deleteOptions)
            await store.compactHistory()
            try await Task.sleep(for: .milliseconds(100))
            cluster.server.handler.setFaults(FaultConfiguration())
        }
        let expected = try await serverState(client)
        let converged = await eventually(timeout: .seconds(15)) {
            let cached = Dictionary(uniqueKeysWithValues: informer.cache.list().map {
                ($0.metadata.name ?? "", $0.metadata.resourceVersion ?? "")
            })
            return cached == expected && ledger.state.get() == expected
        }
        #expect(converged, "cache and handler view must equal the server's state")
        #expect(ledger.duplicates.get() == 0, "a handler saw the same state twice")
        // The cache can converge from the last relist before the watch after it is open.
        #expect(await eventually { informer.reflector.statistics.watches >= 13 })
        let stats = informer.reflector.statistics
        #expect(stats.expired >= 1, "the test must actually force 410 Gone: \(stats)")
        #expect(stats.lists >= 2)
        #expect(stats.watches >= 13, "one initial watch and one after each of 12 drops: \(stats)")
        // Indexes follow the content.
        let odd = informer.cache.list(labels: ["app": "odd"]).count
        #expect(odd == expectedCount(expected, client: client, label: "odd", cache: informer.cache))
        run.cancel()
        await run.value
    }

    func expectedCount(_ state: [String: String], client: KubeClient, label: String, cache: Cache<ConfigMap>) -> Int {
        cache.list().filter { $0.metadata.labels?["app"] == label }.count
    }

    @Test func retriesWithBackoffWhileTheServerFails() async throws {
        let cluster = try await TestCluster.start()
        defer { Task { await cluster.stop() } }
        let client = cluster.client()
        _ = try await client.create(configMap("a"))
        cluster.server.handler.setFaults(FaultConfiguration(failRate: 1, failCode: 500, pathPrefix: "/api/v1/namespaces/default/configmaps"))
        let informer = Informer<ConfigMap>(client: client, resource: ResourceDescriptor(ConfigMap.self),
                                           namespace: "default",
                                           backoff: Backoff(initial: .milliseconds(20), maximum: .milliseconds(100)))
        let run = Task { await informer.run() }
        defer { run.cancel() }
        #expect(await eventually(timeout: .seconds(5)) { informer.reflector.statistics.errors >= 2 })
        #expect(!informer.hasSynced)
        cluster.server.handler.setFaults(FaultConfiguration())
        #expect(await eventually { informer.hasSynced })
        #expect(informer.cache.get(namespace: "default", name: "a") != nil)
    }

    @Test func cacheIndexesByNamespaceOwnerAndLabel() async throws {
        let cluster = try await TestCluster.start()
        defer { Task { await cluster.stop() } }
        let client = cluster.client()
        _ = try await client.create(Namespace(metadata: ObjectMeta(name: "other")))
        let owner = try await client.create(configMap("owner"))
        let ref = try OwnerReference(controlledBy: owner)
        _ = try await client.create(configMap("child-1", owner: ref))
        _ = try await client.create(configMap("child-2", labels: ["tier": "x"], owner: ref))
        _ = try await client.create(configMap("elsewhere", namespace: "other", labels: ["tier": "x"]))
        let informer = Informer<ConfigMap>(client: client, resource: ResourceDescriptor(ConfigMap.self))
        let run = Task { await informer.run() }
        defer { run.cancel() }
        #expect(await eventually { informer.hasSynced })
        let uid = try #require(owner.metadata.uid)
        #expect(Set(informer.cache.owned(by: uid).compactMap(\.metadata.name)) == ["child-1", "child-2"])
        #expect(Set(informer.cache.list(labels: ["tier": "x"]).compactMap(\.metadata.name)) == ["child-2", "elsewhere"])
        #expect(informer.cache.list(labels: ["tier": "x"], namespace: "other").count == 1)
        #expect(informer.cache.list(namespace: "other").count == 1)
        try await client.delete(ConfigMap.self, name: "child-1", namespace: "default")
        #expect(await eventually { informer.cache.owned(by: uid).count == 1 })
    }
    /// Dynamic objects are cached without `metadata.managedFields` (the server keeps them; a
    /// cached object would carry every manager's entry for its life), from the list and from the
    /// watch alike; everything else is as the server sent it.
    @Test func dynamicObjectsAreCachedWithoutManagedFields() async throws {
        let cluster = try await TestCluster.start()
        defer { Task { await cluster.stop() } }
        let client = cluster.client()
        _ = try await client.create(configMap("listed", data: ["a": "1"]))
        let stored = try JSONValue.decode(try await client.send(method: "GET", path: "/api/v1/namespaces/default/configmaps/listed"))
        #expect(stored[path: ["metadata", "managedFields"]]?.arrayValue?.isEmpty == false, "the server records the writer")
        let informer = Informer<DynamicObject>(client: client, resource: ResourceDescriptor(ConfigMap.self))
        let run = Task { await informer.run() }
        defer { run.cancel() }
        #expect(await eventually { informer.hasSynced })
        _ = try await client.create(configMap("watched", data: ["b": "2"]))
        #expect(await eventually { informer.cache.get(namespace: "default", name: "watched") != nil })
        for name in ["listed", "watched"] {
            let cached = try #require(informer.cache.get(namespace: "default", name: name))
            #expect(cached.raw[path: ["metadata", "managedFields"]] == nil, "\(name): \(cached.raw)")
            #expect(cached.raw[path: ["metadata", "resourceVersion"]] != nil && cached.raw["data"] != nil, "\(name): \(cached.raw)")
        }
    }
}
