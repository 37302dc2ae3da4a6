import SextantJSON
import Synchronization

/// One distinct decision of the RBAC authorizer: who, which verb on which resource (or
/// non-resource path), where, and whether it was allowed. Names of objects are left out so the
/// set stays small (one entry per distinct request kind, with a count).
public struct AuthorizationDecision: Sendable, Hashable {
    public var user: String
    public var verb: String
    public var apiGroup: String
    public var resource: String
    public var subresource: String
    public var namespace: String
    /// The path of a non-resource request (`/version`, `/apis`); empty for resource requests.
    public var nonResourcePath: String
    public var allowed: Bool

    /// `resource/subresource` as RBAC rules name it.
    public var ruleResource: String { subresource.isEmpty ? resource : resource + "/" + subresource }

    init(_ user: UserInfo, _ attributes: RequestAttributes, allowed: Bool) {
        self.user = user.name
        verb = attributes.verb
        apiGroup = attributes.apiGroup
        resource = attributes.resource
        subresource = attributes.subresource
        namespace = attributes.namespace
        nonResourcePath = attributes.isResourceRequest ? "" : attributes.path
        self.allowed = allowed
    }

    var json: JSONValue {
        ["user": .string(user), "verb": .string(verb), "apiGroup": .string(apiGroup), "resource": .string(resource),
         "subresource": .string(subresource), "namespace": .string(namespace), "nonResourcePath": .string(nonResourcePath),
         "allowed": .bool(allowed)]
    }
}

/// What the RBAC authorizer decided for every user outside `system:masters`, so a test (or
/// `GET /sextant-dev/authorizations`) can tell which rules a component used and what it was
/// refused. Bounded: after `limit` distinct decisions new kinds are only counted as dropped.
final class AuthorizationLog: Sendable {
    static let limit = 10_000
    private let state = Mutex<(counts: [AuthorizationDecision: Int], dropped: Int)>(([:], 0))

    func record(_ decision: AuthorizationDecision) {
        state.withLock { state in
            if let count = state.counts[decision] {
                state.counts[decision] = count + 1
            } else if state.counts.count < Self.limit {
                state.counts[decision] = 1
            } else {
                state.dropped += 1
            }
        }
    }

    var decisions: [(decision: AuthorizationDecision, count: Int)] {
        state.withLock { state in
            state.counts.map { ($0.key, $0.value) }.sorted {
                ($0.decision.user, $0.decision.apiGroup, $0.decision.ruleResource, $0.decision.verb, $0.decision.namespace,
                 $0.decision.nonResourcePath)
                    < ($1.decision.user, $1.decision.apiGroup, $1.decision.ruleResource, $1.decision.verb, $1.decision.namespace,
                       $1.decision.nonResourcePath)
            }
        }
    }

    var dropped: Int { state.withLock { $0.dropped } }
}

extension DevAPIHandler {
    /// Every distinct decision the RBAC authorizer made for users outside `system:masters`
    /// (empty in `AlwaysAllow` mode), with how often it was made.
    public func authorizationDecisions() -> [(decision: AuthorizationDecision, count: Int)] {
        authorizationLog.decisions
    }

    /// `GET /sextant-dev/authorizations`: the decisions as JSON.
    func authorizationsJSON() -> JSONValue {
        ["decisions": .array(authorizationLog.decisions.map { entry in
            var object = entry.decision.json
            object["count"] = .int(Int64(entry.count))
            return object
        }), "dropped": .int(Int64(authorizationLog.dropped))]
    }
}
