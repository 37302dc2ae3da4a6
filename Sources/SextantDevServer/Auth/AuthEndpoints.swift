import Foundation
import SextantJSON

/// How requests are authorized: everyone who authenticated may do anything (the default, for
/// the admin kubeconfig), or Kubernetes RBAC over the stored roles and bindings.
public enum AuthorizationMode: String, Sendable, CaseIterable {
    case alwaysAllow = "AlwaysAllow"
    case rbac = "RBAC"
}

/// Authentication (the admin token, ServiceAccount tokens, impersonation), the RBAC check of every
/// request, and the endpoints of authentication.k8s.io and authorization.k8s.io: TokenRequest
/// (`serviceaccounts/NAME/token`, `kubectl create token`), TokenReview, SelfSubjectReview
/// (`kubectl auth whoami`), SubjectAccessReview, SelfSubjectAccessReview (`kubectl auth can-i`)
/// and LocalSubjectAccessReview.
extension DevAPIHandler {
    static let unauthorized = APIError(code: 401, reason: "Unauthorized", message: "Unauthorized")

    func authenticate(_ request: APIRequest) async throws -> UserInfo {
        var user: UserInfo
        let header = request.headers["authorization"] ?? ""
        let presented = header.hasPrefix("Bearer ") ? String(header.dropFirst(7)).trimmingSpaces : nil
        if let presented, let token, presented == token {
            user = .admin
        } else if let presented, let account = await serviceAccountUser(presented) {
            user = account
        } else if token == nil && authorization == .alwaysAllow {
            user = .admin  // no credentials required: the server as before RBAC
        } else {
            throw Self.unauthorized
        }
        if let target = request.headers["impersonate-user"], !target.isEmpty {
            var attributes = RequestAttributes(verb: "impersonate", isResourceRequest: true, path: request.path)
            attributes.resource = "users"
            attributes.name = target
            if authorization == .rbac, !(await rbacPolicy()).allows(user, attributes).allowed {
                throw RBACPolicy.forbidden(user, attributes)
            }
            let parts = target.split(separator: ":").map(String.init)
            if parts.count == 4, parts[0] == "system", parts[1] == "serviceaccount" {
                user = .serviceAccount(namespace: parts[2], name: parts[3], uid: "")
            } else {
                let groups = (request.headers["impersonate-group"] ?? "").split(separator: ",").map { $0.trimmingSpaces }.filter { !$0.isEmpty }
                user = UserInfo(name: target, groups: groups + ["system:authenticated"])
            }
        }
        return user
    }

    func serviceAccountUser(_ token: String) async -> UserInfo? {
        guard let claims = tokens.verify(token, now: Int64(Date().timeIntervalSince1970)),
              let type = await store.resourceType(group: "", version: "v1", plural: "serviceaccounts"),
              let account = await store.getIfPresent(type, namespace: claims.namespace, name: claims.name),
              account[path: ["metadata", "uid"]]?.stringValue == claims.uid else { return nil }
        return .serviceAccount(namespace: claims.namespace, name: claims.name, uid: claims.uid)
    }

    func rbacPolicy() async -> RBACPolicy {
        func all(_ plural: String) async -> [JSONValue] {
            guard let type = await store.resourceType(group: "rbac.authorization.k8s.io", version: "v1", plural: plural),
                  let (items, _, _, _) = try? await store.list(type, namespace: nil, options: ListOptions()) else { return [] }
            return items
        }
        return RBACPolicy(roles: await all("roles"), clusterRoles: await all("clusterroles"),
                          roleBindings: await all("rolebindings"), clusterRoleBindings: await all("clusterrolebindings"))
    }

    /// The RBAC check of a request (with `--authorization-mode RBAC`); 403 as kube-apiserver words it.
    func authorize(_ user: UserInfo, _ request: APIRequest, path: String) async throws {
        guard authorization == .rbac else { return }
        let attributes = RequestAttributes(method: request.method, path: path, query: request.query)
        if path.hasPrefix("/sextant-dev/") {
            guard user.groups.contains("system:masters") else { throw RBACPolicy.forbidden(user, attributes) }
            return
        }
        let allowed = (await rbacPolicy()).allows(user, attributes).allowed
        if !user.groups.contains("system:masters") { authorizationLog.record(AuthorizationDecision(user, attributes, allowed: allowed)) }
        guard allowed else { throw RBACPolicy.forbidden(user, attributes) }
    }

    /// Answers the authentication and authorization endpoints; nil for every other request.
    func authEndpoint(_ request: APIRequest, group: String, rest: [String], user: UserInfo) async throws -> APIResponse? {
        guard request.method == "POST" else { return nil }
        switch (group, rest.count, rest.last) {
        case ("", 5, "token") where rest[0] == "namespaces" && rest[2] == "serviceaccounts":
            return try await tokenRequest(request, namespace: rest[1], name: rest[3])
        case ("authentication.k8s.io", 1, "tokenreviews"):
            let body = try parseBody(request)
            let reviewed = await serviceAccountUser(body[path: ["spec", "token"]]?.stringValue ?? "")
            var status: [String: JSONValue] = ["authenticated": .bool(reviewed != nil)]
            if let reviewed { status["user"] = Self.userJSON(reviewed) } else { status["error"] = "invalid bearer token" }
            if let audiences = body[path: ["spec", "audiences"]] { status["audiences"] = audiences }
            return .json(Self.review(body, kind: "TokenReview", apiVersion: "authentication.k8s.io/v1", status: .object(status)), status: 201)
        case ("authentication.k8s.io", 1, "selfsubjectreviews"):
            let body = (try? parseBody(request)) ?? [:]
            return .json(Self.review(body, kind: "SelfSubjectReview", apiVersion: "authentication.k8s.io/v1",
                                     status: ["userInfo": Self.userJSON(user)]), status: 201)
        case ("authorization.k8s.io", 1, "subjectaccessreviews"):
            let body = try parseBody(request)
            let spec = body["spec"] ?? [:]
            let subject = UserInfo(name: spec["user"]?.stringValue ?? "", uid: spec["uid"]?.stringValue ?? "",
                                   groups: spec["groups"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            return try await accessReview(body, kind: "SubjectAccessReview", subject: subject, namespace: nil)
        case ("authorization.k8s.io", 1, "selfsubjectaccessreviews"):
            return try await accessReview(try parseBody(request), kind: "SelfSubjectAccessReview", subject: user, namespace: nil)
        case ("authorization.k8s.io", 3, "localsubjectaccessreviews") where rest[0] == "namespaces":
            let body = try parseBody(request)
            let spec = body["spec"] ?? [:]
            let subject = UserInfo(name: spec["user"]?.stringValue ?? "", uid: spec["uid"]?.stringValue ?? "",
                                   groups: spec["groups"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            return try await accessReview(body, kind: "LocalSubjectAccessReview", subject: subject, namespace: rest[1])
        default:
            return nil
        }
    }

    func tokenRequest(_ request: APIRequest, namespace: String, name: String) async throws -> APIResponse {
        guard let type = await store.resourceType(group: "", version: "v1", plural: "serviceaccounts") else {
            throw notFound(request.path)
        }
        let account = try await store.get(type, namespace: namespace, name: name)
        let body = request.body.isEmpty ? [:] : try parseBody(request)
        let requested = body[path: ["spec", "expirationSeconds"]]?.intValue ?? 3600
        guard requested >= 600 else {
            throw APIError(code: 422, reason: "Invalid", message: "TokenRequest.authentication.k8s.io \"\(name)\" is invalid: spec.expirationSeconds: Invalid value: \(requested): may not specify a duration less than 10 minutes")
        }
        let expiration = min(requested, 48 * 3600)
        let audiences = body[path: ["spec", "audiences"]]?.arrayValue?.compactMap(\.stringValue).filter { !$0.isEmpty } ?? []
        let now = Int64(Date().timeIntervalSince1970)
        let claims = ServiceAccountTokens.Claims(namespace: namespace, name: name,
                                                 uid: account[path: ["metadata", "uid"]]?.stringValue ?? "",
                                                 expires: now + expiration, audiences: audiences.isEmpty ? [ServiceAccountTokens.issuer] : audiences)
        let token = tokens.issue(claims, now: now)
        let response: JSONValue = [
            "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "metadata": ["name": .string(name), "namespace": .string(namespace), "creationTimestamp": .string(ObjectStore.now())],
            "spec": ["audiences": .array(claims.audiences.map(JSONValue.string)), "expirationSeconds": .int(expiration)],
            "status": ["token": .string(token), "expirationTimestamp": .string(ProtoSpecialFields.formatTime(seconds: claims.expires, nanos: 0, micro: false))],
        ]
        return .json(response, status: 201)
    }

    func accessReview(_ body: JSONValue, kind: String, subject: UserInfo, namespace: String?) async throws -> APIResponse {
        let spec = body["spec"] ?? [:]
        var attributes: RequestAttributes
        if let resource = spec["resourceAttributes"], resource.objectValue != nil {
            attributes = RequestAttributes(verb: resource["verb"]?.stringValue ?? "", isResourceRequest: true, path: "")
            attributes.apiGroup = resource["group"]?.stringValue ?? ""
            attributes.namespace = resource["namespace"]?.stringValue ?? ""
            attributes.resource = resource["resource"]?.stringValue ?? ""
            attributes.subresource = resource["subresource"]?.stringValue ?? ""
            attributes.name = resource["name"]?.stringValue ?? ""
            if let namespace, attributes.namespace != namespace {
                throw APIError.badRequest("spec.resourceAttributes.namespace must equal the namespace of the LocalSubjectAccessReview (\(namespace))")
            }
        } else if let nonResource = spec["nonResourceAttributes"], nonResource.objectValue != nil {
            attributes = RequestAttributes(verb: nonResource["verb"]?.stringValue ?? "", isResourceRequest: false,
                                           path: nonResource["path"]?.stringValue ?? "")
        } else {
            throw APIError.badRequest("\(kind): exactly one of spec.resourceAttributes and spec.nonResourceAttributes must be set")
        }
        var decision: (allowed: Bool, reason: String) = (true, "AlwaysAllow")
        if authorization == .rbac { decision = (await rbacPolicy()).allows(subject, attributes) }
        var status: [String: JSONValue] = ["allowed": .bool(decision.allowed)]
        if !decision.reason.isEmpty { status["reason"] = .string(decision.reason) }
        let apiVersion = "authorization.k8s.io/v1"
        return .json(Self.review(body, kind: kind, apiVersion: apiVersion, status: .object(status)), status: 201)
    }

    static func review(_ body: JSONValue, kind: String, apiVersion: String, status: JSONValue) -> JSONValue {
        var review = body
        review["kind"] = .string(kind)
        review["apiVersion"] = .string(apiVersion)
        var metadata = body["metadata"]?.objectValue ?? [:]
        metadata["creationTimestamp"] = .string(ObjectStore.now())
        review["metadata"] = .object(metadata)
        review["status"] = status
        return review
    }

    static func userJSON(_ user: UserInfo) -> JSONValue {
        var object: [String: JSONValue] = ["username": .string(user.name), "groups": .array(user.groups.map(JSONValue.string))]
        if !user.uid.isEmpty { object["uid"] = .string(user.uid) }
        return .object(object)
    }
}
