import Crypto
import Foundation

/// How long review answers are reused. A scrape every 30 s then costs one TokenReview and one
/// SubjectAccessReview a minute per scraper, not two API calls per scrape. controller-runtime
/// keeps tokens 1 min and allows 5 min; allows are kept 1 min here so that removing a binding
/// takes effect within a minute.
public struct AccessReviewTTLs: Sendable {
    public var authenticated: Duration = .seconds(60)
    public var unauthenticated: Duration = .seconds(10)
    public var allowed: Duration = .seconds(60)
    public var denied: Duration = .seconds(30)
    public init() {}
}

/// Reuses the answers of another reviewer for a while (failures are not kept), asks once for
/// concurrent requests with the same question, and refuses new questions while `maxInFlight`
/// are open (so a flood of made-up tokens queues no unbounded work). Tokens are kept only as
/// SHA-256 digests. `now` is passed in for tests.
public actor CachingAccessReviewer: AccessReviewer {
    private let reviewer: any AccessReviewer
    private let ttls: AccessReviewTTLs
    private let maxEntries: Int
    private let maxInFlight: Int
    private let now: @Sendable () -> ContinuousClock.Instant
    private var users = [String: Cached<ReviewedUser?>]()
    private var decisions = [String: Cached<AccessDecision>]()
    private var authenticating = [String: Task<ReviewedUser?, any Error>]()
    private var authorizing = [String: Task<AccessDecision, any Error>]()

    struct Cached<Value> {
        var value: Value
        var expires: ContinuousClock.Instant
    }

    public init(_ reviewer: any AccessReviewer, ttls: AccessReviewTTLs = AccessReviewTTLs(), maxEntries: Int = 4096,
                maxInFlight: Int = 32, now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.reviewer = reviewer
        self.ttls = ttls
        self.maxEntries = max(1, maxEntries)
        self.maxInFlight = max(1, maxInFlight)
        self.now = now
    }

    public func authenticate(token: String) async throws -> ReviewedUser? {
        let key = SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
        if let hit = users[key], hit.expires > now() { return hit.value }
        if let open = authenticating[key] { return try await open.value }
        guard authenticating.count + authorizing.count < maxInFlight else { throw AccessReviewOverloaded() }
        let reviewer = self.reviewer
        let task = Task { try await reviewer.authenticate(token: token) }
        authenticating[key] = task
        defer { authenticating[key] = nil }
        let user = try await task.value
        store(&users, key, user, ttl: user == nil ? ttls.unauthenticated : ttls.authenticated)
        return user
    }

    public func authorize(_ user: ReviewedUser, verb: String, path: String) async throws -> AccessDecision {
        let key = ([user.username, user.uid, verb, path] + user.groups.sorted()
                   + user.extra.keys.sorted().map { "\($0)=\(user.extra[$0, default: []].joined(separator: ","))" })
            .joined(separator: "\u{0}")
        if let hit = decisions[key], hit.expires > now() { return hit.value }
        if let open = authorizing[key] { return try await open.value }
        guard authenticating.count + authorizing.count < maxInFlight else { throw AccessReviewOverloaded() }
        let reviewer = self.reviewer
        let task = Task { try await reviewer.authorize(user, verb: verb, path: path) }
        authorizing[key] = task
        defer { authorizing[key] = nil }
        let decision = try await task.value
        store(&decisions, key, decision, ttl: decision == .allowed ? ttls.allowed : ttls.denied)
        return decision
    }

    /// Entries kept (for tests).
    public var count: Int { users.count + decisions.count }

    private func store<Value>(_ cache: inout [String: Cached<Value>], _ key: String, _ value: Value, ttl: Duration) {
        let current = now()
        if cache.count >= maxEntries {
            cache = cache.filter { $0.value.expires > current }
            // Still full of live entries: drop the one that would expire first.
            if cache.count >= maxEntries, let oldest = cache.min(by: { $0.value.expires < $1.value.expires })?.key {
                cache[oldest] = nil
            }
        }
        cache[key] = Cached(value: value, expires: current + ttl)
    }
}

/// Too many reviews are open at once; the request is answered 429.
public struct AccessReviewOverloaded: Error, Sendable {}
