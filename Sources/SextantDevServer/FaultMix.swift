import SextantJSON

/// Mixed faults for chaos tests (issue #16): several failure codes at once, jittered latency, and
/// faults aimed at one client by its User-Agent, so that a test's own observations are not faulted
/// while the controller under test is.
///
/// `PUT /sextant-dev/faults {"failRate":0.05,"failCodes":[500,503,429],"delayMilliseconds":5,
/// "delayJitterMilliseconds":50,"userAgentPrefix":"sextant/"}`
extension FaultConfiguration {
    static let injectableCodes: Set<Int> = [500, 503, 429]

    /// Reads the mixed-fault fields; the error names the bad one.
    mutating func readMix(_ json: JSONValue) throws(APIError) {
        if let codes = json["failCodes"], !codes.isNull {
            guard let list = codes.arrayValue else { throw APIError.badRequest("failCodes: must be a list of 500, 503 or 429") }
            var parsed: [Int] = []
            for code in list {
                guard let c = code.intValue, Self.injectableCodes.contains(Int(c)) else {
                    throw APIError.badRequest("failCodes: each must be 500, 503 or 429, got \(String(decoding: code.serialized(), as: UTF8.self))")
                }
                parsed.append(Int(c))
            }
            failCodes = parsed
        }
        if let jitter = json["delayJitterMilliseconds"] {
            guard let j = jitter.intValue, j >= 0, j <= 600_000 else {
                throw APIError.badRequest("delayJitterMilliseconds: must be an integer between 0 and 600000")
            }
            delayJitterMilliseconds = Int(j)
        }
        if let agent = json["userAgentPrefix"], !agent.isNull {
            guard let a = agent.stringValue else { throw APIError.badRequest("userAgentPrefix: must be a string") }
            userAgentPrefix = a
        }
    }

    /// Whether a request with this path and User-Agent is subject to the faults.
    func applies(to path: String, userAgent: String?) -> Bool {
        guard applies(to: path) else { return false }
        guard let userAgentPrefix else { return true }
        return userAgent?.hasPrefix(userAgentPrefix) ?? false
    }

    /// The delay to add to one response, in milliseconds.
    func delay() -> Int {
        delayMilliseconds + (delayJitterMilliseconds > 0 ? Int.random(in: 0...delayJitterMilliseconds) : 0)
    }
}
