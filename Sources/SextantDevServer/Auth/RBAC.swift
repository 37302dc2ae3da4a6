import SextantJSON
import SextantKubeTypes

/// Who made a request, as kube-apiserver's authenticators name users.
public struct UserInfo: Sendable, Equatable {
    public var name: String
    public var uid: String
    public var groups: [String]

    public init(name: String, uid: String = "", groups: [String]) {
        self.name = name
        self.uid = uid
        self.groups = groups
    }

    /// The admin of the kubeconfig the server writes.
    static let admin = UserInfo(name: "sextant-dev-admin", groups: ["system:masters", "system:authenticated"])

    /// A ServiceAccount's user and groups (`system:serviceaccount:NS:NAME`).
    static func serviceAccount(namespace: String, name: String, uid: String) -> UserInfo {
        UserInfo(name: "system:serviceaccount:\(namespace):\(name)", uid: uid,
                 groups: ["system:serviceaccounts", "system:serviceaccounts:\(namespace)", "system:authenticated"])
    }
}

/// What a request does, in the terms of Kubernetes' authorizer (`authorizer.Attributes`, derived
/// from the URL the way kube-apiserver's RequestInfoFactory derives it).
struct RequestAttributes: Sendable, Equatable {
    var verb: String
    var isResourceRequest: Bool
    var path: String
    var apiGroup = ""
    var namespace = ""
    var resource = ""
    var subresource = ""
    var name = ""

    init(verb: String, isResourceRequest: Bool, path: String) {
        self.verb = verb
        self.isResourceRequest = isResourceRequest
        self.path = path
    }

    init(method: String, path: String, query: [String: String]) {
        let segments = path.split(separator: "/").map(String.init)
        var parts: [String]
        var group = ""
        if segments.count >= 3, segments[0] == "api" {
            parts = Array(segments[2...])
        } else if segments.count >= 4, segments[0] == "apis" {
            group = segments[1]
            parts = Array(segments[3...])
        } else {
            self.init(verb: method.lowercased(), isResourceRequest: false, path: path)
            return
        }
        let watching = query["watch"] == "true" || query["watch"] == "1"
        self.init(verb: "", isResourceRequest: true, path: path)
        apiGroup = group
        if parts.first == "namespaces", parts.count > 1 {
            namespace = parts[1]
            if parts.count > 2 && parts[2] != "status" && parts[2] != "finalize" { parts.removeFirst(2) }
        }
        resource = parts.first ?? ""
        name = parts.count > 1 ? parts[1] : ""
        subresource = parts.count > 2 ? parts[2...].joined(separator: "/") : ""
        switch method {
        case "GET", "HEAD": verb = watching ? "watch" : (name.isEmpty ? "list" : "get")
        case "POST": verb = "create"
        case "PUT": verb = "update"
        case "PATCH": verb = "patch"
        case "DELETE": verb = name.isEmpty ? "deletecollection" : "delete"
        default: verb = method.lowercased()
        }
    }
}

/// Kubernetes RBAC over the stored Role, ClusterRole, RoleBinding and ClusterRoleBinding objects
/// (rules, resourceNames, subresources, non-resource URLs; no aggregation), plus the bootstrap
/// policy every cluster has: `system:masters` may do anything, authenticated users may read
/// discovery and ask what they themselves may do.
struct RBACPolicy: Sendable {
    var roles: [String: [JSONValue]] = [:]          // "namespace/name" → rules
    var clusterRoles: [String: [JSONValue]] = [:]   // name → rules
    var roleBindings: [JSONValue] = []
    var clusterRoleBindings: [JSONValue] = []

    init(roles: [JSONValue], clusterRoles: [JSONValue], roleBindings: [JSONValue], clusterRoleBindings: [JSONValue]) {
        for role in roles {
            let key = (role[path: ["metadata", "namespace"]]?.stringValue ?? "") + "/" + (role[path: ["metadata", "name"]]?.stringValue ?? "")
            self.roles[key] = role["rules"]?.arrayValue ?? []
        }
        for role in clusterRoles {
            self.clusterRoles[role[path: ["metadata", "name"]]?.stringValue ?? ""] = role["rules"]?.arrayValue ?? []
        }
        self.roleBindings = roleBindings
        self.clusterRoleBindings = clusterRoleBindings
    }

    static let bootstrapRules: [JSONValue] = [
        ["verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz",
                                              "/version", "/version/", "/openapi", "/openapi/*"]],
        ["verbs": ["create"], "apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]],
        ["verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"]],
    ]

    /// The decision and, when allowed, the binding that allowed it (the real authorizer's reason).
    func allows(_ user: UserInfo, _ attributes: RequestAttributes) -> (allowed: Bool, reason: String) {
        if user.groups.contains("system:masters") { return (true, "") }
        if user.groups.contains("system:authenticated"), Self.bootstrapRules.contains(where: { Self.rule($0, allows: attributes) }) {
            return (true, "RBAC: allowed by the bootstrap discovery and self-review policy")
        }
        for binding in clusterRoleBindings where Self.binds(binding, user, bindingNamespace: "") {
            let role = binding[path: ["roleRef", "name"]]?.stringValue ?? ""
            if (clusterRoles[role] ?? []).contains(where: { Self.rule($0, allows: attributes) }) {
                return (true, "RBAC: allowed by ClusterRoleBinding \"\(binding[path: ["metadata", "name"]]?.stringValue ?? "")\" of ClusterRole \"\(role)\" to \(user.name)")
            }
        }
        guard !attributes.namespace.isEmpty else { return (false, "") }
        for binding in roleBindings where binding[path: ["metadata", "namespace"]]?.stringValue == attributes.namespace
            && Self.binds(binding, user, bindingNamespace: attributes.namespace) {
            let kind = binding[path: ["roleRef", "kind"]]?.stringValue ?? ""
            let role = binding[path: ["roleRef", "name"]]?.stringValue ?? ""
            let rules = kind == "ClusterRole" ? clusterRoles[role] : roles[attributes.namespace + "/" + role]
            if (rules ?? []).contains(where: { Self.rule($0, allows: attributes) }) {
                return (true, "RBAC: allowed by RoleBinding \"\(binding[path: ["metadata", "name"]]?.stringValue ?? "")/\(attributes.namespace)\" of \(kind) \"\(role)\" to \(user.name)")
            }
        }
        return (false, "")
    }

    static func binds(_ binding: JSONValue, _ user: UserInfo, bindingNamespace: String) -> Bool {
        for subject in binding["subjects"]?.arrayValue ?? [] {
            let name = subject["name"]?.stringValue ?? ""
            switch subject["kind"]?.stringValue {
            case "User": if name == user.name { return true }
            case "Group": if user.groups.contains(name) { return true }
            case "ServiceAccount":
                let namespace = subject["namespace"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? bindingNamespace
                if user.name == "system:serviceaccount:\(namespace):\(name)" { return true }
            default: continue
            }
        }
        return false
    }

    static func rule(_ rule: JSONValue, allows attributes: RequestAttributes) -> Bool {
        func list(_ key: String) -> [String] { rule[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        let verbs = list("verbs")
        guard verbs.contains("*") || verbs.contains(attributes.verb) else { return false }
        guard attributes.isResourceRequest else {
            return list("nonResourceURLs").contains { url in
                url == "*" || url == attributes.path || (url.hasSuffix("*") && attributes.path.hasPrefix(String(url.dropLast())))
            }
        }
        let groups = list("apiGroups")
        guard groups.contains("*") || groups.contains(attributes.apiGroup) else { return false }
        let resources = list("resources")
        let combined = attributes.subresource.isEmpty ? attributes.resource : attributes.resource + "/" + attributes.subresource
        let resourceMatches = resources.contains { resource in
            resource == "*" || resource == combined
                || (!attributes.subresource.isEmpty && resource == "*/" + attributes.subresource)
        }
        guard resourceMatches else { return false }
        let names = list("resourceNames")
        return names.isEmpty || (!attributes.name.isEmpty && names.contains(attributes.name))
    }

    /// kube-apiserver's 403: `configmaps "x" is forbidden: User "u" cannot get resource
    /// "configmaps" in API group "" in the namespace "ns"`.
    static func forbidden(_ user: UserInfo, _ attributes: RequestAttributes) -> APIError {
        guard attributes.isResourceRequest else {
            return APIError(code: 403, reason: "Forbidden",
                            message: "forbidden: User \"\(user.name)\" cannot \(attributes.verb) path \"\(attributes.path)\"",
                            details: StatusDetails())
        }
        let resource = attributes.subresource.isEmpty ? attributes.resource : attributes.resource + "/" + attributes.subresource
        let scope = attributes.namespace.isEmpty ? "at the cluster scope" : "in the namespace \"\(attributes.namespace)\""
        let reason = "User \"\(user.name)\" cannot \(attributes.verb) resource \"\(resource)\" in API group \"\(attributes.apiGroup)\" \(scope)"
        let qualified = attributes.apiGroup.isEmpty ? attributes.resource : attributes.resource + "." + attributes.apiGroup
        let subject = attributes.name.isEmpty ? qualified : "\(qualified) \"\(attributes.name)\""
        return APIError(code: 403, reason: "Forbidden", message: "\(subject) is forbidden: \(reason)",
                        details: StatusDetails(name: attributes.name.isEmpty ? nil : attributes.name, group: attributes.apiGroup,
                                               kind: attributes.resource))
    }
}
