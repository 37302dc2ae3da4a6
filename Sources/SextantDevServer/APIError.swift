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

    /// The Status body as a value (watch ERROR events embed it).
    public var statusJSON: JSONValue {
        (try? JSONValue.parse(statusObject.bytes())) ?? .null
    }

    /// The Status body with kube-apiserver's key order (the Go struct's field order: kind,
    /// apiVersion, metadata, status, message, reason, details, code), empty fields left out
    /// (no `"group":""` for the core group).
    var statusObject: OrderedObject {
        var object = OrderedObject()
        object.add("kind", "Status")
        object.add("apiVersion", "v1")
        object.add("metadata", .object([:]))
        object.add("status", "Failure")
        if !message.isEmpty { object.add("message", .string(message)) }
        if !reason.isEmpty { object.add("reason", .string(reason)) }
        if let details { object.add("details", Self.detailsObject(details)) }
        if code != 0 { object.add("code", .int(Int64(code))) }
        return object
    }

    /// `metav1.StatusDetails` in field order: name, group, kind, uid, causes, retryAfterSeconds.
    static func detailsObject(_ details: StatusDetails) -> OrderedObject {
        var d = OrderedObject()
        if let name = details.name, !name.isEmpty { d.add("name", .string(name)) }
        if let group = details.group, !group.isEmpty { d.add("group", .string(group)) }
        if let kind = details.kind, !kind.isEmpty { d.add("kind", .string(kind)) }
        if let uid = details.uid, !uid.isEmpty { d.add("uid", .string(uid)) }
        if let causes = details.causes, !causes.isEmpty {
            d.add("causes", causes.map { cause in
                var c = OrderedObject()
                if let r = cause.reason, !r.isEmpty { c.add("reason", .string(r)) }
                if let m = cause.message, !m.isEmpty { c.add("message", .string(m)) }
                if let f = cause.field, !f.isEmpty { c.add("field", .string(f)) }
                return c
            })
        }
        if let retry = details.retryAfterSeconds, retry != 0 { d.add("retryAfterSeconds", .int(Int64(retry))) }
        return d
    }

    /// The `Status` a successful DELETE answers for kinds that do not return the object.
    static func successStatus(name: String, group: String, kind: String, uid: String) -> OrderedObject {
        var object = OrderedObject()
        object.add("kind", "Status")
        object.add("apiVersion", "v1")
        object.add("metadata", .object([:]))
        object.add("status", "Success")
        var details = StatusDetails(name: name, group: group, kind: kind)
        details.uid = uid
        object.add("details", detailsObject(details))
        return object
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


/// A JSON object written with its keys in a fixed order (Go encodes structs in field order;
/// clients and golden files compare bodies byte for byte).
struct OrderedObject: Sendable {
    enum Field: Sendable {
        case value(JSONValue)
        case object(OrderedObject)
        case objects([OrderedObject])
    }
    var fields: [(String, Field)] = []

    mutating func add(_ key: String, _ value: JSONValue) { fields.append((key, .value(value))) }
    mutating func add(_ key: String, _ value: OrderedObject) { fields.append((key, .object(value))) }
    mutating func add(_ key: String, _ values: [OrderedObject]) { fields.append((key, .objects(values))) }

    func bytes() -> [UInt8] {
        var out: [UInt8] = []
        write(to: &out)
        return out
    }

    func write(to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (index, (key, field)) in fields.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out += JSONValue.string(key).serialized()
            out.append(UInt8(ascii: ":"))
            switch field {
            case .value(let value): out += value.serialized(sortedKeys: true)
            case .object(let object): object.write(to: &out)
            case .objects(let objects):
                out.append(UInt8(ascii: "["))
                for (i, object) in objects.enumerated() {
                    if i > 0 { out.append(UInt8(ascii: ",")) }
                    object.write(to: &out)
                }
                out.append(UInt8(ascii: "]"))
            }
        }
        out.append(UInt8(ascii: "}"))
    }
}
