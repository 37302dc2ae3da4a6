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
    /// Every write answered (method, path, status), and every read once `recordsReads` is on:
    /// tests count a client's writes (and a pass's reads) with it.
    public let requestLog = RequestLog()
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
        requestLog.record(method: request.method, path: request.path, status: response.status)
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
