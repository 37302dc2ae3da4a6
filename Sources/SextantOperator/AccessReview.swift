import Foundation
import Prometheus
import SextantKube

/// A user as the API server's TokenReview names it (`status.user`).
public struct ReviewedUser: Sendable, Hashable {
    public var username: String
    public var uid: String
    public var groups: [String]
    public var extra: [String: [String]]

    public init(username: String, uid: String = "", groups: [String] = [], extra: [String: [String]] = [:]) {
        self.username = username
        self.uid = uid
        self.groups = groups
        self.extra = extra
    }
}

/// The answer of a SubjectAccessReview.
public enum AccessDecision: Sendable, Equatable {
    case allowed
    /// Not allowed; the reason the authorizer gave (may be empty).
    case denied(reason: String)
}

/// Who may read an endpoint: authentication of a bearer token and authorization of a
/// non-resource request, as kube-apiserver's delegated authentication and authorization do it
/// (controller-runtime's `filters.WithAuthenticationAndAuthorization`).
public protocol AccessReviewer: Sendable {
    /// The user a bearer token belongs to; nil when the API server does not authenticate it.
    /// Throws when the review could not be made (the API server unreachable, refused, ...).
    func authenticate(token: String) async throws -> ReviewedUser?
    /// Whether `user` may `verb` the non-resource URL `path`.
    func authorize(_ user: ReviewedUser, verb: String, path: String) async throws -> AccessDecision
}

/// `authentication.k8s.io/v1` TokenReview and `authorization.k8s.io/v1` SubjectAccessReview
/// through the API server (the controller's ServiceAccount needs `create` on both).
public struct KubeAccessReviewer: AccessReviewer {
    let client: KubeClient
    let tokenReviews: Prometheus.Counter?
    let accessReviews: Prometheus.Counter?

    /// `metrics` counts the reviews sent (`sextant_metrics_access_reviews_total`).
    public init(client: KubeClient, metrics: OperatorMetrics? = nil) {
        self.client = client
        let descriptor = metric("sextant_metrics_access_reviews_total",
                                "TokenReviews and SubjectAccessReviews sent to authenticate and authorize /metrics requests.")
        tokenReviews = metrics?.registry.makeCounter(descriptor: descriptor, labels: [("review", "TokenReview")])
        accessReviews = metrics?.registry.makeCounter(descriptor: descriptor, labels: [("review", "SubjectAccessReview")])
    }

    public func authenticate(token: String) async throws -> ReviewedUser? {
        let review = TokenReview(spec: .init(token: token))
        tokenReviews?.increment()
        let data = try await client.send(method: "POST", path: "/apis/authentication.k8s.io/v1/tokenreviews",
                                         body: try JSONEncoder().encode(review), contentType: "application/json")
        let answer = try JSONDecoder().decode(Answer<TokenReview.Status>.self, from: data)
        guard let status = answer.status else { throw AccessReviewError("the TokenReview answer has no status") }
        guard status.authenticated == true, let user = status.user, let name = user.username, !name.isEmpty else { return nil }
        return ReviewedUser(username: name, uid: user.uid ?? "", groups: user.groups ?? [], extra: user.extra ?? [:])
    }

    public func authorize(_ user: ReviewedUser, verb: String, path: String) async throws -> AccessDecision {
        let review = SubjectAccessReview(spec: .init(user: user.username, uid: user.uid.isEmpty ? nil : user.uid,
                                                     groups: user.groups, extra: user.extra.isEmpty ? nil : user.extra,
                                                     nonResourceAttributes: .init(path: path, verb: verb)))
        accessReviews?.increment()
        let data = try await client.send(method: "POST", path: "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                                         body: try JSONEncoder().encode(review), contentType: "application/json")
        let answer = try JSONDecoder().decode(Answer<SubjectAccessReview.Status>.self, from: data)
        guard let status = answer.status else { throw AccessReviewError("the SubjectAccessReview answer has no status") }
        if status.allowed, status.denied != true { return .allowed }
        let reason = [status.reason, status.evaluationError].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: "; ")
        return .denied(reason: reason)
    }
}

public struct AccessReviewError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

// The review objects' wire form (only the fields used).
struct Answer<Status: Decodable>: Decodable {
    var status: Status?
}

struct TokenReview: Codable {
    var apiVersion = "authentication.k8s.io/v1"
    var kind = "TokenReview"
    var spec: Spec
    var status: Status?

    struct Spec: Codable { var token: String }
    struct Status: Codable {
        var authenticated: Bool?
        var user: User?
        var error: String?
    }
    struct User: Codable {
        var username: String?
        var uid: String?
        var groups: [String]?
        var extra: [String: [String]]?
    }
}

struct SubjectAccessReview: Codable {
    var apiVersion = "authorization.k8s.io/v1"
    var kind = "SubjectAccessReview"
    var spec: Spec
    var status: Status?

    struct Spec: Codable {
        var user: String
        var uid: String?
        var groups: [String]
        var extra: [String: [String]]?
        var nonResourceAttributes: NonResource
    }
    struct NonResource: Codable {
        var path: String
        var verb: String
    }
    struct Status: Codable {
        var allowed: Bool
        var denied: Bool?
        var reason: String?
        var evaluationError: String?
    }
}
