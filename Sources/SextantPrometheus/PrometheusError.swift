import SextantTransport

/// Everything that can go wrong with a query. Every case says which Prometheus (or query) it was
/// about, because the message ends up in a CanaryRollout or TrainingJob status condition.
public enum PrometheusError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The address given to `PrometheusClient` is not an http(s) base URL.
    case invalidAddress(String, reason: String)
    /// Another client setting is unusable: a non-positive timeout, a header with a line break,
    /// an empty bearer token.
    case invalidSetting(address: String, reason: String)
    /// No HTTP answer: connection refused, DNS failure, TLS failure, connection dropped.
    case unreachable(address: String, kind: TransportError.Kind, message: String)
    /// No complete answer within the client's timeout.
    case timedOut(address: String, after: Duration)
    /// Prometheus answered `"status": "error"` (HTTP 400 `bad_data` for a PromQL syntax error,
    /// 422 `execution`, 503 `timeout`/`canceled`, ...). `message` is Prometheus' own text.
    case queryFailed(address: String, httpStatus: Int, errorType: String, message: String)
    /// The answer is not a Prometheus API response: not JSON (an HTML error page from a proxy),
    /// or JSON of the wrong shape. `body` holds at most the first 200 bytes.
    case badResponse(address: String, httpStatus: Int, reason: String, body: String)
    /// `singleValue` got more than one series; the query must aggregate them.
    case multipleSeries(count: Int, query: String)
    /// `singleValue` got a range vector or a string, which is not one number.
    case notASingleValue(resultType: String, query: String)
    /// The calling task was cancelled.
    case cancelled(address: String)

    public var description: String {
        switch self {
        case .invalidAddress(let address, let reason):
            return "invalid Prometheus address \"\(address)\": \(reason)"
        case .invalidSetting(let address, let reason):
            return "invalid Prometheus client setting for \(address): \(reason)"
        case .unreachable(let address, .responseTooLarge, _):
            return "the answer from Prometheus at \(address) is larger than 64 MiB; aggregate the query"
        case .unreachable(let address, _, let message):
            return "cannot reach Prometheus at \(address): \(message)"
        case .timedOut(let address, let after):
            return "Prometheus at \(address) did not answer within \(after.secondsText)"
        case .queryFailed(let address, let status, let type, let message):
            return "Prometheus at \(address) rejected the query (HTTP \(status), \(type)): \(message)"
        case .badResponse(let address, let status, let reason, let body):
            let shown = body.isEmpty ? "empty body" : "body starts: \(body)"
            return "unexpected answer from Prometheus at \(address) (HTTP \(status)): \(reason); \(shown)"
        case .multipleSeries(let count, let query):
            return "query returned \(count) series but one number is needed; aggregate it, e.g. sum(...) "
                + "or sum by () (...): \(query)"
        case .notASingleValue(let type, let query):
            return "query returned a \(type), not an instant vector or scalar; "
                + "use an instant query such as rate(...[5m]) instead of a range selector: \(query)"
        case .cancelled(let address):
            return "query to Prometheus at \(address) was cancelled"
        }
    }

    /// Whether the same query may succeed later (the controllers count these as query errors and
    /// retry at the next analysis interval; the others need a change to the query or address).
    public var isTransient: Bool {
        switch self {
        case .queryFailed(_, let status, let type, _): return status >= 500 || type == "timeout" || type == "unavailable"
        case .badResponse(_, let status, _, _): return status >= 500
        case .invalidAddress, .invalidSetting, .multipleSeries, .notASingleValue: return false
        case .unreachable(_, .responseTooLarge, _), .unreachable(_, .invalidRequest, _), .unreachable(_, .tls, _):
            return false
        case .unreachable, .timedOut, .cancelled: return true
        }
    }
}

extension Duration {
    var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }

    /// "2s", "0.5s": the form Prometheus also accepts for its `timeout` parameter.
    var secondsText: String {
        let s = seconds
        if s == s.rounded() && abs(s) < 1e15 { return "\(Int64(s))s" }
        return "\(s)s"
    }
}
