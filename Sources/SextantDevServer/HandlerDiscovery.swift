import Foundation
import SextantJSON
import SextantKubeTypes
import Yams

// Discovery and OpenAPI: what kubectl and the client libraries read before anything else.
extension DevAPIHandler {
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
}
