import Foundation
import SextantJSON

/// Turns an HTTP answer from `/api/v1/query` into a result or a `PrometheusError`.
/// Separate from the client so it can be tested without a server.
public enum PrometheusResponseParser {
    /// Bytes of an unexpected body quoted in errors.
    static let snippetLimit = 200

    public static func parse(status: Int, body: Data, address: String) throws(PrometheusError) -> QueryResponse {
        func bad(_ reason: String) -> PrometheusError {
            .badResponse(address: address, httpStatus: status, reason: reason, body: snippet(body))
        }

        let document: JSONValue
        do {
            document = try JSONValue.parse(body)
        } catch {
            throw bad(body.isEmpty ? "empty body" : "not JSON (\(error))")
        }
        guard case .object(let root) = document else { throw bad("JSON is a \(document.typeName), not an object") }

        // Error answers carry status "error" with any HTTP status (400, 422, 503, ...).
        if root["status"]?.stringValue == "error" {
            throw PrometheusError.queryFailed(
                address: address, httpStatus: status,
                errorType: root["errorType"]?.stringValue ?? "unknown",
                message: root["error"]?.stringValue ?? "(no error message)")
        }
        guard (200..<300).contains(status) else { throw bad("HTTP \(status) without a Prometheus error object") }
        guard let state = root["status"]?.stringValue else { throw bad("no \"status\" field") }
        guard state == "success" else { throw bad("unknown status \"\(state)\"") }
        guard case .object(let data)? = root["data"] else { throw bad("no \"data\" object") }
        guard let type = data["resultType"]?.stringValue else { throw bad("no \"data.resultType\"") }
        guard let raw = data["result"] else { throw bad("no \"data.result\"") }

        var warnings: [String] = []
        if let list = root["warnings"]?.arrayValue { warnings = list.compactMap(\.stringValue) }

        let result: QueryResult
        switch type {
        case "vector":
            guard let items = raw.arrayValue else { throw bad("vector result is not an array") }
            var samples: [Sample] = []
            samples.reserveCapacity(items.count)
            for item in items {
                let labels = try parseLabels(item["metric"], bad)
                guard let pair = item["value"] else {
                    // Native histograms come as "histogram" instead of "value".
                    if item["histogram"] != nil { throw bad("native histogram samples are not supported") }
                    throw bad("vector sample without \"value\"")
                }
                let (t, v) = try parsePoint(pair, bad)
                samples.append(Sample(labels: labels, timestamp: t, value: v))
            }
            result = .vector(samples)
        case "matrix":
            guard let items = raw.arrayValue else { throw bad("matrix result is not an array") }
            var series: [Series] = []
            series.reserveCapacity(items.count)
            for item in items {
                let labels = try parseLabels(item["metric"], bad)
                guard let values = item["values"]?.arrayValue else {
                    if item["histograms"] != nil { throw bad("native histogram samples are not supported") }
                    throw bad("matrix series without \"values\"")
                }
                var points: [Series.Point] = []
                points.reserveCapacity(values.count)
                for pair in values {
                    let (t, v) = try parsePoint(pair, bad)
                    points.append(Series.Point(timestamp: t, value: v))
                }
                series.append(Series(labels: labels, points: points))
            }
            result = .matrix(series)
        case "scalar":
            let (t, v) = try parsePoint(raw, bad)
            result = .scalar(v, at: t)
        case "string":
            guard let pair = raw.arrayValue, pair.count == 2, let t = pair[0].doubleValue,
                  let s = pair[1].stringValue else { throw bad("string result is not [time, \"text\"]") }
            result = .string(s, at: t)
        default:
            throw bad("unknown resultType \"\(type)\"")
        }
        return QueryResponse(result: result, warnings: warnings)
    }

    /// Prometheus sends sample values as strings: "0.5", "1e-05", "NaN", "+Inf", "-Inf".
    public static func parseValue(_ text: String) -> Double? {
        switch text {
        case "NaN": return .nan
        case "+Inf", "Inf": return .infinity
        case "-Inf": return -.infinity
        default:
            // Double(String) would also take "nan(0x1)", "infinity" or hex floats; Prometheus
            // sends none of those, so only plain decimal numbers are accepted.
            guard !text.isEmpty, text.utf8.allSatisfy({ Self.decimalBytes.contains($0) }) else { return nil }
            return Double(text)
        }
    }

    private static let decimalBytes = Set("0123456789+-.eE".utf8)

    private static func parsePoint(_ value: JSONValue, _ bad: (String) -> PrometheusError)
        throws(PrometheusError) -> (Double, Double)
    {
        guard let pair = value.arrayValue, pair.count == 2 else { throw bad("sample is not [time, \"value\"]") }
        guard let t = pair[0].doubleValue else { throw bad("sample time is not a number") }
        guard let text = pair[1].stringValue else { throw bad("sample value is not a string") }
        guard let v = parseValue(text) else { throw bad("sample value \"\(text.prefix(40))\" is not a number") }
        return (t, v)
    }

    private static func parseLabels(_ value: JSONValue?, _ bad: (String) -> PrometheusError)
        throws(PrometheusError) -> [String: String]
    {
        guard let value else { return [:] }
        guard case .object(let object) = value else { throw bad("\"metric\" is not an object") }
        var labels: [String: String] = [:]
        labels.reserveCapacity(object.count)
        for (k, v) in object {
            guard let s = v.stringValue else { throw bad("label \(k) is not a string") }
            labels[k] = s
        }
        return labels
    }

    /// The first bytes of a body for an error message, cut at a character boundary.
    static func snippet(_ body: Data) -> String {
        let head = body.prefix(snippetLimit)
        var text = String(decoding: head, as: UTF8.self)
        // A multi-byte character cut in half decodes to U+FFFD at the end; drop it.
        while text.hasSuffix("\u{FFFD}") && head.count == snippetLimit { text.removeLast() }
        text = text.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: "")
        return body.count > snippetLimit ? text + "…" : text
    }
}
