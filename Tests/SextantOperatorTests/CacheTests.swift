import SextantJSON
import SextantKubeTypes
@testable import SextantOperator
import Testing

/// The cache packs dynamic objects (`CompactJSON`); what it hands out must equal what it was given,
/// through every read and every event.
@Suite struct CacheTests {
    func rollout(_ name: String, namespace: String = "ns", version: String, labels: [String: JSONValue] = [:],
                 owner: String? = nil) -> DynamicObject {
        var metadata: [String: JSONValue] = ["name": .string(name), "namespace": .string(namespace),
                                             "resourceVersion": .string(version), "uid": .string("uid-\(name)"),
                                             "labels": .object(labels), "generation": .int(2)]
        if let owner {
            metadata["ownerReferences"] = [["apiVersion": "v1", "kind": "X", "name": "o", "uid": .string(owner), "controller": true]]
        }
        return DynamicObject([
            "apiVersion": "mlops.sextant.dev/v1alpha1", "kind": "CanaryRollout", "metadata": .object(metadata),
            "spec": ["steps": [["setWeight": 10], ["pause": ["duration": "30s"]]], "threshold": .double(0.99)],
            "status": ["canaryWeight": .int(10), "score": .double(2), "message": "step 1 of 2: weight 10 (é😀)",
                       "history": [["at": "2026-12-06T21:28:00Z", "weight": .int(10)]], "note": .null],
        ])
    }

    @Test func dynamicObjectsComeBackEqualFromEveryRead() throws {
        let cache = Cache<DynamicObject>()
        let a = rollout("a", version: "1", labels: ["tier": "x"], owner: "owner-1")
        let b = rollout("b", namespace: "other", version: "2", labels: ["tier": "x"])
        guard case .added(let added)? = cache.upsert(a) else { Issue.record("no added event"); return }
        #expect(added == a)
        _ = cache.upsert(b)
        #expect(cache.get(namespace: "ns", name: "a") == a)
        #expect(cache.list(namespace: "other") == [b])
        #expect(Set(cache.list().map(\.raw)) == Set([a.raw, b.raw]))
        #expect(cache.list(labels: ["tier": "x"], namespace: "ns") == [a])
        #expect(cache.owned(by: "owner-1") == [a])
        #expect(cache.get(namespace: "ns", name: "a")?.raw[path: ["status", "score"]] == .double(2), "a double stays a double")

        let a2 = rollout("a", version: "3", labels: ["tier": "y"])
        guard case .updated(let old, let new)? = cache.upsert(a2) else { Issue.record("no updated event"); return }
        #expect(old == a && new == a2)
        #expect(cache.upsert(a2) == nil, "the same resourceVersion again is not a change")
        #expect(cache.list(labels: ["tier": "x"]) == [b], "labels re-indexed from the new object")

        let events = cache.replace(with: [b])
        #expect(events.count == 1)
        guard case .deleted(let gone)? = events.first else { Issue.record("no deleted event: \(events)"); return }
        #expect(gone == a2)
        #expect(cache.get(namespace: "ns", name: "a") == nil && cache.get(namespace: "other", name: "b") == b)
    }

    @Test func dynamicObjectsAreStoredPackedAndTypedOnesAsTheyAre() throws {
        let dynamic = Cache<DynamicObject>()
        _ = dynamic.upsert(rollout("a", version: "1"))
        let entry = try #require(dynamic.entry(ObjectKey(namespace: "ns", name: "a")))
        guard case .packed = entry.stored else { Issue.record("a dynamic object is kept as a tree"); return }

        let typed = Cache<ConfigMap>()
        var meta = ObjectMeta(name: "c", namespace: "ns")
        meta.resourceVersion = "1"
        _ = typed.upsert(ConfigMap(metadata: meta, data: ["k": "v"]))
        let typedEntry = try #require(typed.entry(ObjectKey(namespace: "ns", name: "c")))
        guard case .object(let object) = typedEntry.stored else { Issue.record("a typed object was packed"); return }
        #expect(object.data == ["k": "v"])
    }

    /// A named index follows every change: objects cached before it was added, updates that move
    /// an object to another value, deletions and relists.
    @Test func namedIndexesFollowEveryChange() throws {
        let cache = Cache<DynamicObject>()
        let model: @Sendable (DynamicObject) -> [String] = { $0.raw[path: ["metadata", "labels", "model"]]?.stringValue.map { [$0] } ?? [] }
        let a = rollout("a", version: "1", labels: ["model": "churn"])
        _ = cache.upsert(a)
        #expect(cache.list(index: "model", value: "churn").isEmpty, "no index yet")
        cache.addIndex("model", values: model)
        #expect(cache.list(index: "model", value: "churn") == [a], "indexed when the index is added")
        let b = rollout("b", version: "2", labels: ["model": "churn"])
        _ = cache.upsert(b)
        #expect(Set(cache.list(index: "model", value: "churn").map(\.raw)) == Set([a.raw, b.raw]))
        let a2 = rollout("a", version: "3", labels: ["model": "fraud"])
        _ = cache.upsert(a2)
        #expect(cache.list(index: "model", value: "churn") == [b])
        #expect(cache.list(index: "model", value: "fraud") == [a2])
        _ = cache.remove(b)
        #expect(cache.list(index: "model", value: "churn").isEmpty)
        _ = cache.replace(with: [a2, rollout("c", version: "4", labels: ["model": "churn"])])
        #expect(cache.list(index: "model", value: "churn").map(\.name) == ["c"])
        #expect(cache.list(index: "model", value: "fraud") == [a2])
        cache.addIndex("model") { _ in ["never"] }
        #expect(cache.list(index: "model", value: "never").isEmpty, "the first definition of a name stays")
    }
}
