import Foundation
import Logging
@testable import SextantOperator
import Synchronization
import Testing

/// A reviewer that counts the questions it is asked and answers from tables; `gate` holds
/// answers back until released (for the single-flight and overload cases).
final class CountingReviewer: AccessReviewer {
    let users: [String: ReviewedUser]
    let allowedUsers: Set<String>
    let failures = Mutex(0)
    let tokenReviews = Mutex(0)
    let accessReviews = Mutex(0)
    let held = Mutex(false)

    init(users: [String: ReviewedUser], allowed: Set<String>) {
        self.users = users
        self.allowedUsers = allowed
    }

    func authenticate(token: String) async throws -> ReviewedUser? {
        tokenReviews.withLock { $0 += 1 }
        while held.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
        if failures.withLock({ n in defer { n = max(0, n - 1) }; return n > 0 }) {
            throw AccessReviewError("the API server is unreachable")
        }
        return users[token]
    }

    func authorize(_ user: ReviewedUser, verb: String, path: String) async throws -> AccessDecision {
        accessReviews.withLock { $0 += 1 }
        while held.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
        if failures.withLock({ n in defer { n = max(0, n - 1) }; return n > 0 }) {
            throw AccessReviewError("the API server is unreachable")
        }
        return allowedUsers.contains(user.username) && verb == "get" && path == "/metrics" ? .allowed : .denied(reason: "no binding")
    }
}

/// A clock the test moves.
final class TestClock: Sendable {
    let start = ContinuousClock.now
    let offset = Mutex(Duration.zero)
    func advance(_ by: Duration) { offset.withLock { $0 += by } }
    var now: @Sendable () -> ContinuousClock.Instant { { [self] in start + offset.withLock { $0 } } }
}

struct MetricsAccessTests {
    static let reader = ReviewedUser(username: "system:serviceaccount:monitoring:prometheus", uid: "u1",
                                     groups: ["system:serviceaccounts", "system:authenticated"])
    static let stranger = ReviewedUser(username: "system:serviceaccount:monitoring:other", uid: "u2")

    func reviewer() -> CountingReviewer {
        CountingReviewer(users: ["reader-token": Self.reader, "stranger-token": Self.stranger], allowed: [Self.reader.username])
    }

    @Test func answersAreReusedForTheirTimeToLive() async throws {
        let fake = reviewer()
        let clock = TestClock()
        let cache = CachingAccessReviewer(fake, now: clock.now)
        for _ in 0..<5 {
            #expect(try await cache.authenticate(token: "reader-token") == Self.reader)
            #expect(try await cache.authorize(Self.reader, verb: "get", path: "/metrics") == .allowed)
        }
        #expect(fake.tokenReviews.withLock { $0 } == 1)
        #expect(fake.accessReviews.withLock { $0 } == 1)
        clock.advance(.seconds(59))
        _ = try await cache.authenticate(token: "reader-token")
        _ = try await cache.authorize(Self.reader, verb: "get", path: "/metrics")
        #expect(fake.tokenReviews.withLock { $0 } == 1 && fake.accessReviews.withLock { $0 } == 1)
        clock.advance(.seconds(2))
        _ = try await cache.authenticate(token: "reader-token")
        _ = try await cache.authorize(Self.reader, verb: "get", path: "/metrics")
        #expect(fake.tokenReviews.withLock { $0 } == 2, "an authenticated token is asked again after 60 s")
        #expect(fake.accessReviews.withLock { $0 } == 2, "an allow is asked again after 60 s")
    }

    @Test func refusalsAreKeptShorterAndFailuresNotAtAll() async throws {
        let fake = reviewer()
        let clock = TestClock()
        let cache = CachingAccessReviewer(fake, now: clock.now)
        #expect(try await cache.authenticate(token: "made-up") == nil)
        #expect(try await cache.authenticate(token: "made-up") == nil)
        #expect(fake.tokenReviews.withLock { $0 } == 1)
        clock.advance(.seconds(11))
        _ = try await cache.authenticate(token: "made-up")
        #expect(fake.tokenReviews.withLock { $0 } == 2, "an unknown token is asked again after 10 s")

        #expect(try await cache.authorize(Self.stranger, verb: "get", path: "/metrics") == .denied(reason: "no binding"))
        clock.advance(.seconds(29))
        _ = try await cache.authorize(Self.stranger, verb: "get", path: "/metrics")
        #expect(fake.accessReviews.withLock { $0 } == 1)
        clock.advance(.seconds(2))
        _ = try await cache.authorize(Self.stranger, verb: "get", path: "/metrics")
        #expect(fake.accessReviews.withLock { $0 } == 2, "a denial is asked again after 30 s")

        // Another verb, path or group set is another question.
        _ = try await cache.authorize(Self.reader, verb: "head", path: "/metrics")
        var regrouped = Self.reader
        regrouped.groups.append("admins")
        _ = try await cache.authorize(regrouped, verb: "get", path: "/metrics")
        #expect(fake.accessReviews.withLock { $0 } == 4)

        fake.failures.withLock { $0 = 1 }
        await #expect(throws: AccessReviewError.self) { try await cache.authenticate(token: "reader-token") }
        #expect(try await cache.authenticate(token: "reader-token") == Self.reader, "a failed review is not cached")
    }

    @Test func concurrentRequestsShareOneReviewAndTheOpenReviewsAreBounded() async throws {
        let fake = reviewer()
        let cache = CachingAccessReviewer(fake, maxInFlight: 2)
        fake.held.withLock { $0 = true }
        let same = (0..<8).map { _ in Task { try await cache.authenticate(token: "reader-token") } }
        let other = Task { try await cache.authenticate(token: "stranger-token") }
        #expect(await eventually { fake.tokenReviews.withLock { $0 } == 2 })
        // Two reviews are open: a third question is refused at once instead of queueing.
        await #expect(throws: AccessReviewOverloaded.self) { try await cache.authenticate(token: "third-token") }
        fake.held.withLock { $0 = false }
        for task in same { #expect(try await task.value == Self.reader) }
        #expect(try await other.value == Self.stranger)
        #expect(fake.tokenReviews.withLock { $0 } == 2, "eight concurrent requests with one token: one review")
        #expect(try await cache.authenticate(token: "third-token") == nil, "accepted again once the open reviews ended")
    }

    @Test func theCacheStaysBounded() async throws {
        let cache = CachingAccessReviewer(reviewer(), maxEntries: 3)
        for n in 0..<50 { _ = try await cache.authenticate(token: "token-\(n)") }
        #expect(await cache.count == 3)
    }

    @Test func theGateAnswersLikeControllerRuntime() async throws {
        let fake = reviewer()
        let gate = MetricsAccessGate(reviewer: fake, logger: Logger(label: "test"))
        #expect(await gate.check(authorization: nil, method: "GET", path: "/metrics")?.status == .unauthorized)
        #expect(await gate.check(authorization: "Basic dXNlcjpwYXNz", method: "GET", path: "/metrics")?.status == .unauthorized)
        #expect(await gate.check(authorization: "Bearer ", method: "GET", path: "/metrics")?.status == .unauthorized)
        #expect(fake.tokenReviews.withLock { $0 } == 0, "no token, no review")
        #expect(await gate.check(authorization: "Bearer made-up", method: "GET", path: "/metrics")?.status == .unauthorized)
        #expect(await gate.check(authorization: "Bearer stranger-token", method: "GET", path: "/metrics")
                == MetricsRefusal(status: .forbidden, message: "Authorization denied for user system:serviceaccount:monitoring:other"))
        #expect(await gate.check(authorization: "bearer reader-token", method: "GET", path: "/metrics") == nil)
        #expect(await gate.check(authorization: "Bearer reader-token", method: "POST", path: "/metrics")?.status == .forbidden,
                "the verb is the lower-cased method")
        fake.failures.withLock { $0 = 1 }
        #expect(await gate.check(authorization: "Bearer reader-token", method: "GET", path: "/metrics")
                == MetricsRefusal(status: .internalServerError, message: "Authentication failed"))
        #expect(MetricsAccessGate.bearerToken("Bearer  abc.def ") == "abc.def")
    }
}
