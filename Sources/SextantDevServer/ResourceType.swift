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

    static let crdStorageKey = "apiextensions.k8s.io/customresourcedefinitions"
    static let namespaceStorageKey = "/namespaces"
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
            return ResourceType(
                group: group, version: versionName, kind: kind, plural: plural,
                singular: names["singular"]?.stringValue ?? kind.lowercased(), namespaced: scope == "Namespaced",
                shortNames: names["shortNames"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                categories: names["categories"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                hasStatus: version[path: ["subresources", "status"]] != nil,
                printerColumns: columns.isEmpty ? [BuiltinResources.age] : columns,
                schema: version[path: ["schema", "openAPIV3Schema"]], isCustom: true, storageVersion: storageVersion)
        }
    }
}
