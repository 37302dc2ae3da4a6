import Foundation
import SextantJSON
import SextantKube
import SextantKubeTypes

// MARK: Finalizers

/// Finalizers are edited with JSON patches whose `test` operations make the write fail (422)
/// if the list changed since it was read, instead of replacing the list and silently dropping
/// a finalizer another controller added meanwhile.
public enum Finalizers {
    /// The patch that adds `finalizer`, or nil when the object has it already.
    public static func addPatch(_ finalizer: String, to meta: ObjectMeta) -> [JSONValue]? {
        let current = meta.finalizers ?? []
        if current.contains(finalizer) { return nil }
        if meta.finalizers == nil {
            // Creating the list replaces any list written meanwhile, so pin the version we read.
            guard let rv = meta.resourceVersion else {
                return [["op": "add", "path": "/metadata/finalizers", "value": [.string(finalizer)]]]
            }
            return [["op": "test", "path": "/metadata/resourceVersion", "value": .string(rv)],
                    ["op": "add", "path": "/metadata/finalizers", "value": [.string(finalizer)]]]
        }
        // Appending never drops an entry; the test still catches a list rewritten meanwhile.
        return [["op": "test", "path": "/metadata/finalizers", "value": .array(current.map(JSONValue.string))],
                ["op": "add", "path": "/metadata/finalizers/-", "value": .string(finalizer)]]
    }

    /// The patch that removes `finalizer`, or nil when the object does not have it.
    public static func removePatch(_ finalizer: String, from meta: ObjectMeta) -> [JSONValue]? {
        guard let index = meta.finalizers?.firstIndex(of: finalizer) else { return nil }
        let path = JSONValue.string("/metadata/finalizers/\(index)")
        return [["op": "test", "path": path, "value": .string(finalizer)],
                ["op": "remove", "path": path]]
    }
}

extension KubeClient {
    /// Adds a finalizer unless present; returns the object as stored.
    public func addFinalizer<T: KubernetesResource>(_ finalizer: String, to object: T) async throws -> T {
        guard let ops = Finalizers.addPatch(finalizer, to: object.metadata) else { return object }
        return try await patchGuarded(object, ops)
    }

    /// Removes a finalizer if present; returns the object as stored.
    public func removeFinalizer<T: KubernetesResource>(_ finalizer: String, from object: T) async throws -> T {
        guard let ops = Finalizers.removePatch(finalizer, from: object.metadata) else { return object }
        return try await patchGuarded(object, ops)
    }

    private func patchGuarded<T: KubernetesResource>(_ object: T, _ ops: [JSONValue]) async throws -> T {
        guard let name = object.metadata.name else { throw KubeConfigError("\(T.kind) has no metadata.name") }
        do {
            return try await patch(T.self, name: name, namespace: object.metadata.namespace, .json(ops))
        } catch let error as KubeError where error.reason == .invalid && (error.status.message ?? "").contains("test") {
            // A failed `test` means the object changed under us: report it as the conflict it is.
            var status = error.status
            status.reason = "Conflict"
            status.code = 409
            throw KubeError(code: 409, status: status, verb: error.verb, path: error.path)
        }
    }
}

// MARK: Conditions

/// `metav1.Condition` list semantics, as `meta.SetStatusCondition` in apimachinery.
public enum Conditions {
    /// Sets a condition of `type`. `lastTransitionTime` moves only when `status` changes; reason,
    /// message and observedGeneration are updated in place. Returns true if anything changed.
    @discardableResult
    public static func set(_ conditions: inout [Condition], type: String, status: ConditionStatus, reason: String,
                           message: String, observedGeneration: Int64?, now: Date = Date()) -> Bool {
        if let index = conditions.firstIndex(where: { $0.type == type }) {
            var c = conditions[index]
            if c.status != status.rawValue {
                c.status = status.rawValue
                c.lastTransitionTime = KubeTime.format(now)
            }
            c.reason = reason
            c.message = message
            c.observedGeneration = observedGeneration
            guard c != conditions[index] else { return false }
            conditions[index] = c
            return true
        }
        conditions.append(Condition(type: type, status: status.rawValue, observedGeneration: observedGeneration,
                                    lastTransitionTime: KubeTime.format(now), reason: reason, message: message))
        return true
    }

    public static func find(_ conditions: [Condition]?, type: String) -> Condition? {
        conditions?.first { $0.type == type }
    }

    public static func isTrue(_ conditions: [Condition]?, type: String) -> Bool {
        find(conditions, type: type)?.status == ConditionStatus.true.rawValue
    }

    @discardableResult
    public static func remove(_ conditions: inout [Condition], type: String) -> Bool {
        let before = conditions.count
        conditions.removeAll { $0.type == type }
        return conditions.count != before
    }
}

public enum ConditionStatus: String, Sendable {
    case `true` = "True", `false` = "False", unknown = "Unknown"
}

// MARK: Status writes

extension KubeClient {
    /// Writes `modified`'s status through the status subresource unless it equals `original`'s;
    /// returns the stored object (or `original` when nothing was sent). The resourceVersion of
    /// `modified` makes a stale write fail with 409, which the controller treats as a requeue.
    public func updateStatusIfChanged<T: KubernetesResource>(original: T, modified: T) async throws -> T {
        if try Self.statusOf(original) == Self.statusOf(modified) { return original }
        return try await updateStatus(modified)
    }

    static func statusOf<T: Encodable>(_ object: T) throws -> JSONValue? {
        try JSONValue(encoding: object)["status"]
    }
}

// MARK: Owner references

extension OwnerReference {
    /// A controller reference to `owner`, for children created by its reconciler (garbage
    /// collected with it; `blockOwnerDeletion` keeps foreground deletion ordered).
    public init<T: KubernetesResource>(controlledBy owner: T) throws {
        guard let name = owner.metadata.name, !name.isEmpty else {
            throw KubeConfigError("cannot reference \(T.kind) as owner: it has no metadata.name")
        }
        guard let uid = owner.metadata.uid, !uid.isEmpty else {
            throw KubeConfigError("cannot reference \(T.kind) \(name) as owner: it has no metadata.uid (not created yet?)")
        }
        self.init(apiVersion: T.apiVersion, kind: T.kind, name: name, uid: uid, controller: true,
                  blockOwnerDeletion: true)
    }
}

extension ObjectMeta {
    /// Adds or replaces the controller reference; fails if another controller already controls
    /// the object (two controllers must never fight over one child).
    public mutating func setControllerReference(_ ref: OwnerReference) throws {
        var refs = ownerReferences ?? []
        if let other = refs.first(where: { $0.controller == true && $0.uid != ref.uid }) {
            throw KubeConfigError("\(name ?? "object") is already controlled by \(other.kind) \(other.name)")
        }
        refs.removeAll { $0.uid == ref.uid }
        refs.append(ref)
        ownerReferences = refs
    }
}
