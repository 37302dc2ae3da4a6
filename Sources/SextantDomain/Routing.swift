import SextantAPI
import SextantJSON

// Traffic routing through objects the user owns (Istio VirtualService, Gateway API HTTPRoute and
// GRPCRoute): see docs/routing.md.

/// Where traffic should go: the split the canary state machine asks for.
public struct TrafficSplit: Sendable, Hashable, Codable, CustomStringConvertible {
    /// 0...100; the stable destination gets the rest.
    public var canaryWeight: Int
    /// Shadow: mirror this share (0...100) of the owned routes' requests to the canary.
    public var mirrorPercent: Int?
    /// A/B: requests matching any of these reach the canary through a route of Sextant's own.
    public var abMatch: [ABMatch]?
    /// Session affinity: the canary sets this cookie and requests carrying it reach the canary.
    public var sessionAffinity: AffinityCookie?

    public init(canaryWeight: Int, mirrorPercent: Int? = nil, abMatch: [ABMatch]? = nil,
                sessionAffinity: AffinityCookie? = nil) {
        self.canaryWeight = canaryWeight
        self.mirrorPercent = mirrorPercent
        self.abMatch = abMatch
        self.sessionAffinity = sessionAffinity
    }

    /// The matches of Sextant's match route (`sextant-ab-<rollout>`): the A/B match, else the
    /// affinity cookie. A rollout has at most one of them (validation: affinity needs strategy.canary).
    var matchRoute: [ABMatch]? {
        if let abMatch, !abMatch.isEmpty { return abMatch }
        return sessionAffinity.map { [ABMatch(cookie: CookieMatch(name: $0.name, value: $0.value))] }
    }

    /// This split with session affinity per `spec.analysis.sessionAffinity`: only while a canary
    /// version takes a share of the traffic, 1...99 % (a weight of 0 or 100, promotion and
    /// rollback remove it; at 100 % every request reaches the canary anyway).
    public func withSessionAffinity(_ affinity: SessionAffinity?, rollout: String, canaryVersion: String?) -> TrafficSplit {
        var split = self
        if let affinity, let canaryVersion, (1...99).contains(canaryWeight), mirrorPercent == nil, (abMatch ?? []).isEmpty {
            split.sessionAffinity = AffinityCookie(affinity, rollout: rollout, canaryVersion: canaryVersion)
        } else {
            split.sessionAffinity = nil
        }
        return split
    }

    public var stableWeight: Int { 100 - canaryWeight }

    /// `stable/canary` weights, plus the mirror share and the A/B route when set.
    public var description: String {
        var text = "\(stableWeight)/\(canaryWeight)"
        if let mirrorPercent { text += " mirror \(mirrorPercent)%" }
        if let abMatch, !abMatch.isEmpty { text += " A/B route (\(abMatch.count) match\(abMatch.count == 1 ? "" : "es"))" }
        if let sessionAffinity { text += " affinity cookie \(sessionAffinity.name)" }
        return text
    }

    func validate() throws(RoutingError) {
        guard (0...100).contains(canaryWeight) else {
            throw RoutingError(.invalidSplit, "canary weight \(canaryWeight) is outside 0...100")
        }
        if let mirrorPercent, !(0...100).contains(mirrorPercent) {
            throw RoutingError(.invalidSplit, "mirror percent \(mirrorPercent) is outside 0...100")
        }
    }
}

/// The cookie of session affinity. Its value, `sextant_<rollout>_<canary version>`, is new for
/// each candidate (a cookie from an earlier canary never matches) and marks the `Set-Cookie`
/// header as Sextant's: `_` never occurs in a Kubernetes name, so the prefix names one rollout.
public struct AffinityCookie: Sendable, Hashable, Codable {
    public var name: String
    public var value: String
    public var maxAge: Int

    public init(name: String, value: String, maxAge: Int) {
        self.name = name
        self.value = value
        self.maxAge = maxAge
    }

    public init(_ spec: SessionAffinity, rollout: String, canaryVersion: String) {
        self.init(name: spec.cookieName, value: Self.valuePrefix(rollout: rollout) + canaryVersion,
                  maxAge: spec.maxAge ?? SessionAffinity.defaultMaxAge)
    }

    public static func valuePrefix(rollout: String) -> String { "sextant_\(rollout)_" }

    /// The `Set-Cookie` header value the canary's responses get.
    public var setCookie: String { "\(name)=\(value); Max-Age=\(maxAge)" }

    /// True when `header` is a `Set-Cookie` value Sextant wrote for `rollout` (any name, version, age).
    public static func isOurs(_ header: String, rollout: String) -> Bool {
        guard let equals = header.firstIndex(of: "=") else { return false }
        return header[header.index(after: equals)...].hasPrefix(valuePrefix(rollout: rollout))
    }
}

/// Why traffic could not be routed. `reason` is meant for a status condition's reason and
/// `message` names the object, the route (name or index) and the host/subset involved.
public struct RoutingError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        case virtualServiceNotFound = "VirtualServiceNotFound"
        case routeNotFound = "RouteNotFound"
        case destinationNotFound = "DestinationNotFound"
        /// A third destination in an owned route, or the stable/canary destination twice.
        case unexpectedDestination = "UnexpectedDestination"
        case destinationRuleNotFound = "DestinationRuleNotFound"
        case subsetNotFound = "SubsetNotFound"
        case serviceNotFound = "ServiceNotFound"
        /// An owned route already mirrors to something other than the canary.
        case conflictingMirror = "ConflictingMirror"
        /// An owned route's match already tests a header the A/B match needs.
        case conflictingMatch = "ConflictingMatch"
        /// The canary destination already adds a `Set-Cookie` response header Sextant did not set.
        case conflictingHeader = "ConflictingResponseHeader"
        /// A field Sextant reads has the wrong type or shape, or the server rejected the write.
        case invalidVirtualService = "InvalidVirtualService"
        case invalidDestinationRule = "InvalidDestinationRule"
        case invalidService = "InvalidService"
        /// The CanaryRollout's routing or A/B match is unusable.
        case invalidSpec = "InvalidRoutingSpec"
        /// Weights or mirror share outside 0...100.
        case invalidSplit = "InvalidSplit"
        /// The HTTPRoute or GRPCRoute does not exist (the message names the kind).
        case gatewayRouteNotFound = "GatewayRouteNotFound"
        /// A field of the HTTPRoute/GRPCRoute Sextant reads has the wrong type, or the server refused the write.
        case invalidGatewayRoute = "InvalidGatewayRoute"
        /// The object read back after the write does not route as asked.
        case verificationFailed = "RoutingNotVerified"
    }

    public var reason: Reason
    public var message: String

    public init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    public var description: String { "\(reason.rawValue): \(message)" }
}

/// What the owned routes of a VirtualService route now: for read-back, drift detection and status.
public struct ObservedRouting: Sendable, Hashable, Codable, CustomStringConvertible {
    public var resourceVersion: String?
    /// The owned routes in VirtualService order.
    public var routes: [ObservedRoute]
    /// Index of Sextant's A/B route (`sextant-ab-<rollout>`), when present.
    public var abTestRouteIndex: Int?

    public init(resourceVersion: String?, routes: [ObservedRoute], abTestRouteIndex: Int?) {
        self.resourceVersion = resourceVersion
        self.routes = routes
        self.abTestRouteIndex = abTestRouteIndex
    }

    /// True when every owned route has the same weights and mirror.
    public var consistent: Bool {
        guard let first = routes.first else { return true }
        return routes.allSatisfy {
            $0.stableWeight == first.stableWeight && $0.canaryWeight == first.canaryWeight
                && $0.mirrorPercent == first.mirrorPercent
        }
    }

    /// The canary weight when all owned routes agree and their weights sum to 100.
    public var canaryWeight: Int? {
        guard consistent, let first = routes.first, first.stableWeight + first.canaryWeight == 100 else { return nil }
        return first.canaryWeight
    }

    /// `90/10` when the owned routes agree, else each route's weights: for Events and status.
    public var description: String {
        var text: String
        if consistent, let first = routes.first {
            text = first.weights
        } else {
            text = routes.map { "\($0.label) \($0.weights)" }.joined(separator: ", ")
        }
        if abTestRouteIndex != nil { text += " + A/B route" }
        return text
    }
}

public struct ObservedRoute: Sendable, Hashable, Codable {
    public var index: Int
    public var name: String?
    public var stableWeight: Int
    public var canaryWeight: Int
    /// `mirrorPercentage.value` while the route mirrors to the canary (100 when the share is unset).
    public var mirrorPercent: Double?

    public init(index: Int, name: String?, stableWeight: Int, canaryWeight: Int, mirrorPercent: Double?) {
        self.index = index
        self.name = name
        self.stableWeight = stableWeight
        self.canaryWeight = canaryWeight
        self.mirrorPercent = mirrorPercent
    }

    /// The route's name, or `http[i]` for an unnamed one.
    public var label: String { name.map { "\"\($0)\"" } ?? "http[\(index)]" }

    var weights: String {
        var text = "\(stableWeight)/\(canaryWeight)"
        if let mirrorPercent { text += " mirror \(formatPercent(mirrorPercent))%" }
        return text
    }
}

func formatPercent(_ value: Double) -> String {
    value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
}

// MARK: Hosts

/// A destination host as Istio resolves it: a short name, `name.namespace`, `name.namespace.svc`
/// and `name.namespace.svc.<cluster domain>` are the same Kubernetes Service.
public struct ServiceHost: Hashable, Sendable {
    public enum Form: Hashable, Sendable {
        /// A Kubernetes Service; a nil namespace (no namespace known) matches any.
        case service(name: String, namespace: String?)
        /// Anything else (external hosts, wildcards): compared as written.
        case other(String)
    }
    public let form: Form

    public init(_ host: String, defaultNamespace: String?) {
        let lower = host.lowercased()
        let parts = lower.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 1, !lower.isEmpty, !lower.contains("*") {
            form = .service(name: lower, namespace: defaultNamespace)
        } else if parts.count == 2, !lower.contains("*") {
            form = .service(name: parts[0], namespace: parts[1])
        } else if parts.count >= 3, parts[2] == "svc", !lower.contains("*") {
            form = .service(name: parts[0], namespace: parts[1])
        } else {
            form = .other(lower)
        }
    }

    public func matches(_ other: ServiceHost) -> Bool {
        switch (form, other.form) {
        case (.service(let a, let ans), .service(let b, let bns)):
            return a == b && (ans == nil || bns == nil || ans == bns)
        case (.other(let a), .other(let b)):
            return a == b
        default:
            return false
        }
    }
}

// MARK: JSON patch helpers

enum PatchOp {
    static func test(_ path: [String], _ value: JSONValue) -> JSONValue {
        ["op": "test", "path": .string(JSONPointer(tokens: path).description), "value": value]
    }
    static func add(_ path: [String], _ value: JSONValue) -> JSONValue {
        ["op": "add", "path": .string(JSONPointer(tokens: path).description), "value": value]
    }
    static func replace(_ path: [String], _ value: JSONValue) -> JSONValue {
        ["op": "replace", "path": .string(JSONPointer(tokens: path).description), "value": value]
    }
    static func remove(_ path: [String]) -> JSONValue {
        ["op": "remove", "path": .string(JSONPointer(tokens: path).description)]
    }
}

/// `Kind namespace/name` for messages.
func objectLabel(_ kind: String, _ object: JSONValue, fallbackName: String) -> String {
    let name = object[path: ["metadata", "name"]]?.stringValue ?? fallbackName
    if let namespace = object[path: ["metadata", "namespace"]]?.stringValue, !namespace.isEmpty {
        return "\(kind) \(namespace)/\(name)"
    }
    return "\(kind) \(name)"
}
