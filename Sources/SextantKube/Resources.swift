import Foundation
import SextantJSON
import SextantKubeTypes

/// Where a kind of resource lives in the API: group, version, plural name and scope.
public struct ResourceDescriptor: Sendable, Hashable, CustomStringConvertible {
    public var group: String
    public var version: String
    public var plural: String
    public var kind: String
    public var namespaced: Bool

    public init(group: String, version: String, plural: String, kind: String, namespaced: Bool) {
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
    }

    public init<T: KubernetesResource>(_ type: T.Type) {
        self.init(group: T.group, version: T.version, plural: T.plural, kind: T.kind, namespaced: T.namespaced)
    }

    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    public var description: String { group.isEmpty ? plural : "\(plural).\(group)" }

    /// The collection path, in `namespace` when the resource is namespaced (nil = all namespaces).
    public func path(namespace: String?, name: String? = nil, subresource: String? = nil) -> String {
        var path = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        if namespaced, let namespace, !namespace.isEmpty { path += "/namespaces/\(escape(namespace))" }
        path += "/\(plural)"
        if let name { path += "/\(escape(name))" }
        if let subresource { path += "/\(subresource)" }
        return path
    }

    private func escape(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/")))
            ?? segment
    }
}

public struct ListOptions: Sendable, Hashable {
    public var labelSelector: String?
    public var fieldSelector: String?
    public var limit: Int?
    public var `continue`: String?
    public var resourceVersion: String?

    public init(labelSelector: String? = nil, fieldSelector: String? = nil, limit: Int? = nil,
                continue: String? = nil, resourceVersion: String? = nil) {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.limit = limit
        self.continue = `continue`
        self.resourceVersion = resourceVersion
    }

    public var queryItems: [URLQueryItem] {
        var items: [URLQueryItem] = []
        if let labelSelector, !labelSelector.isEmpty { items.append(.init(name: "labelSelector", value: labelSelector)) }
        if let fieldSelector, !fieldSelector.isEmpty { items.append(.init(name: "fieldSelector", value: fieldSelector)) }
        if let limit { items.append(.init(name: "limit", value: String(limit))) }
        if let c = `continue`, !c.isEmpty { items.append(.init(name: "continue", value: c)) }
        if let resourceVersion { items.append(.init(name: "resourceVersion", value: resourceVersion)) }
        return items
    }
}

public enum Patch: Sendable {
    /// RFC 7386 JSON merge patch.
    case merge(JSONValue)
    /// RFC 6902 JSON patch; use `test` operations to guard against concurrent changes.
    case json([JSONValue])
    /// Strategic merge patch (built-in kinds only).
    case strategic(JSONValue)
    /// Server-side apply of the fields this manager owns.
    case apply(JSONValue, fieldManager: String, force: Bool)

    var contentType: String {
        switch self {
        case .merge: return "application/merge-patch+json"
        case .json: return "application/json-patch+json"
        case .strategic: return "application/strategic-merge-patch+json"
        case .apply: return "application/apply-patch+yaml"
        }
    }

    func body() throws -> Data {
        switch self {
        case .merge(let value), .strategic(let value), .apply(let value, _, _): return try value.encoded()
        case .json(let ops): return try JSONValue.array(ops).encoded()
        }
    }
}

public enum PropagationPolicy: String, Sendable {
    case foreground = "Foreground", background = "Background", orphan = "Orphan"
}

extension KubeClient {
    private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.withoutEscapingSlashes]
        return e
    }()

    func decode<T: Decodable>(_ type: T.Type, _ data: Data, context: String) throws -> T {
        do {
            // The bytes decoder of watch events: a list of 500 TrainingJobs with their runs'
            // validation curves decoded as `DynamicObject`s took 8.7 s through Foundation's
            // JSONDecoder (`JSONValue` tries each JSON type in turn, an error per miss).
            return try JSONBytesDecoder().decode(T.self, from: data)
        } catch {
            throw KubeConfigError("cannot decode \(context) as \(T.self): \(describe(error))")
        }
    }

    func encode<T: Encodable>(_ value: T) throws -> Data { try KubeClient.encoder.encode(value) }

    // MARK: Generic verbs on any resource

    public func get<T: Decodable & Sendable>(_ resource: ResourceDescriptor, name: String, namespace: String? = nil,
                                             as type: T.Type = T.self) async throws -> T {
        let path = resource.path(namespace: namespace ?? defaultNamespace, name: name)
        return try decode(T.self, try await send(method: "GET", path: path), context: "\(resource) \(name)")
    }

    /// One page of a list; `namespace` nil lists across all namespaces.
    public func list<T: Codable & Sendable>(_ resource: ResourceDescriptor, namespace: String?,
                                            options: ListOptions = ListOptions(),
                                            as type: T.Type = T.self) async throws -> ObjectList<T> {
        let data = try await send(method: "GET", path: resource.path(namespace: namespace), query: options.queryItems)
        return try decode(ObjectList<T>.self, data, context: "\(resource) list")
    }

    /// Every page of a list, following `continue` tokens; returns the items and the list resourceVersion.
    public func listAll<T: Codable & Sendable>(_ resource: ResourceDescriptor, namespace: String?,
                                               options: ListOptions = ListOptions(), pageSize: Int = 500,
                                               as type: T.Type = T.self) async throws -> ObjectList<T> {
        var options = options
        options.limit = pageSize
        var items: [T] = []
        while true {
            let page = try await list(resource, namespace: namespace, options: options, as: T.self)
            items += page.items
            guard let next = page.metadata.continue, !next.isEmpty else {
                return ObjectList(apiVersion: page.apiVersion, kind: page.kind, metadata: page.metadata, items: items)
            }
            options.continue = next
        }
    }

    public func create<T: Codable & Sendable>(_ resource: ResourceDescriptor, _ object: T, namespace: String? = nil)
        async throws -> T
    {
        let path = resource.path(namespace: namespace ?? defaultNamespace)
        let data = try await send(method: "POST", path: path, body: try encode(object), contentType: "application/json")
        return try decode(T.self, data, context: "created \(resource)")
    }

    /// Replaces the object; its `metadata.resourceVersion` makes this fail with 409 if it changed meanwhile.
    public func update<T: Codable & Sendable>(_ resource: ResourceDescriptor, name: String, _ object: T,
                                              namespace: String? = nil, subresource: String? = nil) async throws -> T {
        let path = resource.path(namespace: namespace ?? defaultNamespace, name: name, subresource: subresource)
        let data = try await send(method: "PUT", path: path, body: try encode(object), contentType: "application/json")
        return try decode(T.self, data, context: "updated \(resource) \(name)")
    }

    public func patch<T: Decodable & Sendable>(_ resource: ResourceDescriptor, name: String, _ patch: Patch,
                                               namespace: String? = nil, subresource: String? = nil,
                                               as type: T.Type = T.self) async throws -> T {
        let path = resource.path(namespace: namespace ?? defaultNamespace, name: name, subresource: subresource)
        var query: [URLQueryItem] = []
        if case .apply(_, let manager, let force) = patch {
            query.append(.init(name: "fieldManager", value: manager))
            if force { query.append(.init(name: "force", value: "true")) }
        }
        let data = try await send(method: "PATCH", path: path, query: query, body: try patch.body(),
                                  contentType: patch.contentType)
        return try decode(T.self, data, context: "patched \(resource) \(name)")
    }

    /// Deletes an object; preconditions make it fail with 409 if the object was replaced or changed.
    public func delete(_ resource: ResourceDescriptor, name: String, namespace: String? = nil,
                       propagationPolicy: PropagationPolicy? = nil, preconditionUID: String? = nil,
                       preconditionResourceVersion: String? = nil) async throws {
        var options: [String: JSONValue] = ["kind": "DeleteOptions", "apiVersion": "v1"]
        if let propagationPolicy { options["propagationPolicy"] = .string(propagationPolicy.rawValue) }
        var preconditions: [String: JSONValue] = [:]
        if let preconditionUID { preconditions["uid"] = .string(preconditionUID) }
        if let preconditionResourceVersion { preconditions["resourceVersion"] = .string(preconditionResourceVersion) }
        if !preconditions.isEmpty { options["preconditions"] = .object(preconditions) }
        let path = resource.path(namespace: namespace ?? defaultNamespace, name: name)
        _ = try await send(method: "DELETE", path: path, body: try JSONValue.object(options).encoded(),
                           contentType: "application/json")
    }

    // MARK: Typed conveniences

    public func get<T: KubernetesResource>(_ type: T.Type, name: String, namespace: String? = nil) async throws -> T {
        try await get(ResourceDescriptor(T.self), name: name, namespace: namespace, as: T.self)
    }

    public func list<T: KubernetesResource>(_ type: T.Type, namespace: String? = nil,
                                            options: ListOptions = ListOptions()) async throws -> ObjectList<T> {
        try await list(ResourceDescriptor(T.self), namespace: T.namespaced ? namespace : nil, options: options,
                       as: T.self)
    }

    public func create<T: KubernetesResource>(_ object: T) async throws -> T {
        var object = object
        object.apiVersion = object.apiVersion ?? T.apiVersion
        object.kind = object.kind ?? T.kind
        return try await create(ResourceDescriptor(T.self), object, namespace: object.metadata.namespace)
    }

    public func update<T: KubernetesResource>(_ object: T) async throws -> T {
        try await update(ResourceDescriptor(T.self), name: try requireName(object), object,
                         namespace: object.metadata.namespace)
    }

    /// Writes only `status` through the status subresource.
    public func updateStatus<T: KubernetesResource>(_ object: T) async throws -> T {
        try await update(ResourceDescriptor(T.self), name: try requireName(object), object,
                         namespace: object.metadata.namespace, subresource: "status")
    }

    public func patch<T: KubernetesResource>(_ type: T.Type, name: String, namespace: String? = nil, _ patch: Patch,
                                             subresource: String? = nil) async throws -> T {
        try await self.patch(ResourceDescriptor(T.self), name: name, patch, namespace: namespace,
                             subresource: subresource, as: T.self)
    }

    public func delete<T: KubernetesResource>(_ type: T.Type, name: String, namespace: String? = nil,
                                              propagationPolicy: PropagationPolicy? = nil) async throws {
        try await delete(ResourceDescriptor(T.self), name: name, namespace: namespace,
                         propagationPolicy: propagationPolicy)
    }

    private func requireName<T: KubernetesResource>(_ object: T) throws -> String {
        guard let name = object.metadata.name, !name.isEmpty else {
            throw KubeConfigError("\(T.kind) has no metadata.name")
        }
        return name
    }
}
