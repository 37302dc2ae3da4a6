import SextantJSON

/// One additional printer column of a resource (`kubectl get` output).
public struct PrinterColumn: Sendable, Hashable {
    public var name: String
    public var type: String
    public var format: String
    public var description: String
    public var priority: Int
    public var jsonPath: String

    public init(name: String, type: String, jsonPath: String, format: String = "", description: String = "",
                priority: Int = 0) {
        self.name = name
        self.type = type
        self.jsonPath = jsonPath
        self.format = format
        self.description = description
        self.priority = priority
    }
}

/// A resource the server serves at one group/version: the equivalent of an `APIResource` plus
/// what the server needs to store and validate it.
public struct ResourceType: Sendable, Hashable {
    public var group: String
    public var version: String
    public var kind: String
    public var plural: String
    public var singular: String
    public var namespaced: Bool
    public var shortNames: [String]
    public var categories: [String]
    /// Whether `/status` is a subresource (then the main resource ignores status changes).
    public var hasStatus: Bool
    public var printerColumns: [PrinterColumn]
    /// The `openAPIV3Schema` of a custom resource version; nil for built-in kinds.
    public var schema: JSONValue?
    /// True for custom resources (unconditional update is refused, as the real server does).
    public var isCustom: Bool
    /// The version objects are stored in; all versions of a resource share one storage.
    public var storageVersion: String
    /// The group whose storage holds the objects: `events.k8s.io` Events live with core Events.
    public var storageGroup: String
    /// Field labels of a custom resource version's `selectableFields` (`spec.color` for the
    /// jsonPath `.spec.color`), selectable besides `metadata.name` and `metadata.namespace`.
    public var selectableFields: [String] = []

    public init(group: String, version: String, kind: String, plural: String, singular: String? = nil,
                namespaced: Bool, shortNames: [String] = [], categories: [String] = [], hasStatus: Bool = false,
                printerColumns: [PrinterColumn] = [], schema: JSONValue? = nil, isCustom: Bool = false,
                storageVersion: String? = nil, storageGroup: String? = nil) {
        self.group = group
        self.version = version
        self.kind = kind
        self.plural = plural
        self.singular = singular ?? kind.lowercased()
        self.namespaced = namespaced
        self.shortNames = shortNames
        self.categories = categories
        self.hasStatus = hasStatus
        self.printerColumns = printerColumns
        self.schema = schema
        self.isCustom = isCustom
        self.storageVersion = storageVersion ?? version
        self.storageGroup = storageGroup ?? group
    }

    public var groupVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    /// The storage key shared by every version of this resource.
    public var storageKey: String { "\(storageGroup)/\(plural)" }
    /// `configmaps` or `virtualservices.networking.istio.io`, as error messages name resources.
    public var qualifiedName: String { group.isEmpty ? plural : "\(plural).\(group)" }

    static let allVerbs: [JSONValue] = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

    /// Whether `metadata.generation` is kept: custom resources and the kinds whose registry
    /// strategy sets it (those with a desired state the controllers observe); ConfigMaps,
    /// Secrets, Services, RBAC objects... never get one.
    public var tracksGeneration: Bool {
        isCustom || BuiltinResources.generationKinds.contains("\(group)/\(kind)")
    }

    /// Whether DELETE answers the deleted object instead of a `Status`: the kinds whose
    /// kube-apiserver storage sets `ReturnDeletedObject` (Pod, Service, ServiceAccount), and those
    /// whose deletion is graceful there because of a finalizer (Namespace, CRD).
    public var returnsDeletedObject: Bool {
        BuiltinResources.deletedObjectKinds.contains("\(group)/\(kind)") && !isCustom
    }

    /// `storageVersionHash` of discovery: base64 of the first 8 bytes of the SHA-256 of
    /// "group/version/kind" of the storage version, as kube-apiserver computes it.
    public var storageVersionHash: String {
        let digest = SHA256Digest.of(Array("\(group)/\(storageVersion)/\(kind)".utf8))
        return Base64.encode(Array(digest.prefix(8)))
    }
}

/// The built-in kinds the development server serves (those Sextant and kubectl use).
enum BuiltinResources {
    static let age = PrinterColumn(name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp")

    static let all: [ResourceType] = [
        ResourceType(group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false,
                     shortNames: ["ns"], hasStatus: true,
                     printerColumns: [PrinterColumn(name: "Status", type: "string", jsonPath: ".status.phase"), age]),
        ResourceType(group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", namespaced: true,
                     shortNames: ["cm"], printerColumns: [age]),
        ResourceType(group: "", version: "v1", kind: "Secret", plural: "secrets", namespaced: true,
                     printerColumns: [PrinterColumn(name: "Type", type: "string", jsonPath: ".type"), age]),
        ResourceType(group: "", version: "v1", kind: "Service", plural: "services", namespaced: true,
                     shortNames: ["svc"], categories: ["all"], hasStatus: true,
                     printerColumns: [PrinterColumn(name: "Type", type: "string", jsonPath: ".spec.type"),
                                      PrinterColumn(name: "Cluster-IP", type: "string", jsonPath: ".spec.clusterIP"), age]),
        ResourceType(group: "", version: "v1", kind: "ServiceAccount", plural: "serviceaccounts", namespaced: true,
                     shortNames: ["sa"], printerColumns: [age]),
        ResourceType(group: "", version: "v1", kind: "Pod", plural: "pods", namespaced: true, shortNames: ["po"],
                     categories: ["all"], hasStatus: true,
                     printerColumns: [PrinterColumn(name: "Status", type: "string", jsonPath: ".status.phase"),
                                      PrinterColumn(name: "Node", type: "string", jsonPath: ".spec.nodeName", priority: 1), age]),
        ResourceType(group: "", version: "v1", kind: "Event", plural: "events", namespaced: true, shortNames: ["ev"],
                     printerColumns: [PrinterColumn(name: "Type", type: "string", jsonPath: ".type"),
                                      PrinterColumn(name: "Reason", type: "string", jsonPath: ".reason"),
                                      PrinterColumn(name: "Object", type: "string", jsonPath: ".involvedObject.name"),
                                      PrinterColumn(name: "Message", type: "string", jsonPath: ".message")]),
        // One storage with core Events (EventConversion.swift).
        ResourceType(group: "events.k8s.io", version: "v1", kind: "Event", plural: "events", namespaced: true,
                     shortNames: ["ev"],
                     printerColumns: [PrinterColumn(name: "Type", type: "string", jsonPath: ".type"),
                                      PrinterColumn(name: "Reason", type: "string", jsonPath: ".reason"),
                                      PrinterColumn(name: "Object", type: "string", jsonPath: ".regarding.name"),
                                      PrinterColumn(name: "Note", type: "string", jsonPath: ".note")],
                     storageGroup: ""),
        ResourceType(group: "apps", version: "v1", kind: "Deployment", plural: "deployments", namespaced: true,
                     shortNames: ["deploy"], categories: ["all"], hasStatus: true,
                     printerColumns: [PrinterColumn(name: "Ready", type: "integer", jsonPath: ".status.readyReplicas"),
                                      PrinterColumn(name: "Up-to-date", type: "integer", jsonPath: ".status.updatedReplicas"),
                                      PrinterColumn(name: "Available", type: "integer", jsonPath: ".status.availableReplicas"), age]),
        ResourceType(group: "batch", version: "v1", kind: "Job", plural: "jobs", namespaced: true,
                     categories: ["all"], hasStatus: true,
                     printerColumns: [PrinterColumn(name: "Succeeded", type: "integer", jsonPath: ".status.succeeded"),
                                      PrinterColumn(name: "Failed", type: "integer", jsonPath: ".status.failed"), age]),
        ResourceType(group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases", namespaced: true,
                     printerColumns: [PrinterColumn(name: "Holder", type: "string", jsonPath: ".spec.holderIdentity"), age]),
        ResourceType(group: "apiextensions.k8s.io", version: "v1", kind: "CustomResourceDefinition",
                     plural: "customresourcedefinitions", namespaced: false, shortNames: ["crd", "crds"],
                     categories: ["api-extensions"], hasStatus: true,
                     printerColumns: [PrinterColumn(name: "Created At", type: "string", jsonPath: ".metadata.creationTimestamp",
                                                   format: "date-time")]),
    ]

    /// Kinds that need no `status` subresource, no generation and no defaulting to be served as
    /// stored objects (no controller acts on them).
    static let stored: [ResourceType] = [
        ResourceType(group: "", version: "v1", kind: "ReplicationController", plural: "replicationcontrollers",
                     namespaced: true, shortNames: ["rc"], categories: ["all"], hasStatus: true,
                     printerColumns: [PrinterColumn(name: "Desired", type: "integer", jsonPath: ".spec.replicas"),
                                      PrinterColumn(name: "Ready", type: "integer", jsonPath: ".status.readyReplicas"), age]),
        ResourceType(group: "", version: "v1", kind: "Node", plural: "nodes", namespaced: false, shortNames: ["no"],
                     hasStatus: true, printerColumns: [age]),
        ResourceType(group: "", version: "v1", kind: "Endpoints", plural: "endpoints", namespaced: true, shortNames: ["ep"],
                     printerColumns: [age]),
        ResourceType(group: "", version: "v1", kind: "PersistentVolumeClaim", plural: "persistentvolumeclaims",
                     namespaced: true, shortNames: ["pvc"], hasStatus: true,
                     printerColumns: [PrinterColumn(name: "Status", type: "string", jsonPath: ".status.phase"), age]),
        ResourceType(group: "apps", version: "v1", kind: "ReplicaSet", plural: "replicasets", namespaced: true,
                     shortNames: ["rs"], categories: ["all"], hasStatus: true,
                     printerColumns: [PrinterColumn(name: "Desired", type: "integer", jsonPath: ".spec.replicas"),
                                      PrinterColumn(name: "Current", type: "integer", jsonPath: ".status.replicas"),
                                      PrinterColumn(name: "Ready", type: "integer", jsonPath: ".status.readyReplicas"), age]),
        ResourceType(group: "apps", version: "v1", kind: "DaemonSet", plural: "daemonsets", namespaced: true,
                     shortNames: ["ds"], categories: ["all"], hasStatus: true,
                     printerColumns: [PrinterColumn(name: "Desired", type: "integer", jsonPath: ".status.desiredNumberScheduled"),
                                      PrinterColumn(name: "Ready", type: "integer", jsonPath: ".status.numberReady"), age]),
        ResourceType(group: "apps", version: "v1", kind: "StatefulSet", plural: "statefulsets", namespaced: true,
                     shortNames: ["sts"], categories: ["all"], hasStatus: true,
                     printerColumns: [PrinterColumn(name: "Ready", type: "integer", jsonPath: ".status.readyReplicas"), age]),
        ResourceType(group: "batch", version: "v1", kind: "CronJob", plural: "cronjobs", namespaced: true,
                     shortNames: ["cj"], categories: ["all"], hasStatus: true,
                     printerColumns: [PrinterColumn(name: "Schedule", type: "string", jsonPath: ".spec.schedule"), age]),
        ResourceType(group: "policy", version: "v1", kind: "PodDisruptionBudget", plural: "poddisruptionbudgets",
                     namespaced: true, shortNames: ["pdb"], hasStatus: true,
                     printerColumns: [PrinterColumn(name: "Min Available", type: "string", jsonPath: ".spec.minAvailable"),
                                      PrinterColumn(name: "Max Unavailable", type: "string", jsonPath: ".spec.maxUnavailable"), age]),
        ResourceType(group: "networking.k8s.io", version: "v1", kind: "Ingress", plural: "ingresses", namespaced: true,
                     shortNames: ["ing"], hasStatus: true, printerColumns: [age]),
        ResourceType(group: "networking.k8s.io", version: "v1", kind: "NetworkPolicy", plural: "networkpolicies",
                     namespaced: true, shortNames: ["netpol"], printerColumns: [age]),
        // Removed in Kubernetes 1.22; still accepted (converted to v1 on write) because the official
        // Python client's own dynamic-client tests create their CRDs through it.
        ResourceType(group: "apiextensions.k8s.io", version: "v1beta1", kind: "CustomResourceDefinition",
                     plural: "customresourcedefinitions", namespaced: false, shortNames: ["crd", "crds"],
                     categories: ["api-extensions"], hasStatus: true,
                     printerColumns: [PrinterColumn(name: "Created At", type: "string", jsonPath: ".metadata.creationTimestamp",
                                                   format: "date-time")], storageVersion: "v1"),
        ResourceType(group: "rbac.authorization.k8s.io", version: "v1", kind: "Role", plural: "roles", namespaced: true,
                     printerColumns: [PrinterColumn(name: "Created At", type: "string", jsonPath: ".metadata.creationTimestamp")]),
        ResourceType(group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRole", plural: "clusterroles",
                     namespaced: false,
                     printerColumns: [PrinterColumn(name: "Created At", type: "string", jsonPath: ".metadata.creationTimestamp")]),
        ResourceType(group: "rbac.authorization.k8s.io", version: "v1", kind: "RoleBinding", plural: "rolebindings",
                     namespaced: true,
                     printerColumns: [PrinterColumn(name: "Role", type: "string", jsonPath: ".roleRef.name"), age]),
        ResourceType(group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRoleBinding",
                     plural: "clusterrolebindings", namespaced: false,
                     printerColumns: [PrinterColumn(name: "Role", type: "string", jsonPath: ".roleRef.name"), age]),
        // Stored only: nothing is aggregated (the official Python client's e2e suite creates one).
        ResourceType(group: "apiregistration.k8s.io", version: "v1", kind: "APIService", plural: "apiservices",
                     namespaced: false, categories: ["api-extensions"], hasStatus: true,
                     printerColumns: [PrinterColumn(name: "Service", type: "string", jsonPath: ".spec.service.name"), age]),
    ]

    /// Every built-in kind served.
    static let served: [ResourceType] = all + stored

    /// "group/Kind" of the built-in kinds whose strategy sets `metadata.generation`.
    static let generationKinds: Set<String> = [
        "apps/Deployment", "apps/ReplicaSet", "apps/DaemonSet", "apps/StatefulSet", "batch/Job", "batch/CronJob",
        "/ReplicationController", "policy/PodDisruptionBudget", "networking.k8s.io/Ingress",
        "networking.k8s.io/NetworkPolicy", "apiextensions.k8s.io/CustomResourceDefinition",
    ]

    /// "group/Kind" of the built-in kinds whose DELETE answers the object.
    static let deletedObjectKinds: Set<String> = [
        "/Pod", "/Service", "/ServiceAccount", "/Namespace", "apiextensions.k8s.io/CustomResourceDefinition",
    ]

    static let crdStorageKey = "apiextensions.k8s.io/customresourcedefinitions"
    static let namespaceStorageKey = "/namespaces"
    static let serviceAccountStorageKey = "/serviceaccounts"
    static let serviceStorageKey = "/services"
    static let secretStorageKey = "/secrets"
}

/// Errors in a CRD that make it unservable.
struct CRDError: Error {
    var causes: [(field: String, message: String)]
}

extension ResourceType {
    /// The resource types a CustomResourceDefinition serves (one per served version).
    static func from(crd: JSONValue) throws(CRDError) -> [ResourceType] {
        var causes: [(String, String)] = []
        let spec = crd["spec"] ?? .null
        let group = spec["group"]?.stringValue ?? ""
        let names = spec["names"] ?? .null
        let plural = names["plural"]?.stringValue ?? ""
        let kind = names["kind"]?.stringValue ?? ""
        let scope = spec["scope"]?.stringValue ?? ""
        if group.isEmpty { causes.append(("spec.group", "Required value")) }
        if plural.isEmpty { causes.append(("spec.names.plural", "Required value")) }
        if kind.isEmpty { causes.append(("spec.names.kind", "Required value")) }
        if scope != "Namespaced" && scope != "Cluster" {
            causes.append(("spec.scope", "Unsupported value: \"\(scope)\": supported values: \"Cluster\", \"Namespaced\""))
        }
        let name = crd[path: ["metadata", "name"]]?.stringValue ?? ""
        if !plural.isEmpty, !group.isEmpty, name != "\(plural).\(group)" {
            causes.append(("metadata.name", "Invalid value: \"\(name)\": must be spec.names.plural+\".\"+spec.group"))
        }
        let versions = spec["versions"]?.arrayValue ?? []
        if versions.isEmpty { causes.append(("spec.versions", "Required value: must have at least one version")) }
        let storage = versions.filter { $0["storage"]?.boolValue == true }
        if !versions.isEmpty && storage.count != 1 {
            causes.append(("spec.versions", "Invalid value: must have exactly one version marked as storage version"))
        }
        guard causes.isEmpty else { throw CRDError(causes: causes) }
        let storageVersion = storage.first?["name"]?.stringValue ?? ""
        return versions.compactMap { version -> ResourceType? in
            guard version["served"]?.boolValue != false, let versionName = version["name"]?.stringValue else { return nil }
            let columns = (version["additionalPrinterColumns"]?.arrayValue ?? []).compactMap { column -> PrinterColumn? in
                guard let name = column["name"]?.stringValue, let path = column["jsonPath"]?.stringValue else { return nil }
                return PrinterColumn(name: name, type: column["type"]?.stringValue ?? "string", jsonPath: path,
                                     format: column["format"]?.stringValue ?? "",
                                     description: column["description"]?.stringValue ?? "",
                                     priority: Int(column["priority"]?.intValue ?? 0))
            }
            var type = ResourceType(
                group: group, version: versionName, kind: kind, plural: plural,
                singular: names["singular"]?.stringValue ?? kind.lowercased(), namespaced: scope == "Namespaced",
                shortNames: names["shortNames"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                categories: names["categories"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                hasStatus: version[path: ["subresources", "status"]] != nil,
                printerColumns: columns.isEmpty ? [BuiltinResources.age] : columns,
                schema: version[path: ["schema", "openAPIV3Schema"]], isCustom: true, storageVersion: storageVersion)
            type.selectableFields = (version["selectableFields"]?.arrayValue ?? []).compactMap { field in
                field["jsonPath"]?.stringValue.map { path in String(path.drop(while: { $0 == "." })) }
            }
            return type
        }
    }
}

/// `apiextensions.k8s.io/v1beta1` CustomResourceDefinitions in the v1 shape they are stored in:
/// the single `spec.version`, and the top-level `validation`, `subresources` and
/// `additionalPrinterColumns` become per-version fields; without a schema unknown fields are kept
/// (`preserveUnknownFields`, v1beta1's default).
enum CRDv1beta1 {
    static func toV1(_ crd: JSONValue) -> JSONValue {
        var crd = crd
        guard var spec = crd["spec"]?.objectValue else { return crd }
        let schema = spec.removeValue(forKey: "validation")?["openAPIV3Schema"]
        let subresources = spec.removeValue(forKey: "subresources")
        let columns = spec.removeValue(forKey: "additionalPrinterColumns")?.arrayValue?.map { column -> JSONValue in
            var column = column
            if let path = column["JSONPath"] { column["jsonPath"] = path; column["JSONPath"] = nil }
            return column
        }
        var versions = spec["versions"]?.arrayValue ?? []
        if versions.isEmpty, let name = spec["version"] {
            versions = [["name": name, "served": true, "storage": true]]
        }
        spec.removeValue(forKey: "version")
        spec["versions"] = .array(versions.map { version in
            var version = version
            if version["schema"] == nil, let schema { version["schema"] = ["openAPIV3Schema": schema] }
            if version["subresources"] == nil, let subresources { version["subresources"] = subresources }
            if version["additionalPrinterColumns"] == nil, let columns { version["additionalPrinterColumns"] = .array(columns) }
            return version
        })
        if schema == nil, spec["preserveUnknownFields"] == nil { spec["preserveUnknownFields"] = true }
        crd["spec"] = .object(spec)
        return crd
    }
}
