import Foundation
import SextantJSON
import Synchronization

/// Faults injected into API requests so tests can exercise retries and re-watches.
public struct FaultConfiguration: Sendable, Equatable {
    /// Share of API requests (0...1) answered with `failCode` instead of being served.
    public var failRate: Double = 0
    /// 500 (InternalError) or 429 (TooManyRequests, with Retry-After: 1).
    public var failCode: Int = 500
    /// Delay added before every API response.
    public var delayMilliseconds: Int = 0
    /// Only requests whose path starts with this are affected (nil: every API request).
    public var pathPrefix: String?
    /// Mixed faults (FaultMix.swift): failures drawn from these codes instead of `failCode`.
    public var failCodes: [Int] = []
    /// Mixed faults: a random extra delay of 0...this on top of `delayMilliseconds`.
    public var delayJitterMilliseconds: Int = 0
    /// Mixed faults: only requests whose User-Agent starts with this (nil: every client).
    public var userAgentPrefix: String?

    public init(failRate: Double = 0, failCode: Int = 500, delayMilliseconds: Int = 0, pathPrefix: String? = nil,
                failCodes: [Int] = [], delayJitterMilliseconds: Int = 0, userAgentPrefix: String? = nil) {
        self.failRate = failRate
        self.failCode = failCode
        self.delayMilliseconds = delayMilliseconds
        self.pathPrefix = pathPrefix
        self.failCodes = failCodes
        self.delayJitterMilliseconds = delayJitterMilliseconds
        self.userAgentPrefix = userAgentPrefix
    }

    var json: JSONValue {
        ["failRate": .double(failRate), "failCode": .int(Int64(failCode)),
         "delayMilliseconds": .int(Int64(delayMilliseconds)), "pathPrefix": pathPrefix.map(JSONValue.string) ?? .null,
         "failCodes": .array(failCodes.map { .int(Int64($0)) }), "delayJitterMilliseconds": .int(Int64(delayJitterMilliseconds)),
         "userAgentPrefix": userAgentPrefix.map(JSONValue.string) ?? .null]
    }

    /// Reads a configuration from the admin endpoint's JSON; the error names the bad field.
    init(json: JSONValue) throws(APIError) {
        guard json.objectValue != nil else { throw APIError.badRequest("fault configuration must be a JSON object") }
        if let rate = json["failRate"] {
            guard let r = rate.doubleValue, (0...1).contains(r) else {
                throw APIError.badRequest("failRate: must be a number between 0 and 1")
            }
            failRate = r
        }
        if let code = json["failCode"] {
            guard let c = code.intValue, c == 500 || c == 429 || c == 503 else {
                throw APIError.badRequest("failCode: must be 500, 503 or 429")
            }
            failCode = Int(c)
        }
        if let delay = json["delayMilliseconds"] {
            guard let d = delay.intValue, d >= 0, d <= 600_000 else {
                throw APIError.badRequest("delayMilliseconds: must be an integer between 0 and 600000")
            }
            delayMilliseconds = Int(d)
        }
        if let prefix = json["pathPrefix"], !prefix.isNull {
            guard let p = prefix.stringValue else { throw APIError.badRequest("pathPrefix: must be a string") }
            pathPrefix = p
        }
        try readMix(json)
    }

    func applies(to path: String) -> Bool { pathPrefix.map { path.hasPrefix($0) } ?? true }

    /// The injected error for a request, if the dice say so.
    func injectedError() -> APIError? {
        guard failRate > 0, Double.random(in: 0..<1) < failRate else { return nil }
        let failCode = failCodes.randomElement() ?? self.failCode
        if failCode == 429 {
            var error = APIError(code: 429, reason: "TooManyRequests",
                                 message: "injected fault: too many requests, please try again later",
                                 details: .init(retryAfterSeconds: 1))
            error.headers = [("Retry-After", "1")]
            return error
        }
        if failCode == 503 {
            return APIError(code: 503, reason: "ServiceUnavailable", message: "injected fault: service unavailable")
        }
        return APIError(code: 500, reason: "InternalError", message: "injected fault: internal error")
    }
}

/// The current fault configuration, shared by all request handlers.
final class FaultState: Sendable {
    private let state: Mutex<FaultConfiguration>
    init(_ initial: FaultConfiguration) { state = Mutex(initial) }
    var current: FaultConfiguration { state.withLock { $0 } }
    func set(_ new: FaultConfiguration) { state.withLock { $0 = new } }
}
