import Foundation
import SextantJSON

/// `metav1.ObjectMeta`: the fields Sextant reads and writes. Unknown fields of objects owned by
/// others are never rewritten through these types: Sextant patches such objects instead.
/// `managedFields` is left out on purpose: decoding it costs more than the rest of a typical
/// object, and an update that omits it leaves the server's copy unchanged.
public struct ObjectMeta: Codable, Sendable, Hashable {
    public var name: String?
    public var generateName: String?
    public var namespace: String?
    public var uid: String?
    public var resourceVersion: String?
    public var generation: Int64?
    public var creationTimestamp: String?
    public var deletionTimestamp: String?
    public var deletionGracePeriodSeconds: Int64?
    public var labels: [String: String]?
    public var annotations: [String: String]?
    public var ownerReferences: [OwnerReference]?
    public var finalizers: [String]?

    public init(
        name: String? = nil, namespace: String? = nil, labels: [String: String]? = nil,
        annotations: [String: String]? = nil, ownerReferences: [OwnerReference]? = nil,
        finalizers: [String]? = nil
    ) {
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.annotations = annotations
        self.ownerReferences = ownerReferences
        self.finalizers = finalizers
    }
}

/// `metav1.OwnerReference`.
public struct OwnerReference: Codable, Sendable, Hashable {
    public var apiVersion: String
    public var kind: String
    public var name: String
    public var uid: String
    public var controller: Bool?
    public var blockOwnerDeletion: Bool?

    public init(apiVersion: String, kind: String, name: String, uid: String, controller: Bool? = true,
                blockOwnerDeletion: Bool? = true) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.uid = uid
        self.controller = controller
        self.blockOwnerDeletion = blockOwnerDeletion
    }
}

/// `metav1.ListMeta`.
public struct ListMeta: Codable, Sendable, Hashable {
    public var resourceVersion: String?
    public var `continue`: String?
    public var remainingItemCount: Int64?
    public init(resourceVersion: String? = nil, continue: String? = nil) {
        self.resourceVersion = resourceVersion
        self.continue = `continue`
    }
}

/// `metav1.Condition`: `lastTransitionTime` moves only when `status` changes.
public struct Condition: Codable, Sendable, Hashable {
    public var type: String
    /// "True", "False" or "Unknown".
    public var status: String
    public var observedGeneration: Int64?
    public var lastTransitionTime: String
    public var reason: String
    public var message: String

    public init(type: String, status: String, observedGeneration: Int64? = nil, lastTransitionTime: String,
                reason: String, message: String) {
        self.type = type
        self.status = status
        self.observedGeneration = observedGeneration
        self.lastTransitionTime = lastTransitionTime
        self.reason = reason
        self.message = message
    }
}

/// `metav1.Status`: the body of every API error.
public struct Status: Codable, Sendable, Hashable, Error {
    public var kind: String? = "Status"
    public var apiVersion: String? = "v1"
    public var status: String?
    public var message: String?
    public var reason: String?
    public var details: StatusDetails?
    public var code: Int?

    public init(status: String? = "Failure", message: String?, reason: String?, code: Int?,
                details: StatusDetails? = nil) {
        self.status = status
        self.message = message
        self.reason = reason
        self.code = code
        self.details = details
    }
}

public struct StatusDetails: Codable, Sendable, Hashable {
    public var name: String?
    public var group: String?
    public var kind: String?
    public var uid: String?
    public var causes: [StatusCause]?
    public var retryAfterSeconds: Int?

    public init(name: String? = nil, group: String? = nil, kind: String? = nil, causes: [StatusCause]? = nil,
                retryAfterSeconds: Int? = nil) {
        self.name = name
        self.group = group
        self.kind = kind
        self.causes = causes
        self.retryAfterSeconds = retryAfterSeconds
    }
}

public struct StatusCause: Codable, Sendable, Hashable {
    public var reason: String?
    public var message: String?
    public var field: String?
    public init(reason: String?, message: String?, field: String?) {
        self.reason = reason
        self.message = message
        self.field = field
    }
}

/// Anything with Kubernetes object metadata.
public protocol KubernetesObject: Codable, Sendable {
    var apiVersion: String? { get set }
    var kind: String? { get set }
    var metadata: ObjectMeta { get set }
}

/// A typed resource whose group, version and plural name are known at compile time.
public protocol KubernetesResource: KubernetesObject {
    static var group: String { get }
    static var version: String { get }
    static var kind: String { get }
    static var plural: String { get }
    static var namespaced: Bool { get }
}

extension KubernetesResource {
    public static var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
}

/// A `List` of typed objects (`ConfigMapList`, ...).
public struct ObjectList<Item: Codable & Sendable>: Codable, Sendable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ListMeta
    public var items: [Item]

    public init(apiVersion: String? = nil, kind: String? = nil, metadata: ListMeta = ListMeta(), items: [Item]) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.metadata = metadata
        self.items = items
    }

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, items }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try c.decodeIfPresent(String.self, forKey: .apiVersion)
        kind = try c.decodeIfPresent(String.self, forKey: .kind)
        metadata = try c.decodeIfPresent(ListMeta.self, forKey: .metadata) ?? ListMeta()
        // The API server sends `"items": null` for an empty list.
        items = try c.decodeIfPresent([Item].self, forKey: .items) ?? []
    }
}

/// One event of a watch stream.
public struct WatchEvent<Object: Codable & Sendable>: Codable, Sendable {
    public enum EventType: String, Codable, Sendable {
        case added = "ADDED", modified = "MODIFIED", deleted = "DELETED", bookmark = "BOOKMARK", error = "ERROR"
    }
    public var type: EventType
    public var object: Object

    public init(type: EventType, object: Object) {
        self.type = type
        self.object = object
    }
}

/// A dynamic object of any kind: the JSON document plus convenient access to its metadata.
public struct DynamicObject: KubernetesObject, Hashable {
    public var raw: JSONValue

    public init(_ raw: JSONValue) { self.raw = raw }

    public var apiVersion: String? {
        get { raw["apiVersion"]?.stringValue }
        set { raw["apiVersion"] = newValue.map(JSONValue.string) }
    }

    public var kind: String? {
        get { raw["kind"]?.stringValue }
        set { raw["kind"] = newValue.map(JSONValue.string) }
    }

    public var metadata: ObjectMeta {
        get { (try? raw["metadata"]?.decode(as: ObjectMeta.self)) ?? ObjectMeta() }
        set {
            // Keep metadata fields these types do not model.
            var merged = raw["metadata"]?.objectValue ?? [:]
            if case .object(let typed)? = try? JSONValue(encoding: newValue) {
                for key in ["name", "generateName", "namespace", "uid", "resourceVersion", "generation",
                            "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
                            "annotations", "ownerReferences", "finalizers"] {
                    merged[key] = typed[key]
                }
            }
            raw["metadata"] = .object(merged)
        }
    }

    public var name: String? { raw[path: ["metadata", "name"]]?.stringValue }
    public var namespace: String? { raw[path: ["metadata", "namespace"]]?.stringValue }
    public var resourceVersion: String? { raw[path: ["metadata", "resourceVersion"]]?.stringValue }
    public var uid: String? { raw[path: ["metadata", "uid"]]?.stringValue }

    // Through the container, so the project's decoders hand their parsed tree over as it is
    // (`JSONValue.init(from:)` would try each JSON type in turn, a thrown error per miss).
    public init(from decoder: any Decoder) throws { raw = try decoder.singleValueContainer().decode(JSONValue.self) }
    public func encode(to encoder: any Encoder) throws { try raw.encode(to: encoder) }
}

/// Every watch event carries an `ObjectMeta`: the bytes decoder reads it member by member instead
/// of through 13 keyed-container lookups; anything unusual goes through the keyed container.
extension ObjectMeta {
    public init(from decoder: any Decoder) throws {
        if let reader = JSONObjectReader(decoder) {
            do {
                try self.init(reading: reader)
                return
            } catch is JSONObjectReader.Unusual {
                // Decoded again below, for Codable's exact values and errors.
            }
        }
        // In declaration order, as the synthesized init would: the first bad field is reported.
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        name = try c.decodeIfPresent(String.self, forKey: .name)
        generateName = try c.decodeIfPresent(String.self, forKey: .generateName)
        namespace = try c.decodeIfPresent(String.self, forKey: .namespace)
        uid = try c.decodeIfPresent(String.self, forKey: .uid)
        resourceVersion = try c.decodeIfPresent(String.self, forKey: .resourceVersion)
        generation = try c.decodeIfPresent(Int64.self, forKey: .generation)
        creationTimestamp = try c.decodeIfPresent(String.self, forKey: .creationTimestamp)
        deletionTimestamp = try c.decodeIfPresent(String.self, forKey: .deletionTimestamp)
        deletionGracePeriodSeconds = try c.decodeIfPresent(Int64.self, forKey: .deletionGracePeriodSeconds)
        labels = try c.decodeIfPresent([String: String].self, forKey: .labels)
        annotations = try c.decodeIfPresent([String: String].self, forKey: .annotations)
        ownerReferences = try c.decodeIfPresent([OwnerReference].self, forKey: .ownerReferences)
        finalizers = try c.decodeIfPresent([String].self, forKey: .finalizers)
    }

    init(reading object: JSONObjectReader) throws {
        self.init()
        try object.forEachMember { member in
            if member.isKey("name") { name = try member.string() }
            else if member.isKey("namespace") { namespace = try member.string() }
            else if member.isKey("uid") { uid = try member.string() }
            else if member.isKey("resourceVersion") { resourceVersion = try member.string() }
            else if member.isKey("creationTimestamp") { creationTimestamp = try member.string() }
            else if member.isKey("labels") { labels = try member.decode([String: String].self) }
            else if member.isKey("annotations") { annotations = try member.decode([String: String].self) }
            else if member.isKey("generation") { generation = try member.int64() }
            else if member.isKey("generateName") { generateName = try member.string() }
            else if member.isKey("deletionTimestamp") { deletionTimestamp = try member.string() }
            else if member.isKey("deletionGracePeriodSeconds") { deletionGracePeriodSeconds = try member.int64() }
            else if member.isKey("ownerReferences") { ownerReferences = try member.decode([OwnerReference].self) }
            else if member.isKey("finalizers") { finalizers = try member.decode([String].self) }
        }
    }
}
