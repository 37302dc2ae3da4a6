import SextantJSON
import SextantKubeTypes
import Synchronization

/// A change the cache applied, handed to event handlers (controllers' triggers).
public enum CacheEvent<Object: KubernetesObject>: Sendable {
    case added(Object)
    case updated(old: Object, new: Object)
    case deleted(Object)

    /// The object after the change (the last known state for deletions).
    public var object: Object {
        switch self {
        case .added(let o), .deleted(let o): return o
        case .updated(_, let new): return new
        }
    }
}

/// A read-only (to its users) in-memory copy of one resource type, filled by a `Reflector`.
/// Reads are synchronous and lock-protected so reconcilers can read many objects cheaply.
/// Indexes: namespace, owner UID (from ownerReferences), label `key=value`, and the named indexes
/// controllers add (client-go's indexers), so a trigger finds the objects naming a value without
/// unpacking every object of a namespace.
///
/// Dynamic objects are kept packed (`CompactJSON`, about the size of their JSON text) and unpacked
/// on every read: as `JSONValue` trees, 1,000 CanaryRollouts and 2,000 ModelVersions took about
/// four times that (docs/benchmarks.md#canary-rollouts-at-scale-issue-21). Typed objects are kept
/// as they are.
public final class Cache<Object: KubernetesObject>: Sendable {
    enum Stored: Sendable {
        case object(Object)
        case packed(CompactJSON)
    }

    struct Entry {
        var stored: Stored
        var resourceVersion: String?
        var uid: String?
        var ownerUIDs: [String]
        var labels: [String: String]
        /// Index name → the values this object is found under.
        var indexed: [String: [String]] = [:]

        /// The object as handed out (unpacked outside the lock by the readers).
        var object: Object? {
            switch stored {
            case .object(let object): return object
            case .packed(let packed): return DynamicObject(packed.value) as? Object
            }
        }
    }

    struct State {
        var entries: [ObjectKey: Entry] = [:]
        var byNamespace: [String: Set<ObjectKey>] = [:]
        var byOwner: [String: Set<ObjectKey>] = [:]
        var byLabel: [String: Set<ObjectKey>] = [:]
        var indexers: [String: @Sendable (Object) -> [String]] = [:]
        var byIndex: [String: [String: Set<ObjectKey>]] = [:]
        var synced = false
    }

    private let state = Mutex(State())

    public init() {}

    // MARK: Reads

    /// True once the first complete list has been stored.
    public var hasSynced: Bool { state.withLock { $0.synced } }

    public var count: Int { state.withLock { $0.entries.count } }

    public func get(_ key: ObjectKey) -> Object? { entry(key)?.object }

    /// The stored entry (packed or not), read under the lock.
    func entry(_ key: ObjectKey) -> Entry? { state.withLock { $0.entries[key] } }

    public func get(namespace: String, name: String) -> Object? { get(ObjectKey(namespace: namespace, name: name)) }

    public var keys: [ObjectKey] { state.withLock { Array($0.entries.keys) } }

    /// Every object, or those of one namespace.
    public func list(namespace: String? = nil) -> [Object] {
        let entries = state.withLock { s in
            guard let namespace else { return Array(s.entries.values) }
            return (s.byNamespace[namespace] ?? []).compactMap { s.entries[$0] }
        }
        return entries.compactMap(\.object)
    }

    /// Objects whose ownerReferences name this owner UID (children of a controller's object).
    public func owned(by ownerUID: String) -> [Object] {
        state.withLock { s in (s.byOwner[ownerUID] ?? []).compactMap { s.entries[$0] } }.compactMap(\.object)
    }

    /// Objects matching every `key=value` pair (an equality-based label selector).
    public func list(labels selector: [String: String], namespace: String? = nil) -> [Object] {
        let entries: [Entry] = state.withLock { s in
            var candidates: Set<ObjectKey>?
            for (key, value) in selector {
                let hits = s.byLabel["\(key)=\(value)"] ?? []
                candidates = candidates.map { $0.intersection(hits) } ?? hits
                if candidates?.isEmpty == true { return [] }
            }
            let keys = candidates ?? Set(s.entries.keys)
            return keys.compactMap { key in
                guard namespace == nil || key.namespace == namespace else { return nil }
                return s.entries[key]
            }
        }
        return entries.compactMap(\.object)
    }

    /// Adds a named index: `values` gives the values an object is found under (for example
    /// `namespace/modelName`). Adding a name again keeps the first definition.
    public func addIndex(_ name: String, values: @escaping @Sendable (Object) -> [String]) {
        let present: [(ObjectKey, Entry)] = state.withLock { s in
            guard s.indexers[name] == nil else { return [] }
            s.indexers[name] = values
            return Array(s.entries)
        }
        // Objects already cached (an index added after the first list) are indexed now.
        let computed = present.compactMap { key, entry in entry.object.map { (key, values($0)) } }
        state.withLock { s in
            for (key, found) in computed where s.entries[key] != nil {
                s.entries[key]?.indexed[name] = found
                for value in found { s.byIndex[name, default: [:]][value, default: []].insert(key) }
            }
        }
    }

    /// The objects found under `value` in the index `name` (none for an index never added).
    public func list(index name: String, value: String) -> [Object] {
        state.withLock { s in (s.byIndex[name]?[value] ?? []).compactMap { s.entries[$0] } }.compactMap(\.object)
    }

    // MARK: Writes (by the reflector)

    /// Stores an added or modified object. Returns nil when the cache already had this exact
    /// resourceVersion (a replayed event after a re-watch), so handlers never see duplicates.
    func upsert(_ object: Object) -> CacheEvent<Object>? {
        guard let key = ObjectKey(object) else { return nil }
        var entry = Self.entry(object)
        entry.indexed = state.withLock { $0.indexers }.mapValues { $0(object) }
        let change: (stored: Bool, old: Entry?) = state.withLock { [entry] s in
            let old = s.entries[key]
            if let old, old.resourceVersion != nil, old.resourceVersion == entry.resourceVersion { return (false, nil) }
            if let old { Self.unindex(key, old, &s) }
            s.entries[key] = entry
            Self.index(key, entry, &s)
            return (true, old)
        }
        guard change.stored else { return nil }
        return change.old.map { .updated(old: $0.object ?? object, new: object) } ?? .added(object)
    }

    /// Removes an object; nil when it was not cached (already removed by a relist).
    func remove(_ object: Object) -> CacheEvent<Object>? {
        guard let key = ObjectKey(object) else { return nil }
        return state.withLock { s in
            guard let old = s.entries.removeValue(forKey: key) else { return nil }
            Self.unindex(key, old, &s)
            // Hand out the last state the server sent (the deleted object).
            return .deleted(object)
        }
    }

    /// Replaces the whole content with a fresh list and returns the difference as events:
    /// objects that vanished while no watch was open become deletions.
    func replace(with objects: [Object]) -> [CacheEvent<Object>] {
        let indexers = state.withLock { $0.indexers }
        var fresh: [ObjectKey: Entry] = [:]
        var given: [ObjectKey: Object] = [:]
        fresh.reserveCapacity(objects.count)
        given.reserveCapacity(objects.count)
        for object in objects {
            guard let key = ObjectKey(object) else { continue }
            var entry = Self.entry(object)
            entry.indexed = indexers.mapValues { $0(object) }
            fresh[key] = entry
            given[key] = object
        }
        return state.withLock { s in
            var events: [CacheEvent<Object>] = []
            for (key, old) in s.entries where fresh[key] == nil {
                if let object = old.object { events.append(.deleted(object)) }
            }
            for (key, entry) in fresh {
                guard let new = given[key] else { continue }
                if let old = s.entries[key] {
                    if old.resourceVersion == nil || old.resourceVersion != entry.resourceVersion {
                        events.append(.updated(old: old.object ?? new, new: new))
                    }
                } else {
                    events.append(.added(new))
                }
            }
            var rebuilt = State()
            rebuilt.indexers = s.indexers
            rebuilt.entries = fresh
            for (key, entry) in fresh { Self.index(key, entry, &rebuilt) }
            rebuilt.synced = true
            s = rebuilt
            return events
        }
    }

    private static func entry(_ object: Object) -> Entry {
        // Read metadata once: for dynamic objects every access decodes JSON.
        let meta = object.metadata
        let stored: Stored = (object as? DynamicObject).map { .packed(CompactJSON($0.raw)) } ?? .object(object)
        return Entry(stored: stored, resourceVersion: meta.resourceVersion, uid: meta.uid,
                     ownerUIDs: (meta.ownerReferences ?? []).map(\.uid), labels: meta.labels ?? [:])
    }

    private static func index(_ key: ObjectKey, _ entry: Entry, _ s: inout State) {
        s.byNamespace[key.namespace, default: []].insert(key)
        for uid in entry.ownerUIDs { s.byOwner[uid, default: []].insert(key) }
        for (k, v) in entry.labels { s.byLabel["\(k)=\(v)", default: []].insert(key) }
        for (name, values) in entry.indexed {
            for value in values { s.byIndex[name, default: [:]][value, default: []].insert(key) }
        }
    }

    private static func unindex(_ key: ObjectKey, _ entry: Entry, _ s: inout State) {
        func drop(_ index: inout [String: Set<ObjectKey>], _ name: String) {
            index[name]?.remove(key)
            if index[name]?.isEmpty == true { index[name] = nil }
        }
        drop(&s.byNamespace, key.namespace)
        for uid in entry.ownerUIDs { drop(&s.byOwner, uid) }
        for (k, v) in entry.labels { drop(&s.byLabel, "\(k)=\(v)") }
        for (name, values) in entry.indexed {
            for value in values { drop(&s.byIndex[name, default: [:]], value) }
        }
    }
}
