import Foundation
import SextantTransport

/// A client for the Prometheus HTTP API (`/api/v1/query`) over Sextant's libcurl transport.
///
/// No retries: a failed query is reported once, and the controllers count query errors against
/// their own policy (`maxQueryErrors` and friends) at the next analysis interval.
public struct PrometheusClient: Sendable {
    /// The base URL as given, without a trailing slash (`http://prometheus.monitoring:9090/prom`).
    public let address: String
    public let timeout: Duration
    private let bearerToken: String?
    private let tls: TLSOptions
    private let headers: [HTTPHeader]
    /// Where queries go: the address plus `/api/v1/query`.
    public let queryURL: String

    public init(address: String, timeout: Duration = .seconds(10), bearerToken: String? = nil,
                tls: TLSOptions? = nil, headers: [String: String] = [:]) throws(PrometheusError) {
        let trimmed = address.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw .invalidAddress(address, reason: "empty") }
        // "prometheus:9090" parses as scheme "prometheus", so look for "://" first.
        guard trimmed.contains("://") else {
            throw .invalidAddress(address, reason: "no scheme; use http://host:port or https://host:port")
        }
        guard let url = URLComponents(string: trimmed), let scheme = url.scheme?.lowercased() else {
            throw .invalidAddress(address, reason: "not a URL")
        }
        guard scheme == "http" || scheme == "https" else {
            throw .invalidAddress(address, reason: "scheme \(scheme) is not http or https")
        }
        guard let host = url.host, !host.isEmpty else { throw .invalidAddress(address, reason: "no host") }
        guard url.query == nil, url.fragment == nil else {
            throw .invalidAddress(address, reason: "a base URL takes no query or fragment")
        }
        guard url.user == nil, url.password == nil else {
            throw .invalidAddress(address, reason: "credentials in the URL are not supported; use bearerToken")
        }
        guard timeout > .zero else { throw .invalidSetting(address: address, reason: "timeout must be positive") }
        // A line break in a header would let the value inject further headers.
        for (name, value) in headers where name.isEmpty || (name + value).contains(where: \.isNewline)
            || name.contains(":") {
            throw .invalidSetting(address: address, reason: "header \"\(name)\" has an invalid name or a line break")
        }
        // Tokens read from files usually end with a newline; a line break inside is an error.
        let token = bearerToken?.trimmingCharacters(in: .whitespacesAndNewlines)
        if let token, token.isEmpty || token.contains(where: \.isNewline) {
            throw .invalidSetting(address: address, reason: "bearer token is empty or spans lines")
        }
        var base = trimmed
        while base.hasSuffix("/") { base.removeLast() }
        self.address = base
        self.queryURL = base + "/api/v1/query"
        self.timeout = timeout
        self.bearerToken = token
        self.tls = tls ?? TLSOptions()
        self.headers = headers.sorted { $0.key < $1.key }.map { HTTPHeader($0.key, $0.value) }
    }

    /// Runs an instant query at `time` (now when nil).
    public func query(_ promql: String, at time: Date? = nil) async throws(PrometheusError) -> QueryResult {
        try await queryResponse(promql, at: time).result
    }

    /// Runs an instant query and returns the result with Prometheus' warnings.
    public func queryResponse(_ promql: String, at time: Date? = nil) async throws(PrometheusError) -> QueryResponse {
        var form: [(String, String)] = [("query", promql)]
        if let time { form.append(("time", Self.formatTime(time))) }
        // Prometheus stops evaluating after its own timeout and answers 503 "timeout" with a
        // message, which says more than a cut connection; our limit stays a little longer.
        form.append(("timeout", timeout.secondsText))
        let body = Data(Self.formEncode(form).utf8)

        var requestHeaders = [
            HTTPHeader("Content-Type", "application/x-www-form-urlencoded"),
            HTTPHeader("Accept", "application/json"),
        ]
        if let bearerToken { requestHeaders.append(HTTPHeader("Authorization", "Bearer \(bearerToken)")) }
        requestHeaders += headers

        let request = HTTPRequest(
            method: "POST", url: queryURL, headers: requestHeaders, body: body, tls: tls,
            timeouts: HTTPTimeouts(connect: min(timeout, .seconds(10)), idle: nil,
                                   total: timeout + min(timeout / 10, .seconds(1))),
            maxResponseBytes: 64 << 20)

        let response: HTTPResponse
        do {
            response = try await HTTPClient.shared.send(request)
        } catch let error as TransportError {
            switch error.kind {
            case .timedOut: throw .timedOut(address: address, after: timeout)
            default: throw .unreachable(address: address, kind: error.kind, message: error.message)
            }
        } catch is CancellationError {
            throw .cancelled(address: address)
        } catch {
            throw .unreachable(address: address, kind: .other, message: "\(error)")
        }
        return try PrometheusResponseParser.parse(status: response.status, body: response.body, address: address)
    }

    /// Runs a query that must give one number: an empty vector is `.noData`, one sample or a
    /// scalar is `.value`, more than one series is `PrometheusError.multipleSeries`.
    public func singleValue(_ promql: String, at time: Date? = nil) async throws(PrometheusError) -> SingleValue {
        try Self.singleValue(of: try await query(promql, at: time), query: promql)
    }

    /// The single-value rule on its own, for results obtained elsewhere.
    public static func singleValue(of result: QueryResult, query: String) throws(PrometheusError) -> SingleValue {
        switch result {
        case .vector(let samples):
            switch samples.count {
            case 0: return .noData
            case 1: return .value(samples[0].value)
            default: throw .multipleSeries(count: samples.count, query: query)
            }
        case .scalar(let v, _):
            return .value(v)
        case .matrix, .string:
            throw .notASingleValue(resultType: result.resultType, query: query)
        }
    }

    // MARK: Encoding

    /// Unreserved characters (RFC 3986) stay; everything else, including the `+`, `&`, `=`, `{`,
    /// `"`, spaces and newlines PromQL is full of, is percent-encoded (`+` would otherwise decode
    /// as a space).
    static func formEncode(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
    }

    private static let hex = Array("0123456789ABCDEF".unicodeScalars)

    static func percentEncode(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(hex[Int(byte >> 4)])
                out.unicodeScalars.append(hex[Int(byte & 0xF)])
            }
        }
        return out
    }

    /// Unix seconds with millisecond precision, the resolution Prometheus keeps.
    static func formatTime(_ date: Date) -> String {
        String(format: "%.3f", date.timeIntervalSince1970)
    }
}
