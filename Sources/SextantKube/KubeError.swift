import Foundation
import SextantKubeTypes

/// An error answer of the API server, decoded from its `Status` body.
public struct KubeError: Error, Sendable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        case badRequest, unauthorized, forbidden, notFound, methodNotAllowed, alreadyExists, conflict
        /// 410: the requested resourceVersion is older than the server keeps; relist.
        case expired
        case invalid, tooManyRequests, serverError, timeout, unsupportedMediaType, other
    }

    public var reason: Reason
    public var code: Int
    public var status: Status
    public var verb: String
    public var path: String

    public init(code: Int, status: Status, verb: String, path: String) {
        self.code = code
        self.status = status
        self.verb = verb
        self.path = path
        self.reason = KubeError.reason(code: code, statusReason: status.reason)
    }

    static func reason(code: Int, statusReason: String?) -> Reason {
        switch statusReason {
        case "NotFound": return .notFound
        case "AlreadyExists": return .alreadyExists
        case "Conflict": return .conflict
        case "Invalid": return .invalid
        case "Gone", "Expired": return .expired
        case "Forbidden": return .forbidden
        case "Unauthorized": return .unauthorized
        case "TooManyRequests": return .tooManyRequests
        case "MethodNotAllowed": return .methodNotAllowed
        case "UnsupportedMediaType": return .unsupportedMediaType
        case "Timeout", "ServerTimeout": return .timeout
        default: break
        }
        switch code {
        case 400: return .badRequest
        case 401: return .unauthorized
        case 403: return .forbidden
        case 404: return .notFound
        case 405: return .methodNotAllowed
        case 409: return .conflict
        case 410: return .expired
        case 415: return .unsupportedMediaType
        case 422: return .invalid
        case 429: return .tooManyRequests
        case 504: return .timeout
        case 500...599: return .serverError
        default: return .other
        }
    }

    /// Field-level causes of an `Invalid` answer.
    public var causes: [StatusCause] { status.details?.causes ?? [] }

    public var description: String {
        var text = "\(verb) \(path): \(code)"
        if let r = status.reason { text += " \(r)" }
        if let message = status.message, !message.isEmpty { text += ": \(message)" }
        let fieldCauses = causes.compactMap { cause -> String? in
            guard let field = cause.field else { return cause.message }
            return "\(field): \(cause.message ?? cause.reason ?? "invalid")"
        }
        if !fieldCauses.isEmpty, !(status.message ?? "").contains(fieldCauses[0]) {
            text += " [" + fieldCauses.joined(separator: "; ") + "]"
        }
        return text
    }

    /// Builds the error from a non-2xx answer, whether or not its body is a `Status`.
    static func from(code: Int, body: Data, verb: String, path: String) -> KubeError {
        if let status = try? JSONDecoder().decode(Status.self, from: body), status.kind == "Status" || status.reason != nil {
            return KubeError(code: code, status: status, verb: verb, path: path)
        }
        let text = String(decoding: body.prefix(512), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let status = Status(message: text.isEmpty ? "HTTP \(code)" : text,
                            reason: nil, code: code)
        return KubeError(code: code, status: status, verb: verb, path: path)
    }
}

extension Error {
    /// True when the error is a Kubernetes answer with this reason.
    public func isKube(_ reason: KubeError.Reason) -> Bool {
        (self as? KubeError)?.reason == reason
    }
}
