import Foundation
import SextantJSON
import SextantKubeTypes
import Yams

/// One HTTP request, independent of the HTTP server library (tests call the handler directly).
public struct APIRequest: Sendable {
    public var method: String
    public var path: String
    /// Decoded query parameters; the last value wins for repeated names.
    public var query: [String: String]
    /// Header names in lower case.
    public var headers: [String: String]
    public var body: [UInt8]

    public init(method: String, path: String, query: [String: String] = [:], headers: [String: String] = [:],
                body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// Splits a raw target (`/api/v1/pods?watch=1`) into a path and decoded query.
    public init(method: String, target: String, headers: [String: String] = [:], body: [UInt8] = []) {
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = parts.first.map { String($0).removingPercentEncoding ?? String($0) } ?? "/"
        self.init(method: method, path: path, query: parts.count > 1 ? Self.parseQuery(String(parts[1])) : [:],
                  headers: headers, body: body)
    }

    public static func parseQuery(_ query: String) -> [String: String] {
        var result: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s)
            }
            guard let key = kv.first else { continue }
            result[decode(key)] = kv.count > 1 ? decode(kv[1]) : ""
        }
        return result
    }
}

/// A response: a complete body, or a stream of chunks (watches).
public struct APIResponse: Sendable {
    public enum Body: Sendable {
        case bytes([UInt8])
        /// A watch: the chunks, plus the id to stop the watch when the client goes away.
        case stream(WatchChannel, watchID: UInt64, timeout: Duration?)
    }
    public var status: Int
    public var headers: [(String, String)]
    public var body: Body

    public init(status: Int, headers: [(String, String)] = [], body: Body) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON body ending in a newline, as kube-apiserver's encoder writes it.
    static func json(_ value: JSONValue, status: Int = 200) -> APIResponse {
        var bytes = value.serialized(sortedKeys: false)
        bytes.append(UInt8(ascii: "\n"))
        return APIResponse(status: status, headers: [("Content-Type", "application/json")], body: .bytes(bytes))
    }

    static func json(_ object: OrderedObject, status: Int = 200) -> APIResponse {
        var bytes = object.bytes()
        bytes.append(UInt8(ascii: "\n"))
        return APIResponse(status: status, headers: [("Content-Type", "application/json")], body: .bytes(bytes))
    }

    static func error(_ error: APIError) -> APIResponse {
        var response = json(error.statusObject, status: error.code)
        response.headers += error.headers
        return response
    }

    /// The body as bytes (empty for streams): convenient for tests.
    public var bytes: [UInt8] {
        if case .bytes(let b) = body { return b }
        return []
    }

    public var json: JSONValue? { try? JSONValue.parse(bytes) }
}

/// Routes Kubernetes API requests to the store. Pure request → response logic: the HTTP server
/// (`DevHTTPServer`) only moves bytes.
public final class DevAPIHandler: Sendable {
    public let store: ObjectStore
    let faults: FaultState
    let token: String?
    let authorization: AuthorizationMode
    let tokens: ServiceAccountTokens
    let podLogs = PodLogSourceBox()
    let authorizationLog = AuthorizationLog()
    /// Upper bound for request bodies (the real server uses 3 MiB for objects; patches are smaller).
    static let maxBodyBytes = 16 << 20

    public init(store: ObjectStore, faults: FaultConfiguration = FaultConfiguration(), token: String? = nil,
                authorization: AuthorizationMode = .alwaysAllow, tokenKeyDirectory: String? = nil) {
        self.store = store
        self.faults = FaultState(faults)
        self.token = token
        self.authorization = authorization
        self.tokens = ServiceAccountTokens.load(directory: tokenKeyDirectory)
    }

    public var faultConfiguration: FaultConfiguration {
        get { faults.current }
    }

    public func setFaults(_ configuration: FaultConfiguration) { faults.set(configuration) }

    public func handle(_ request: APIRequest) async -> APIResponse {
        let accept = KubeProtobuf.choose(request.headers["accept"])
        var response: APIResponse
        do {
            response = try await route(try protobufAsJSON(request, accept: accept))
        } catch let error as APIError {
            response = .error(error)
        } catch {
            response = .error(APIError(code: 500, reason: "InternalError", message: "internal error: \(error)"))
        }
        return accept.protobuf ? protobufResponse(response, jsonAcceptable: accept.fallback != nil) : response
    }

    /// The request with a protobuf body transcoded to JSON and protobuf left out of `Accept`
    /// (the handler answers JSON; `protobufResponse` transcodes the answer).
    func protobufAsJSON(_ request: APIRequest, accept: KubeProtobuf.AcceptChoice) throws(APIError) -> APIRequest {
        var request = request
        if accept.protobuf {
            let watching = request.query["watch"] == "true" || request.query["watch"] == "1"
            if watching && accept.fallback == nil {
                throw APIError(code: 406, reason: "NotAcceptable",
                               message: "watch streams are served as application/json only by the development API server")
            }
            request.headers["accept"] = accept.fallback ?? "application/json"
        }
        if KubeProtobuf.isProtobuf(request.headers["content-type"]) && request.method != "PATCH" && !request.body.isEmpty {
            guard request.body.count <= Self.maxBodyBytes else {
                throw APIError(code: 413, reason: "RequestEntityTooLarge", message: "request body larger than \(Self.maxBodyBytes) bytes")
            }
            request.body = try KubeProtobuf.decode(request.body).serialized(sortedKeys: false)
            request.headers["content-type"] = "application/json"
        }
        return request
    }

    /// A JSON answer in the protobuf envelope when its kind has a protobuf message; otherwise
    /// JSON if the client accepts it, else 406.
    func protobufResponse(_ response: APIResponse, jsonAcceptable: Bool) -> APIResponse {
        guard case .bytes(let bytes) = response.body,
              response.headers.contains(where: { $0.0 == "Content-Type" && $0.1 == "application/json" }),
              let object = try? JSONValue.parse(bytes) else { return response }
        do {
            if let encoded = try KubeProtobuf.encode(object) {
                var headers = response.headers.filter { $0.0 != "Content-Type" }
                headers.append(("Content-Type", KubeProtobuf.mediaType))
                return APIResponse(status: response.status, headers: headers, body: .bytes(encoded))
            }
        } catch {
            if jsonAcceptable { return response }
            return .error(APIError(code: 500, reason: "InternalError",
                                   message: "the object cannot be written as protobuf: \(error)"))
        }
        if jsonAcceptable { return response }
        return .error(APIError(code: 406, reason: "NotAcceptable",
                               message: "\(object["kind"]?.stringValue ?? "this object") has no protobuf form; "
                                   + "only the following media types are accepted: application/json"))
    }

    func route(_ request: APIRequest) async throws -> APIResponse {
        let path = request.path.count > 1 && request.path.hasSuffix("/") ? String(request.path.dropLast()) : request.path
        if path == "/healthz" || path == "/livez" || path == "/readyz" {
            return APIResponse(status: 200, headers: [("Content-Type", "text/plain")], body: .bytes(Array("ok".utf8)))
        }
        let user = try await authenticate(request)
        try await authorize(user, request, path: path)
        if path.hasPrefix("/sextant-dev/") { return try await admin(request, path: path) }
        let faults = self.faults.current
        if faults.applies(to: path, userAgent: request.headers["user-agent"]) {
            let delay = faults.delay()
            if delay > 0 { try? await Task.sleep(for: .milliseconds(delay)) }
            if let injected = faults.injectedError() { return .error(injected) }
        }
        let segments = path.split(separator: "/").map(String.init)
        guard let first = segments.first else {
            return .json(["paths": ["/api", "/api/v1", "/apis", "/healthz", "/version", "/openapi/v2", "/openapi/v3"]])
        }
        switch first {
        case "version":
            return .json(["major": "1", "minor": "32", "gitVersion": "v1.32.0-sextant-dev", "gitCommit": "",
                          "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "swift",
                          "compiler": "swift", "platform": "linux/amd64"])
        case "openapi":
            if segments.count == 2 && segments[1] == "v2" { return Self.openAPIV2(accept: request.headers["accept"]) }
            return try await openAPI(segments)
        case "api":
            if segments.count == 1 {
                return .json(["kind": "APIVersions", "versions": ["v1"],
                              "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": ""]]])
            }
            guard segments[1] == "v1" else { throw notFound(path) }
            if segments.count == 2 { return .json(await resourceList(group: "", version: "v1")) }
            if let answer = try await authEndpoint(request, group: "", rest: Array(segments[2...]), user: user) { return answer }
            if segments.count == 7, segments[2] == "namespaces", segments[4] == "pods", segments[6] == "log" {
                return try await podLog(request, namespace: segments[3], name: segments[5])
            }
            return try await resource(request, group: "", version: "v1", rest: Array(segments[2...]))
        case "apis":
            if segments.count == 1 { return .json(await groupList()) }
            if segments.count == 2 {
                guard let group = await groupList()["groups"]?.arrayValue?.first(where: { $0["name"]?.stringValue == segments[1] }) else {
                    throw notFound(path)
                }
                var object = group
                object["kind"] = "APIGroup"
                object["apiVersion"] = "v1"
                return .json(object)
            }
            let group = segments[1], version = segments[2]
            if segments.count == 3 {
                let list = await resourceList(group: group, version: version)
                guard list["resources"]?.arrayValue?.isEmpty == false else { throw notFound(path) }
                return .json(list)
            }
            if version == "v1", let answer = try await authEndpoint(request, group: group, rest: Array(segments[3...]), user: user) {
                return answer
            }
            return try await resource(request, group: group, version: version, rest: Array(segments[3...]))
        default:
            throw notFound(path)
        }
    }

    func notFound(_ path: String) -> APIError {
        APIError(code: 404, reason: "NotFound", message: "the server could not find the requested resource (\(path))",
                 details: StatusDetails(causes: [StatusCause(reason: "UnexpectedServerResponse", message: "404 page not found", field: nil)]))
    }

    // MARK: Discovery

    func groupList() async -> JSONValue {
        var versionsByGroup: [String: [String]] = [:]
        var preferred: [String: String] = [:]
        for type in await store.allResourceTypes() where !type.group.isEmpty {
            if !(versionsByGroup[type.group]?.contains(type.version) ?? false) {
                versionsByGroup[type.group, default: []].append(type.version)
            }
            if type.version == type.storageVersion { preferred[type.group] = type.version }
        }
        let groups: [JSONValue] = versionsByGroup.keys.sorted().map { group in
            let versions = (versionsByGroup[group] ?? []).sorted { Self.versionPriority($0) > Self.versionPriority($1) }
            let preferredVersion = preferred[group] ?? versions.first ?? ""
            return [
                "name": .string(group),
                "versions": .array(versions.map { ["groupVersion": .string("\(group)/\($0)"), "version": .string($0)] }),
                "preferredVersion": ["groupVersion": .string("\(group)/\(preferredVersion)"), "version": .string(preferredVersion)],
            ]
        }
        return ["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(groups)]
    }

    /// Kubernetes' version ordering: GA > beta > alpha, then by number.
    static func versionPriority(_ version: String) -> Int {
        let digits = version.dropFirst().prefix { $0.isNumber }
        let major = Int(digits) ?? 0
        let rest = version.dropFirst(1 + digits.count)
        let minor = Int(rest.drop { !$0.isNumber }) ?? 0
        if rest.isEmpty { return 3_000_000 + major * 1000 }
        if rest.hasPrefix("beta") { return 2_000_000 + major * 1000 + minor }
        return 1_000_000 + major * 1000 + minor
    }

    func resourceList(group: String, version: String) async -> JSONValue {
        var resources: [JSONValue] = []
        for type in await store.allResourceTypes() where type.group == group && type.version == version {
            var entry: JSONValue = [
                "name": .string(type.plural), "singularName": .string(type.singular), "namespaced": .bool(type.namespaced),
                "kind": .string(type.kind), "verbs": .array(ResourceType.allVerbs),
                "storageVersionHash": .string(type.storageVersionHash),
            ]
            if !type.shortNames.isEmpty { entry["shortNames"] = .array(type.shortNames.map(JSONValue.string)) }
            if !type.categories.isEmpty { entry["categories"] = .array(type.categories.map(JSONValue.string)) }
            resources.append(entry)
            if type.hasStatus {
                resources.append(["name": .string("\(type.plural)/status"), "singularName": "", "namespaced": .bool(type.namespaced),
                                  "kind": .string(type.kind), "verbs": ["get", "patch", "update"]])
            }
            if Self.servesScale(type) {
                resources.append(["name": .string("\(type.plural)/scale"), "singularName": "", "namespaced": .bool(type.namespaced),
                                  "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]])
            }
        }
        return ["kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": .string(group.isEmpty ? version : "\(group)/\(version)"), "resources": .array(resources)]
    }

    /// OpenAPI v3: an index of group versions, and per group version one PATCH operation per kind
    /// that declares the `fieldValidation` query parameter. That is what kubectl looks for to
    /// leave validation to the server (so the CRD schemas here are the single source of truth)
    /// instead of downloading schemas for client-side validation. `/openapi/v2` has no definitions; kubectl
    /// then computes apply patches from its built-in types, or as JSON merge patches for custom
    /// resources, exactly as with a real server that has no schema for a type.
    func openAPI(_ segments: [String]) async throws -> APIResponse {
        guard segments.count >= 2, segments[1] == "v3" else {
            throw notFound("/" + segments.joined(separator: "/"))
        }
        let types = await store.allResourceTypes()
        if segments.count == 2 {
            var paths: [String: JSONValue] = [:]
            for type in types {
                let key = Self.openAPIKey(type)
                paths[key] = ["serverRelativeURL": .string("/openapi/v3/\(key)?hash=\(await store.currentRevision())")]
            }
            return .json(["paths": .object(paths)])
        }
        let key = segments[2...].joined(separator: "/")
        let served = types.filter { Self.openAPIKey($0) == key }
        guard !served.isEmpty else { throw notFound("/openapi/v3/\(key)") }
        var paths: [String: JSONValue] = [:]
        for type in served {
            let prefix = "/" + key + (type.namespaced ? "/namespaces/{namespace}" : "")
            let operation: JSONValue = [
                "x-kubernetes-group-version-kind": ["group": .string(type.group), "version": .string(type.version),
                                                    "kind": .string(type.kind)],
                "x-kubernetes-action": "patch",
                "parameters": [["name": "fieldValidation", "in": "query", "schema": ["type": "string"]],
                               ["name": "fieldManager", "in": "query", "schema": ["type": "string"]],
                               ["name": "dryRun", "in": "query", "schema": ["type": "string"]]],
                "responses": ["200": ["description": "OK"]],
            ]
            paths["\(prefix)/\(type.plural)/{name}"] = ["patch": operation]
        }
        return .json(["openapi": "3.0.0", "info": ["title": "Kubernetes (Sextant development API server)", "version": "v1.32.0"],
                      "paths": .object(paths), "components": ["schemas": [:]]])
    }

    /// `/openapi/v2`: a document without definitions. kubectl validates `kind: List` files on the
    /// client against it (it cannot ask the server to validate a List) and fails when the
    /// endpoint is missing; with no definition for a kind it skips that item and the server
    /// validates it. client-go asks for the protobuf form: an empty `openapi_v2.Document` message
    /// is zero bytes.
    static func openAPIV2(accept: String?) -> APIResponse {
        if let accept, accept.contains("protobuf") {
            return APIResponse(status: 200, headers: [("Content-Type", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")],
                               body: .bytes([]))
        }
        return .json(["swagger": "2.0", "info": ["title": "Kubernetes (Sextant development API server)", "version": "v1.32.0"],
                      "paths": [:], "definitions": [:]])
    }

    static func openAPIKey(_ type: ResourceType) -> String {
        type.group.isEmpty ? "api/\(type.version)" : "apis/\(type.group)/\(type.version)"
    }

    // MARK: Resources

    struct Target {
        var type: ResourceType
        var namespace: String?
        var name: String?
        var subresource: String?
    }

    func resolveTarget(group: String, version: String, rest: [String]) async throws -> Target {
        var rest = rest
        var namespace: String?
        if rest.count >= 3, rest[0] == "namespaces", rest[2] != "status", rest[2] != "finalize" {
            namespace = rest[1]
            rest.removeFirst(2)
        }
        let plural = rest[0]
        guard let type = await store.resourceType(group: group, version: version, plural: plural) else {
            throw notFound("/" + ([group.isEmpty ? "api" : "apis/\(group)", version] + rest).joined(separator: "/"))
        }
        if namespace != nil && !type.namespaced {
            throw notFound("\(type.qualifiedName) is not namespaced")
        }
        let name = rest.count > 1 ? rest[1] : nil
        let subresource = rest.count > 2 ? rest[2...].joined(separator: "/") : nil
        if let subresource, !(subresource == "status" && type.hasStatus), !(subresource == "scale" && Self.servesScale(type)) {
            throw APIError(code: 404, reason: "NotFound",
                           message: "the server could not find the requested resource: subresource \"\(subresource)\" of \(type.qualifiedName) is not served by the development API server")
        }
        return Target(type: type, namespace: namespace, name: name, subresource: subresource)
    }

    func resource(_ request: APIRequest, group: String, version: String, rest: [String]) async throws -> APIResponse {
        let request = EventConversion.request(request, group: group)
        let target = try await resolveTarget(group: group, version: version, rest: rest)
        let type = target.type
        let dryRun = request.query["dryRun"] == "All"
        guard let name = target.name else {
            switch request.method {
            case "GET":
                if request.query["watch"] == "true" || request.query["watch"] == "1" {
                    return try await watch(request, target)
                }
                return try await list(request, target)
            case "POST":
                var body = try parseBody(request)
                try checkKind(body, type)
                if type.storageKey == BuiltinResources.crdStorageKey && type.version == "v1beta1" { body = CRDv1beta1.toV1(body) }
                let created = try await store.create(type, namespace: target.namespace, body: Self.storedForm(body, type),
                                                     dryRun: dryRun)
                return .json(served(created, type), status: 201)
            case "DELETE":
                let options = try listOptions(request, type)
                let (items, _, _, _) = try await store.list(type, namespace: target.namespace, options: options)
                var deleted: [JSONValue] = []
                let deleteOptions = try self.deleteOptions(request)
                for item in items {
                    let itemName = item[path: ["metadata", "name"]]?.stringValue ?? ""
                    let itemNamespace = item[path: ["metadata", "namespace"]]?.stringValue
                    if case .deleted(let object)? = try? await store.delete(type, namespace: itemNamespace, name: itemName,
                                                                            options: deleteOptions) {
                        deleted.append(served(object, type))
                    }
                }
                return .json(["kind": .string(type.kind + "List"), "apiVersion": .string(type.groupVersion),
                              "metadata": ["resourceVersion": .string(String(await store.currentRevision()))],
                              "items": .array(deleted)])
            default:
                throw APIError.methodNotAllowed("\(request.method) is not supported on the collection \(type.qualifiedName)")
            }
        }
        if target.subresource == "scale" { return try await scale(request, target, name: name, dryRun: dryRun) }
        let statusOnly = target.subresource == "status"
        switch request.method {
        case "GET":
            let format = try OutputFormat.negotiate(request.headers["accept"], shape: .object)
            let object = try await store.get(type, namespace: target.namespace, name: name)
            switch format {
            case .json:
                return .json(served(object, type))
            case .table:
                return .json(TableConverter.table(type, [served(object, type)], listMeta: ["resourceVersion": object[path: ["metadata", "resourceVersion"]] ?? ""], include: includeObject(request)))
            case .partialMetadata(let version):
                return .json(OutputFormat.partialMetadata(object, version: version))
            }
        case "PUT":
            var body = try parseBody(request)
            try checkKind(body, type)
            if type.storageKey == BuiltinResources.crdStorageKey && type.version == "v1beta1" { body = CRDv1beta1.toV1(body) }
            let updated = try await store.update(type, namespace: target.namespace, name: name,
                                                 body: Self.storedForm(body, type), statusOnly: statusOnly, dryRun: dryRun)
            return .json(served(updated, type))
        case "PATCH":
            return try await patch(request, target, name: name, statusOnly: statusOnly, dryRun: dryRun)
        case "DELETE":
            guard !statusOnly else { throw APIError.methodNotAllowed("DELETE is not supported on the status subresource") }
            switch try await store.delete(type, namespace: target.namespace, name: name, options: deleteOptions(request)) {
            case .pending(let object):
                return .json(served(object, type), status: 200)
            case .deleted(let object):
                if type.returnsDeletedObject {
                    var object = object
                    if type.storageKey == BuiltinResources.namespaceStorageKey {
                        // kube-apiserver answers the namespace as its finalizer leaves it: Terminating.
                        object.set(path: ["metadata", "deletionTimestamp"], to: .string(ObjectStore.now()))
                        object.set(path: ["status", "phase"], to: "Terminating")
                    }
                    return .json(served(object, type), status: 200)
                }
                return .json(APIError.successStatus(name: name, group: type.group, kind: type.plural,
                                                    uid: object[path: ["metadata", "uid"]]?.stringValue ?? ""))
            }
        default:
            throw APIError.methodNotAllowed("\(request.method) is not supported on \(type.qualifiedName)")
        }
    }

    /// The object as served at the requested version (see `servedForm`).
    func served(_ object: JSONValue, _ type: ResourceType) -> JSONValue { Self.servedForm(object, type) }

    func checkKind(_ body: JSONValue, _ type: ResourceType) throws(APIError) {
        guard body.objectValue != nil else { throw APIError.badRequest("the request body must be a JSON object") }
        if let kind = body["kind"]?.stringValue, !kind.isEmpty, kind != type.kind {
            throw APIError.badRequest("the kind \"\(kind)\" of the object does not match the resource \(type.qualifiedName) (kind \(type.kind))")
        }
        if let apiVersion = body["apiVersion"]?.stringValue, !apiVersion.isEmpty {
            let group = apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : ""
            if group != type.group {
                throw APIError.badRequest("the API version \"\(apiVersion)\" of the object does not match the group \"\(type.group)\" of \(type.qualifiedName)")
            }
        }
    }

    func parseBody(_ request: APIRequest) throws(APIError) -> JSONValue {
        guard request.body.count <= Self.maxBodyBytes else {
            throw APIError(code: 413, reason: "RequestEntityTooLarge", message: "request body larger than \(Self.maxBodyBytes) bytes")
        }
        let contentType = (request.headers["content-type"] ?? "application/json").split(separator: ";").first.map(String.init) ?? ""
        let media = contentType.trimmingSpaces.lowercased()
        // A missing type and the form type curl, URLSession and libcurl send by default are read as JSON.
        let known = media.isEmpty || media.hasSuffix("json") || media.hasSuffix("yaml") || media == "*/*"
            || media == "application/x-www-form-urlencoded"
        if !known || (request.method != "PATCH" && media.hasSuffix("+json")) {
            // Protobuf bodies were transcoded before routing; CBOR and other formats are not read.
            throw APIError(code: 415, reason: "UnsupportedMediaType",
                           message: "the body of the request was in an unknown format - accepted media types include: "
                               + "application/json, application/yaml, \(KubeProtobuf.mediaType) (got \(contentType))")
        }
        let firstByte = request.body.first { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }
        let looksLikeJSON = firstByte == UInt8(ascii: "{") || firstByte == UInt8(ascii: "[")
        if contentType.hasSuffix("yaml") && !looksLikeJSON {
            return try Self.parseYAML(request.body)
        }
        do {
            return try JSONValue.parse(request.body)
        } catch {
            throw APIError.badRequest("the request body is not valid JSON: \(error)")
        }
    }

    static func parseYAML(_ bytes: [UInt8]) throws(APIError) -> JSONValue {
        let text = String(decoding: bytes, as: UTF8.self)
        do {
            guard let node = try Yams.compose(yaml: text) else { throw APIError.badRequest("the YAML request body is empty") }
            return try yamlToJSON(node)
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError.badRequest("the request body is not valid YAML: \(error)")
        }
    }

    static func yamlToJSON(_ node: Node) throws -> JSONValue {
        switch node {
        case .scalar(let scalar):
            if scalar.style != .plain { return .string(scalar.string) }
            if let v = Bool.construct(from: scalar), ["true", "false", "True", "False", "TRUE", "FALSE"].contains(scalar.string) { return .bool(v) }
            if scalar.string == "null" || scalar.string == "~" || scalar.string.isEmpty { return .null }
            if let i = Int64(scalar.string) { return .int(i) }
            if let d = Double(scalar.string), scalar.string.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) { return .double(d) }
            return .string(scalar.string)
        case .mapping(let mapping):
            var object: [String: JSONValue] = [:]
            for (key, value) in mapping { object[key.string ?? ""] = try yamlToJSON(value) }
            return .object(object)
        case .sequence(let sequence):
            return .array(try sequence.map(yamlToJSON))
        case .alias:
            throw APIError.badRequest("YAML aliases are not supported in request bodies")
        }
    }

    func listOptions(_ request: APIRequest, _ type: ResourceType) throws(APIError) -> ListOptions {
        var options = ListOptions()
        if let selector = request.query["labelSelector"], !selector.isEmpty { options.labels = try LabelSelector(parsing: selector) }
        if let selector = request.query["fieldSelector"], !selector.isEmpty {
            options.fields = try FieldSelector(parsing: selector, supported: FieldLabels.supported(type))
        }
        if let limit = request.query["limit"], !limit.isEmpty {
            guard let n = Int(limit), n >= 0 else { throw APIError.badRequest("limit: must be a non-negative integer, got \"\(limit)\"") }
            options.limit = n
        }
        options.continueToken = request.query["continue"]
        return options
    }

    func deleteOptions(_ request: APIRequest) throws(APIError) -> DeleteOptions {
        var options = DeleteOptions()
        var body: JSONValue = [:]
        if !request.body.isEmpty { body = try parseBody(request) }
        let propagation = request.query["propagationPolicy"] ?? body["propagationPolicy"]?.stringValue
        if let propagation {
            guard let p = DeleteOptions.Propagation(rawValue: propagation) else {
                throw APIError.badRequest("propagationPolicy: unsupported value \"\(propagation)\": supported values: \"Background\", \"Foreground\", \"Orphan\"")
            }
            options.propagation = p
        } else if body["orphanDependents"]?.boolValue == true {
            options.propagation = .orphan
        }
        options.preconditionResourceVersion = body[path: ["preconditions", "resourceVersion"]]?.stringValue
        options.preconditionUID = body[path: ["preconditions", "uid"]]?.stringValue
        options.dryRun = request.query["dryRun"] == "All" || body["dryRun"]?.arrayValue?.contains("All") == true
        return options
    }

    func includeObject(_ request: APIRequest) -> TableConverter.IncludeObject {
        TableConverter.IncludeObject(rawValue: request.query["includeObject"] ?? "") ?? .metadata
    }

    func list(_ request: APIRequest, _ target: Target) async throws -> APIResponse {
        let type = target.type
        let format = try OutputFormat.negotiate(request.headers["accept"], shape: .list)
        let options = try listOptions(request, type)
        let (items, revision, token, remaining) = try await store.list(type, namespace: target.namespace, options: options)
        var listMeta: [String: JSONValue] = ["resourceVersion": .string(String(revision))]
        if let token { listMeta["continue"] = .string(token) }
        if let remaining { listMeta["remainingItemCount"] = .int(Int64(remaining)) }
        switch format {
        case .json:
            return .json(["kind": .string(type.kind + "List"), "apiVersion": .string(type.groupVersion),
                          "metadata": .object(listMeta), "items": .array(items.map { served($0, type) })])
        case .table:
            return .json(TableConverter.table(type, items.map { served($0, type) }, listMeta: .object(listMeta),
                                              include: includeObject(request)))
        case .partialMetadata(let version):
            return .json(OutputFormat.partialMetadataList(items, listMeta: .object(listMeta), version: version))
        }
    }

    func watch(_ request: APIRequest, _ target: Target) async throws -> APIResponse {
        let type = target.type
        let options = try listOptions(request, type)
        var timeout: Duration?
        if let text = request.query["timeoutSeconds"], !text.isEmpty {
            guard let seconds = Int(text), seconds >= 0 else {
                throw APIError.badRequest("timeoutSeconds: must be a non-negative integer, got \"\(text)\"")
            }
            timeout = .seconds(seconds)
        }
        let format = try OutputFormat.negotiate(request.headers["accept"], shape: .watch)
        let include = includeObject(request)
        let encoder: WatchEncoder = { eventType, object in
            var payload = object
            if eventType == "BOOKMARK" { payload["apiVersion"] = .string(type.groupVersion) }
            if eventType != "ERROR" && eventType != "BOOKMARK" {
                payload = Self.servedForm(payload, type)
                switch format {
                case .json: break
                case .table: payload = TableConverter.table(type, [payload], listMeta: [:], include: include)
                case .partialMetadata(let version): payload = OutputFormat.partialMetadata(payload, version: version)
                }
            }
            var line = Array(#"{"type":""#.utf8)
            line += Array(eventType.utf8)
            line += Array(#"","object":"#.utf8)
            line += payload.serialized(sortedKeys: false)
            line += Array("}\n".utf8)
            return line
        }
        let bookmarks = request.query["allowWatchBookmarks"] == "true"
        let initialEvents = try Self.watchListOption(request, bookmarks: bookmarks)
        let (id, stream) = try await store.watch(
            type, namespace: target.namespace, name: nil, options: options, resourceVersion: request.query["resourceVersion"],
            bookmarks: bookmarks, formatKey: format.cacheKey(include: include),
            encoder: encoder, initialEvents: initialEvents)
        return APIResponse(status: 200, headers: [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")],
                           body: .stream(stream, watchID: id, timeout: timeout))
    }

    func patch(_ request: APIRequest, _ target: Target, name: String, statusOnly: Bool, dryRun: Bool) async throws -> APIResponse {
        let type = target.type
        let contentType = (request.headers["content-type"] ?? "").split(separator: ";").first.map { $0.trimmingSpaces } ?? ""
        let patch = try parseBody(request)
        if contentType == "application/apply-patch+yaml" {
            // Server-side apply: a strategic merge of the applied configuration, with conflicts
            // against the other appliers' fields (ManagedFields).
            guard request.query["fieldManager"].map({ !$0.isEmpty }) ?? false else {
                throw APIError.badRequest("PATCH requests of type application/apply-patch+yaml require a fieldManager")
            }
            if let apiVersion = patch["apiVersion"]?.stringValue, apiVersion != type.groupVersion {
                throw APIError.badRequest("Incorrect version specified in apply patch. Specified patch version: "
                                          + "\(apiVersion), expected: \(type.groupVersion)")
            }
            try checkKind(patch, type)
            let manager = request.query["fieldManager"] ?? ""
            let existing = await store.getIfPresent(type, namespace: target.namespace, name: name)
            guard let current = existing else {
                if statusOnly { throw APIError.notFound(type, name) }
                var body = patch
                body.set(path: ["metadata", "name"], to: .string(name))
                body.set(path: ["metadata", "managedFields"],
                         to: ManagedFields.recordApply(patch, manager: manager, apiVersion: type.groupVersion, in: [:],
                                                       time: ObjectStore.now()))
                let created = try await store.create(type, namespace: target.namespace, body: Self.storedForm(body, type),
                                                     dryRun: dryRun)
                return .json(served(created, type), status: 201)
            }
            var merged = Self.storedForm(StrategicMerge.apply(patch, to: Self.patchBase(current, type)), type)
            if patch[path: ["metadata", "resourceVersion"]] == nil {
                merged.set(path: ["metadata", "resourceVersion"], to: current[path: ["metadata", "resourceVersion"]])
            }
            let conflicts = ManagedFields.conflicts(applying: ManagedFields.appliedSet(patch), values: merged, manager: manager,
                                                    in: current)
            if !conflicts.isEmpty && request.query["force"] != "true" { throw ManagedFields.conflictError(conflicts) }
            var owner = current
            owner.set(path: ["metadata", "managedFields"],
                      to: ManagedFields.takingOver(conflicts, in: current[path: ["metadata", "managedFields"]] ?? []))
            let managedFields = ManagedFields.recordApply(patch, manager: manager, apiVersion: type.groupVersion,
                                                          in: owner, time: ObjectStore.now())
            let updated = try await store.update(type, namespace: target.namespace, name: name, body: merged,
                                                 statusOnly: statusOnly, requireResourceVersion: false, dryRun: dryRun,
                                                 managedFields: managedFields)
            return .json(served(updated, type))
        }
        // Retried on conflict: a patch without a resourceVersion must not fail because of a
        // concurrent write between our read and our write.
        for _ in 0..<5 {
            let stored = try await store.get(type, namespace: target.namespace, name: name)
            let current = Self.patchBase(stored, type)
            var patched: JSONValue
            switch contentType {
            case "application/merge-patch+json":
                guard patch.objectValue != nil else { throw APIError.badRequest("a merge patch must be a JSON object") }
                patched = current.applyingMergePatch(patch)
            case "application/json-patch+json":
                do {
                    patched = try current.applyingJSONPatch(patch)
                } catch {
                    switch error.kind {
                    case .testFailed, .pathNotFound:
                        throw APIError(code: 422, reason: "Invalid", message: "the server rejected our request due to an error in our request: \(error.message)")
                    case .invalidPatch:
                        throw APIError.badRequest("invalid JSON patch: \(error.message)")
                    }
                }
            case "application/strategic-merge-patch+json":
                if type.isCustom {
                    throw APIError(code: 415, reason: "UnsupportedMediaType",
                                   message: "strategic merge patch is not supported for custom resources: use application/merge-patch+json")
                }
                patched = StrategicMerge.apply(patch, to: current)
            default:
                throw APIError.unsupportedMediaType(contentType)
            }
            patched = Self.storedForm(patched, type)
            let preconditionRV = patched[path: ["metadata", "resourceVersion"]]?.stringValue
            let currentRV = current[path: ["metadata", "resourceVersion"]]?.stringValue
            let explicitRV = preconditionRV != currentRV
            if patched[path: ["metadata", "resourceVersion"]] == nil {
                patched.set(path: ["metadata", "resourceVersion"], to: current[path: ["metadata", "resourceVersion"]])
            }
            let result = await store.tryUpdate(type, namespace: target.namespace, name: name, body: patched,
                                               statusOnly: statusOnly, dryRun: dryRun)
            switch result {
            case .success(let updated):
                return .json(served(updated, type))
            case .failure(let error):
                // Retry only conflicts the patch did not ask for with its own resourceVersion.
                if error.code == 409 && error.reason == "Conflict" && !explicitRV { continue }
                throw error
            }
        }
        throw APIError.conflict(type, name, "the object kept changing while the patch was applied")
    }

    // MARK: Admin (fault injection)

    func admin(_ request: APIRequest, path: String) async throws -> APIResponse {
        var request = request
        request.headers["content-type"] = "application/json"  // curl -d sends a form type; these bodies are JSON
        switch (request.method, path) {
        case ("GET", "/sextant-dev/faults"):
            return .json(faults.current.json)
        case ("PUT", "/sextant-dev/faults"), ("POST", "/sextant-dev/faults"):
            let configuration = try FaultConfiguration(json: try parseBody(request))
            faults.set(configuration)
            return .json(configuration.json)
        case ("POST", "/sextant-dev/drop-watches"):
            let dropped = await store.dropAllWatches()
            return .json(["dropped": .int(Int64(dropped))])
        case ("POST", "/sextant-dev/compact"):
            await store.compactHistory()
            return .json(["compactedRevision": .int(await store.currentRevision())])
        case ("GET", "/sextant-dev/authorizations"):
            return .json(authorizationsJSON())
        case ("GET", "/sextant-dev/stats"):
            return .json(["revision": .int(await store.currentRevision()), "watchers": .int(Int64(await store.watcherCount))])
        default:
            throw APIError(code: 404, reason: "NotFound",
                           message: "unknown admin endpoint \(request.method) \(path); known: GET/PUT /sextant-dev/faults, "
                                + "POST /sextant-dev/drop-watches, POST /sextant-dev/compact, GET /sextant-dev/stats, "
                                + "GET /sextant-dev/authorizations")
        }
    }
}
