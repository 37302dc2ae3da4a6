import Foundation
import SextantJSON
import Synchronization

/// Where the `pods/log` subresource reads a container's output: in a real cluster the API server
/// asks the Pod's kubelet; here a local node in the same process answers
/// (`sextant dev apiserver --local-node`).
public protocol PodLogSource: Sendable {
    /// The output of the container's current run (`previous`: the run before), nil when the node
    /// has no output for it.
    func logs(namespace: String, pod: String, uid: String, container: String, previous: Bool) async -> [UInt8]?
}

final class PodLogSourceBox: Sendable {
    private let source = Mutex<(any PodLogSource)?>(nil)
    var current: (any PodLogSource)? { source.withLock { $0 } }
    func set(_ new: (any PodLogSource)?) { source.withLock { $0 = new } }
}

extension DevAPIHandler {
    /// Serves `GET /api/v1/namespaces/NS/pods/NAME/log` from the registered node.
    public func setPodLogSource(_ source: (any PodLogSource)?) { podLogs.set(source) }

    /// `container`, `previous`, `tailLines` and `limitBytes` as kube-apiserver reads them; `follow`
    /// returns what exists now.
    func podLog(_ request: APIRequest, namespace: String, name: String) async throws -> APIResponse {
        guard request.method == "GET" else {
            throw APIError.methodNotAllowed("\(request.method) is not supported on pods/log")
        }
        guard let type = await store.resourceType(group: "", version: "v1", plural: "pods") else { throw notFound(request.path) }
        let pod = try await store.get(type, namespace: namespace, name: name)
        let containers = (pod[path: ["spec", "containers"]]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        let container: String
        if let asked = request.query["container"], !asked.isEmpty {
            guard containers.contains(asked) else {
                throw APIError(code: 400, reason: "BadRequest",
                               message: "container \(asked) is not valid for pod \(name)")
            }
            container = asked
        } else if containers.count == 1 {
            container = containers[0]
        } else {
            throw APIError(code: 400, reason: "BadRequest",
                           message: "a container name must be specified for pod \(name), choose one of: [\(containers.joined(separator: " "))]")
        }
        guard let source = podLogs.current else {
            throw APIError(code: 404, reason: "NotFound",
                           message: "no local node in this process serves pods/log (run sextant dev apiserver --local-node)")
        }
        let previous = request.query["previous"] == "true"
        guard var bytes = await source.logs(namespace: namespace, pod: name, uid: pod[path: ["metadata", "uid"]]?.stringValue ?? "",
                                            container: container, previous: previous) else {
            let state = previous ? "previous terminated container" : "container"
            throw APIError(code: 400, reason: "BadRequest",
                           message: "\(state) \"\(container)\" in pod \"\(name)\" is waiting to start or has no logs")
        }
        if let text = request.query["tailLines"] {
            guard let lines = Int(text), lines >= 0 else {
                throw APIError(code: 400, reason: "BadRequest", message: "tailLines: \"\(text)\" is not a non-negative integer")
            }
            bytes = Self.lastLines(bytes, lines)
        }
        if let text = request.query["limitBytes"] {
            guard let limit = Int(text), limit > 0 else {
                throw APIError(code: 400, reason: "BadRequest", message: "limitBytes: \"\(text)\" is not a positive integer")
            }
            bytes = Array(bytes.prefix(limit))
        }
        return APIResponse(status: 200, headers: [("Content-Type", "text/plain")], body: .bytes(bytes))
    }

    static func lastLines(_ bytes: [UInt8], _ count: Int) -> [UInt8] {
        guard count > 0 else { return [] }
        var end = bytes.count
        if end > 0 && bytes[end - 1] == UInt8(ascii: "\n") { end -= 1 }
        var seen = 0
        var index = end
        while index > 0 {
            index -= 1
            if bytes[index] == UInt8(ascii: "\n") {
                seen += 1
                if seen == count { return Array(bytes[(index + 1)...]) }
            }
        }
        return bytes
    }
}
