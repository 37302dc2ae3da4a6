import Hummingbird
import Logging
import NIOCore

/// Where an HTTP endpoint listens, parsed from controller-runtime style flags:
/// `:8080` (all interfaces), `127.0.0.1:8080`, `[::1]:8080`, or `0` (disabled).
public struct BindAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// nil for "0" (disabled); throws with the offending text for anything unparseable.
    public static func parse(_ text: String) throws -> BindAddress? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "0" || trimmed.isEmpty { return nil }
        guard let colon = trimmed.lastIndex(of: ":") else {
            throw BindAddressError(text: text, reason: "expected host:port or :port")
        }
        var host = String(trimmed[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard let port = Int(trimmed[trimmed.index(after: colon)...]), (0...65535).contains(port) else {
            throw BindAddressError(text: text, reason: "port must be a number from 0 to 65535")
        }
        return BindAddress(host: host.isEmpty ? "0.0.0.0" : host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

public struct BindAddressError: Error, CustomStringConvertible, Sendable {
    public var text: String
    public var reason: String
    public var description: String { "invalid bind address \"\(text)\": \(reason)" }
}

/// Serves `/metrics`, `/healthz` and `/readyz`; one responder serves both bind addresses.
struct ProbeResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let metrics: OperatorMetrics
    let ready: @Sendable () -> (Bool, String)

    func respond(to request: Request, context: Context) async throws -> Response {
        switch request.uri.path {
        case "/metrics":
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers,
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.registry.emitToBuffer())))
        case "/healthz", "/livez":
            return text(.ok, "ok")
        case "/readyz":
            let (isReady, detail) = ready()
            return text(isReady ? .ok : .serviceUnavailable, detail)
        default:
            return text(.notFound, "not found: \(request.uri.path)")
        }
    }

    private func text(_ status: HTTPResponse.Status, _ body: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body + "\n")))
    }
}
