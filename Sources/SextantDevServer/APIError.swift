import SextantJSON
import SextantKubeTypes

/// An error answered as a `metav1.Status` with the HTTP code and reason the real server uses.
public struct APIError: Error, Sendable {
    public var code: Int
    public var reason: String
    public var message: String
    public var details: StatusDetails?
    /// Extra response headers (e.g. `Retry-After` for 429).
    public var headers: [(String, String)] = []

    public init(code: Int, reason: String, message: String, details: StatusDetails? = nil) {
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
    }

    public var status: Status {
        Status(message: message, reason: reason, code: code, details: details)
    }

    /// The Status body, built by hand so the hot path does not go through `JSONEncoder`.
    public var statusJSON: JSONValue {
        var object: [String: JSONValue] = [
            "kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
            "message": .string(message), "reason": .string(reason), "code": .int(Int64(code)),
        ]
        if let details {
            var d: [String: JSONValue] = [:]
            if let name = details.name { d["name"] = .string(name) }
            if let group = details.group { d["group"] = .string(group) }
            if let kind = details.kind { d["kind"] = .string(kind) }
            if let uid = details.uid { d["uid"] = .string(uid) }
            if let retry = details.retryAfterSeconds { d["retryAfterSeconds"] = .int(Int64(retry)) }
            if let causes = details.causes {
                d["causes"] = .array(causes.map { cause in
                    var c: [String: JSONValue] = [:]
                    if let r = cause.reason { c["reason"] = .string(r) }
                    if let m = cause.message { c["message"] = .string(m) }
                    if let f = cause.field { c["field"] = .string(f) }
                    return .object(c)
                })
            }
            object["details"] = .object(d)
        }
        return .object(object)
    }

    static func notFound(_ type: ResourceType, _ name: String) -> APIError {
        APIError(code: 404, reason: "NotFound", message: "\(type.qualifiedName) \"\(name)\" not found",
                 details: StatusDetails(name: name, group: type.group, kind: type.plural))
    }

    static func alreadyExists(_ type: ResourceType, _ name: String) -> APIError {
        APIError(code: 409, reason: "AlreadyExists", message: "\(type.qualifiedName) \"\(name)\" already exists",
                 details: StatusDetails(name: name, group: type.group, kind: type.plural))
    }

    static func conflict(_ type: ResourceType, _ name: String, _ why: String) -> APIError {
        APIError(code: 409, reason: "Conflict",
                 message: "Operation cannot be fulfilled on \(type.qualifiedName) \"\(name)\": \(why)",
                 details: StatusDetails(name: name, group: type.group, kind: type.plural))
    }

    static func badRequest(_ message: String) -> APIError {
        APIError(code: 400, reason: "BadRequest", message: message)
    }

    static func invalid(_ type: ResourceType, _ name: String, _ causes: [StatusCause]) -> APIError {
        let list = causes.map { cause in
            [cause.field, cause.message].compactMap { $0 }.joined(separator: ": ")
        }
        let summary = list.count == 1 ? list[0] : "[" + list.joined(separator: ", ") + "]"
        let qualifiedKind = type.group.isEmpty ? type.kind : "\(type.kind).\(type.group)"
        return APIError(code: 422, reason: "Invalid", message: "\(qualifiedKind) \"\(name)\" is invalid: \(summary)",
                        details: StatusDetails(name: name, group: type.group, kind: type.kind, causes: causes))
    }

    static func methodNotAllowed(_ message: String) -> APIError {
        APIError(code: 405, reason: "MethodNotAllowed", message: message)
    }

    static func gone(_ message: String) -> APIError {
        APIError(code: 410, reason: "Expired", message: message)
    }

    static func unsupportedMediaType(_ contentType: String) -> APIError {
        APIError(code: 415, reason: "UnsupportedMediaType",
                 message: "the body of the request was in an unknown format - accepted media types include: "
                    + "application/json, application/yaml, application/merge-patch+json, "
                    + "application/json-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml"
                    + " (got \(contentType))")
    }
}

