import SextantJSON

/// The `scale` subresource of Deployments, ReplicaSets, StatefulSets and ReplicationControllers
/// (`kubectl scale` reads and patches it): an `autoscaling/v1` Scale whose `spec.replicas` is the
/// object's, and whose `status.selector` is the object's label selector as text.
extension DevAPIHandler {
    static func servesScale(_ type: ResourceType) -> Bool {
        switch (type.group, type.plural) {
        case ("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets"), ("", "replicationcontrollers"): true
        default: false
        }
    }

    static func scaleObject(_ object: JSONValue) -> JSONValue {
        var metadata: [String: JSONValue] = [:]
        for key in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
            if let value = object[path: ["metadata", key]] { metadata[key] = value }
        }
        let selector: [String: JSONValue]? = object[path: ["spec", "selector", "matchLabels"]]?.objectValue
            ?? (object[path: ["spec", "selector", "matchExpressions"]] == nil ? object[path: ["spec", "selector"]]?.objectValue : nil)
        let selectorText = (selector ?? [:]).keys.sorted().map { "\($0)=\(selector?[$0]?.stringValue ?? "")" }.joined(separator: ",")
        var status: [String: JSONValue] = ["replicas": object[path: ["status", "replicas"]] ?? .int(0)]
        if !selectorText.isEmpty { status["selector"] = .string(selectorText) }
        return ["kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": .object(metadata),
                "spec": ["replicas": object[path: ["spec", "replicas"]] ?? .int(1)], "status": .object(status)]
    }

    func scale(_ request: APIRequest, _ target: Target, name: String, dryRun: Bool) async throws -> APIResponse {
        let type = target.type
        for _ in 0..<5 {
            let stored = try await store.get(type, namespace: target.namespace, name: name)
            let current = Self.scaleObject(stored)
            let wanted: JSONValue
            switch request.method {
            case "GET":
                return .json(current)
            case "PUT":
                wanted = try parseBody(request)
                if let kind = wanted["kind"]?.stringValue, kind != "Scale" {
                    throw APIError.badRequest("the kind \"\(kind)\" of the object does not match the subresource scale (kind Scale)")
                }
            case "PATCH":
                let contentType = (request.headers["content-type"] ?? "").split(separator: ";").first.map { $0.trimmingSpaces } ?? ""
                let patch = try parseBody(request)
                switch contentType {
                case "application/merge-patch+json", "application/strategic-merge-patch+json":
                    wanted = current.applyingMergePatch(patch)
                case "application/json-patch+json":
                    do { wanted = try current.applyingJSONPatch(patch) } catch {
                        throw APIError(code: 422, reason: "Invalid", message: "the server rejected our request due to an error in our request: \(error.message)")
                    }
                default:
                    throw APIError.unsupportedMediaType(contentType)
                }
            default:
                throw APIError.methodNotAllowed("\(request.method) is not supported on the scale subresource")
            }
            guard let replicas = wanted[path: ["spec", "replicas"]]?.intValue, replicas >= 0, replicas <= Int64(Int32.max) else {
                throw APIError(code: 422, reason: "Invalid",
                               message: "Scale.autoscaling \"\(name)\" is invalid: spec.replicas: Invalid value: \(wanted[path: ["spec", "replicas"]].map { "\($0)" } ?? "null"): must be greater than or equal to 0")
            }
            let requestedRV = wanted[path: ["metadata", "resourceVersion"]]?.stringValue
            let currentRV = stored[path: ["metadata", "resourceVersion"]]?.stringValue
            if let requestedRV, !requestedRV.isEmpty, requestedRV != currentRV {
                throw APIError.conflict(type, name, "the object has been modified; please apply your changes to the latest version and try again")
            }
            var updated = stored
            updated.set(path: ["spec", "replicas"], to: .int(replicas))
            // The writer owns `.spec.replicas` in its own `subresource: scale` entry.
            switch await store.tryUpdate(type, namespace: target.namespace, name: name, body: updated, statusOnly: false,
                                         dryRun: dryRun, writer: fieldWriter(request, type, subresource: "scale")) {
            case .success(let object):
                return .json(Self.scaleObject(object))
            case .failure(let error):
                if error.code == 409 && error.reason == "Conflict" && (requestedRV ?? "").isEmpty { continue }
                throw error
            }
        }
        throw APIError.conflict(type, name, "the object kept changing while the scale was applied")
    }
}
