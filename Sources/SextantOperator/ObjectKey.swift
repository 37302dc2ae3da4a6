import SextantKubeTypes

/// The identity of an object within one resource type: namespace (empty for cluster-scoped) and name.
/// It is what the work queue carries; reconcilers read the current object from the cache by key,
/// so a queued key always leads to the newest state, never to a stale copy.
public struct ObjectKey: Hashable, Sendable, CustomStringConvertible, Comparable {
    public var namespace: String
    public var name: String

    public init(namespace: String, name: String) {
        self.namespace = namespace
        self.name = name
    }

    /// The key of an object; nil when it has no name (only possible for objects not yet created).
    public init?(_ object: some KubernetesObject) {
        let meta = object.metadata
        guard let name = meta.name, !name.isEmpty else { return nil }
        self.init(namespace: meta.namespace ?? "", name: name)
    }

    /// `namespace/name`, or `name` for cluster-scoped objects (client-go's MetaNamespaceKeyFunc).
    public var description: String { namespace.isEmpty ? name : "\(namespace)/\(name)" }

    public static func < (a: ObjectKey, b: ObjectKey) -> Bool {
        (a.namespace, a.name) < (b.namespace, b.name)
    }
}

/// What a reconcile asks for next.
public enum ReconcileResult: Sendable, Equatable {
    /// Nothing to do until something changes (or the periodic resync).
    case done
    /// Look again after this long even if nothing changes (timers, polling an analysis).
    case requeue(after: Duration)
}

/// Brings the world in line with one object's spec. Implementations read from caches and write
/// through the client; they must be idempotent, since the runtime may call them again at any time.
public protocol Reconciler: Sendable {
    func reconcile(_ key: ObjectKey) async throws -> ReconcileResult
}

/// A reconciler made from a closure (tests, small controllers).
public struct ReconcilerFunction: Reconciler {
    let body: @Sendable (ObjectKey) async throws -> ReconcileResult
    public init(_ body: @escaping @Sendable (ObjectKey) async throws -> ReconcileResult) { self.body = body }
    public func reconcile(_ key: ObjectKey) async throws -> ReconcileResult { try await body(key) }
}
