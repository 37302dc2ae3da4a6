import Foundation
import SextantJSON

/// `v1/ConfigMap`.
public struct ConfigMap: KubernetesResource, Hashable {
    public static let group = "", version = "v1", kind = "ConfigMap", plural = "configmaps"
    public static let namespaced = true
    public var apiVersion: String? = "v1"
    public var kind: String? = "ConfigMap"
    public var metadata: ObjectMeta
    public var data: [String: String]?
    public var binaryData: [String: String]?
    public var immutable: Bool?

    public init(metadata: ObjectMeta, data: [String: String]? = nil) {
        self.metadata = metadata
        self.data = data
    }
}

/// `v1/Secret`.
public struct Secret: KubernetesResource, Hashable {
    public static let group = "", version = "v1", kind = "Secret", plural = "secrets"
    public static let namespaced = true
    public var apiVersion: String? = "v1"
    public var kind: String? = "Secret"
    public var metadata: ObjectMeta
    public var type: String?
    /// Base64-encoded values, as on the wire.
    public var data: [String: String]?
    public var stringData: [String: String]?

    public init(metadata: ObjectMeta, data: [String: String]? = nil) {
        self.metadata = metadata
        self.data = data
    }
}

/// `v1/Namespace`.
public struct Namespace: KubernetesResource, Hashable {
    public static let group = "", version = "v1", kind = "Namespace", plural = "namespaces"
    public static let namespaced = false
    public var apiVersion: String? = "v1"
    public var kind: String? = "Namespace"
    public var metadata: ObjectMeta
    public var status: JSONValue?

    public init(metadata: ObjectMeta) { self.metadata = metadata }
}

/// `coordination.k8s.io/v1/Lease`, used for leader election.
public struct Lease: KubernetesResource, Hashable {
    public static let group = "coordination.k8s.io", version = "v1", kind = "Lease", plural = "leases"
    public static let namespaced = true
    public var apiVersion: String? = "coordination.k8s.io/v1"
    public var kind: String? = "Lease"
    public var metadata: ObjectMeta
    public var spec: Spec?

    public struct Spec: Codable, Sendable, Hashable {
        public var holderIdentity: String?
        public var leaseDurationSeconds: Int?
        /// RFC 3339 with microseconds (`MicroTime`).
        public var acquireTime: String?
        public var renewTime: String?
        public var leaseTransitions: Int?

        public init(holderIdentity: String? = nil, leaseDurationSeconds: Int? = nil, acquireTime: String? = nil,
                    renewTime: String? = nil, leaseTransitions: Int? = nil) {
            self.holderIdentity = holderIdentity
            self.leaseDurationSeconds = leaseDurationSeconds
            self.acquireTime = acquireTime
            self.renewTime = renewTime
            self.leaseTransitions = leaseTransitions
        }
    }

    public init(metadata: ObjectMeta, spec: Spec? = nil) {
        self.metadata = metadata
        self.spec = spec
    }
}

/// `v1/ObjectReference`, as used by Events.
public struct ObjectReference: Codable, Sendable, Hashable {
    public var apiVersion: String?
    public var kind: String?
    public var name: String?
    public var namespace: String?
    public var uid: String?
    public var resourceVersion: String?
    public var fieldPath: String?

    public init(apiVersion: String?, kind: String?, name: String?, namespace: String?, uid: String?) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.namespace = namespace
        self.uid = uid
    }
}

/// `events.k8s.io/v1/Event`.
public struct Event: KubernetesResource, Hashable {
    public static let group = "events.k8s.io", version = "v1", kind = "Event", plural = "events"
    public static let namespaced = true
    public var apiVersion: String? = "events.k8s.io/v1"
    public var kind: String? = "Event"
    public var metadata: ObjectMeta
    /// MicroTime of the first occurrence.
    public var eventTime: String?
    public var series: Series?
    public var reportingController: String?
    public var reportingInstance: String?
    public var action: String?
    public var reason: String?
    public var regarding: ObjectReference?
    public var related: ObjectReference?
    public var note: String?
    /// "Normal" or "Warning".
    public var type: String?

    public struct Series: Codable, Sendable, Hashable {
        public var count: Int
        public var lastObservedTime: String
        public init(count: Int, lastObservedTime: String) {
            self.count = count
            self.lastObservedTime = lastObservedTime
        }
    }

    public init(metadata: ObjectMeta) { self.metadata = metadata }
}

