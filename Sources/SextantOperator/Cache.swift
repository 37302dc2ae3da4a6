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
/// Indexes: namespace, owner UID (from ownerReferences) and label `key=value`.
public final class Cache<Object: KubernetesObject>: Sendable {
    struct Entry {
        var object: Object
        var resourceVersion: String?
        var uid: String?
        var ownerUIDs: [String]
        var labels: [String: String]
    }

    struct State {
        var entries: [ObjectKey: Entry] = [:]
        var byNamespace: [String: Set<ObjectKey>] = [:]
        var byOwner: [String: Set<ObjectKey>] = [:]
        var byLabel: [String: Set<ObjectKey>] = [:]
        var synced = false
    }

    private let state = Mutex(State())

    public init() {}

    // MARK: Reads

    /// True once the first complete list has been stored.
    public var hasSynced: Bool { state.withLock { $0.synced } }

    public var count: Int { state.withLock { $0.entries.count } }

    public func get(_ key: ObjectKey) -> Object? { state.withLock { $0.entries[key]?.object } }

    public func get(namespace: String, name: String) -> Object? { get(ObjectKey(namespace: namespace, name: name)) }

    public var keys: [ObjectKey] { state.withLock { Array($0.entries.keys) } }

    /// Every object, or those of one namespace.
    public func list(namespace: String? = nil) -> [Object] {
        state.withLock { s in
            guard let namespace else { return s.entries.values.map(\.object) }
            return (s.byNamespace[namespace] ?? []).compactMap { s.entries[$0]?.object }
        }
    }

    /// Objects whose ownerReferences name this owner UID (children of a controller's object).
    public func owned(by ownerUID: String) -> [Object] {
        state.withLock { s in (s.byOwner[ownerUID] ?? []).compactMap { s.entries[$0]?.object } }
    }

    /// Objects matching every `key=value` pair (an equality-based label selector).
    public func list(labels selector: [String: String], namespace: String? = nil) -> [Object] {
        state.withLock { s in
            var candidates: Set<ObjectKey>?
            for (key, value) in selector {
                let hits = s.byLabel["\(key)=\(value)"] ?? []
                candidates = candidates.map { $0.intersection(hits) } ?? hits
                if candidates?.isEmpty == true { return [] }
            }
            let keys = candidates ?? Set(s.entries.keys)
            return keys.compactMap { key in
                guard namespace == nil || key.namespace == namespace else { return nil }
                return s.entries[key]?.object
            }
        }
    }

    // MARK: Writes (by the reflector)

    /// Stores an added or modified object. Returns nil when the cache already had this exact
    /// resourceVersion (a replayed event after a re-watch), so handlers never see duplicates.
    func upsert(_ object: Object) -> CacheEvent<Object>? {
        guard let key = ObjectKey(object) else { return nil }
        let entry = Self.entry(object)
        return state.withLock { s in
            let old = s.entries[key]
            if let old, old.resourceVersion != nil, old.resourceVersion == entry.resourceVersion { return nil }
            if let old { Self.unindex(key, old, &s) }
            s.entries[key] = entry
            Self.index(key, entry, &s)
            return old.map { .updated(old: $0.object, new: object) } ?? .added(object)
        }
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
        var fresh: [ObjectKey: Entry] = [:]
        fresh.reserveCapacity(objects.count)
        for object in objects {
            guard let key = ObjectKey(object) else { continue }
            fresh[key] = Self.entry(object)
        }
        return state.withLock { s in
            var events: [CacheEvent<Object>] = []
            for (key, old) in s.entries where fresh[key] == nil {
                events.append(.deleted(old.object))
            }
            for (key, entry) in fresh {
                if let old = s.entries[key] {
                    if old.resourceVersion == nil || old.resourceVersion != entry.resourceVersion {
                        events.append(.updated(old: old.object, new: entry.object))
                    }
                } else {
                    events.append(.added(entry.object))
                }
            }
            var rebuilt = State()
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
        return Entry(object: object, resourceVersion: meta.resourceVersion, uid: meta.uid,
                     ownerUIDs: (meta.ownerReferences ?? []).map(\.uid), labels: meta.labels ?? [:])
    }

    private static func index(_ key: ObjectKey, _ entry: Entry, _ s: inout State) {
        s.byNamespace[key.namespace, default: []].insert(key)
        for uid in entry.ownerUIDs { s.byOwner[uid, default: []].insert(key) }
        for (k, v) in entry.labels { s.byLabel["\(k)=\(v)", default: []].insert(key) }
    }

    private static func unindex(_ key: ObjectKey, _ entry: Entry, _ s: inout State) {
        func drop(_ index: inout [String: Set<ObjectKey>], _ name: String) {
            index[name]?.remove(key)
            if index[name]?.isEmpty == true { index[name] = nil }
        }
        drop(&s.byNamespace, key.namespace)
        for uid in entry.ownerUIDs { drop(&s.byOwner, uid) }
        for (k, v) in entry.labels { drop(&s.byLabel, "\(k)=\(v)") }
    }
}
