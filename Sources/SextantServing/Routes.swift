// The server's routes as data: which path is which endpoint and which method it takes. One table
// decides both 404 (no such path) and 405 (the path exists, the method does not, with `Allow`).
import HTTPTypes

public enum Endpoint: String, Sendable, CaseIterable {
    case metrics, live, ready
    case v1Status, v1Predict, v1Explain, v1Feedback
    case v2Server, v2Live, v2Ready, v2Model, v2ModelReady, v2Infer

    /// The one method each endpoint answers.
    public var method: HTTPRequest.Method {
        switch self {
        case .v1Predict, .v1Explain, .v1Feedback, .v2Infer: return .post
        default: return .get
        }
    }
}

/// A request path matched to an endpoint, with the model name and version it names (if any).
public struct RouteMatch: Sendable, Equatable {
    public var endpoint: Endpoint
    public var model: Substring?
    public var version: Substring?

    /// Matches `path` (without the query). V1's `NAME:predict` and `NAME:explain` are one path segment.
    public static func match(_ path: Substring) -> RouteMatch? {
        let s = path.split(separator: "/", omittingEmptySubsequences: true)
        switch s.first {
        case "metrics" where s.count == 1: return RouteMatch(endpoint: .metrics)
        case "healthz" where s.count == 1, "livez" where s.count == 1: return RouteMatch(endpoint: .live)
        case "readyz" where s.count == 1: return RouteMatch(endpoint: .ready)
        case "v1": return v1(Array(s.dropFirst()))
        case "v2": return v2(Array(s.dropFirst()))
        default: return nil
        }
    }

    static func v1(_ s: [Substring]) -> RouteMatch? {
        guard s.count >= 2, s[0] == "models", !s[1].isEmpty else { return nil }
        var name = s[1]
        var verb: Substring = ""
        if let colon = name.lastIndex(of: ":") {
            verb = name[name.index(after: colon)...]
            name = name[..<colon]
        }
        switch (verb, s.count) {
        case ("", 2): return RouteMatch(endpoint: .v1Status, model: name)
        case ("predict", 2): return RouteMatch(endpoint: .v1Predict, model: name)
        case ("explain", 2): return RouteMatch(endpoint: .v1Explain, model: name)
        case ("", 3) where s[2] == "feedback": return RouteMatch(endpoint: .v1Feedback, model: name)
        default: return nil
        }
    }

    static func v2(_ s: [Substring]) -> RouteMatch? {
        if s.isEmpty { return RouteMatch(endpoint: .v2Server) }
        if s.count == 2, s[0] == "health" {
            if s[1] == "live" { return RouteMatch(endpoint: .v2Live) }
            if s[1] == "ready" { return RouteMatch(endpoint: .v2Ready) }
            return nil
        }
        guard s.count >= 2, s[0] == "models" else { return nil }
        var rest = s.dropFirst(2)
        var version: Substring?
        if rest.count >= 2, rest.first == "versions" {
            version = rest.dropFirst().first
            rest = rest.dropFirst(2)
        }
        let endpoint: Endpoint
        switch (rest.first, rest.count) {
        case (nil, 0): endpoint = .v2Model
        case ("ready", 1): endpoint = .v2ModelReady
        case ("infer", 1): endpoint = .v2Infer
        default: return nil
        }
        return RouteMatch(endpoint: endpoint, model: s[1], version: version)
    }
}
