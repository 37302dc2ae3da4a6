import Foundation
import SextantPrometheus
import Testing

/// The response parser on canned answers, without a server.
@Suite struct ParserTests {
    let address = "http://prom.test:9090"

    func parse(_ json: String, status: Int = 200) throws(PrometheusError) -> QueryResponse {
        try PrometheusResponseParser.parse(status: status, body: Data(json.utf8), address: address)
    }

    func parseError(_ body: String, status: Int = 200) -> PrometheusError? {
        do {
            _ = try parse(body, status: status)
            return nil
        } catch {
            return error
        }
    }

    @Test func vectorWithSpecialValues() throws {
        let response = try parse("""
            {"status":"success","data":{"resultType":"vector","result":[
              {"metric":{"version":"v1"},"value":[1712345678.123,"0.5"]},
              {"metric":{"version":"v2"},"value":[1712345678.123,"NaN"]},
              {"metric":{"version":"v3"},"value":[1712345678,"+Inf"]},
              {"metric":{"version":"v4"},"value":[1712345678,"-Inf"]},
              {"metric":{},"value":[1712345678,"1e-05"]}]}}
            """)
        guard case .vector(let samples) = response.result else {
            Issue.record("expected a vector, got \(response.result)")
            return
        }
        #expect(samples.count == 5)
        #expect(samples[0].labels == ["version": "v1"])
        #expect(samples[0].timestamp == 1712345678.123)
        #expect(samples[0].value == 0.5)
        #expect(samples[1].value.isNaN)
        #expect(samples[2].value == .infinity)
        #expect(samples[3].value == -.infinity)
        #expect(samples[4].labels.isEmpty)
        #expect(samples[4].value == 1e-5)
        #expect(response.warnings.isEmpty)
    }

    @Test func valueStrings() {
        #expect(PrometheusResponseParser.parseValue("0.99") == 0.99)
        #expect(PrometheusResponseParser.parseValue("-3") == -3)
        #expect(PrometheusResponseParser.parseValue("NaN")?.isNaN == true)
        #expect(PrometheusResponseParser.parseValue("+Inf") == .infinity)
        #expect(PrometheusResponseParser.parseValue("-Inf") == -.infinity)
        #expect(PrometheusResponseParser.parseValue("") == nil)
        #expect(PrometheusResponseParser.parseValue("abc") == nil)
        #expect(PrometheusResponseParser.parseValue("0x10") == nil)
        #expect(PrometheusResponseParser.parseValue("infinity") == nil)
    }

    @Test func scalarAndString() throws {
        let scalar = try parse(#"{"status":"success","data":{"resultType":"scalar","result":[1700000000.5,"2"]}}"#)
        #expect(scalar.result == .scalar(2, at: 1700000000.5))
        let nan = try parse(#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"NaN"]}}"#)
        guard case .scalar(let v, _) = nan.result else {
            Issue.record("expected a scalar, got \(nan.result)")
            return
        }
        #expect(v.isNaN)
        let string = try parse(#"{"status":"success","data":{"resultType":"string","result":[1700000000,"hello"]}}"#)
        #expect(string.result == .string("hello", at: 1700000000))
    }

    @Test func matrix() throws {
        let response = try parse("""
            {"status":"success","data":{"resultType":"matrix","result":[
              {"metric":{"__name__":"up","job":"sextant"},"values":[[1700000000,"1"],[1700000001,"0"],[1700000002,"NaN"]]},
              {"metric":{"__name__":"up","job":"other"},"values":[]}]}}
            """)
        guard case .matrix(let series) = response.result else {
            Issue.record("expected a matrix, got \(response.result)")
            return
        }
        #expect(series.count == 2)
        #expect(series[0].labels == ["__name__": "up", "job": "sextant"])
        #expect(series[0].points.map(\.timestamp) == [1700000000, 1700000001, 1700000002])
        #expect(series[0].points[0].value == 1 && series[0].points[1].value == 0)
        #expect(series[0].points[2].value.isNaN)
        #expect(series[1].points.isEmpty)
        #expect(throws: PrometheusError.notASingleValue(resultType: "matrix", query: "up[1m]")) {
            try PrometheusClient.singleValue(of: response.result, query: "up[1m]")
        }
    }

    @Test func warningsAreKept() throws {
        let response = try parse("""
            {"status":"success","warnings":["remote read partial response","PromQL info: metric might not be a counter"],
             "data":{"resultType":"vector","result":[]}}
            """)
        #expect(response.warnings == ["remote read partial response", "PromQL info: metric might not be a counter"])
        #expect(response.result == .vector([]))
    }

    @Test func prometheusErrorObject() {
        let error = parseError(#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unclosed left parenthesis"}"#,
                               status: 400)
        #expect(error == .queryFailed(address: address, httpStatus: 400, errorType: "bad_data",
                                      message: "1:5: parse error: unclosed left parenthesis"))
        #expect(error?.description.contains("unclosed left parenthesis") == true)
        #expect(error?.description.contains(address) == true)
        #expect(error?.isTransient == false)
        // A status "error" with HTTP 200 (some proxies) is still an error.
        let ok200 = parseError(#"{"status":"error","errorType":"timeout","error":"query timed out"}"#)
        #expect(ok200 == .queryFailed(address: address, httpStatus: 200, errorType: "timeout", message: "query timed out"))
        #expect(ok200?.isTransient == true)
    }

    @Test func htmlErrorPage() {
        let html = "<html><head><title>502 Bad Gateway</title></head><body>" + String(repeating: "x", count: 500)
            + "</body></html>"
        guard case .badResponse(let addr, let status, let reason, let body)? = parseError(html, status: 502) else {
            Issue.record("expected badResponse")
            return
        }
        #expect(addr == address)
        #expect(status == 502)
        #expect(reason.contains("not JSON"))
        #expect(body.hasPrefix("<html><head><title>502 Bad Gateway"))
        #expect(body.utf8.count <= 204)  // 200 bytes plus the ellipsis
        let text = PrometheusError.badResponse(address: addr, httpStatus: status, reason: reason, body: body).description
        #expect(text.contains("HTTP 502") && !text.contains("\n"))
    }

    @Test func malformedDocuments() {
        let cases: [(String, Int, String)] = [
            ("", 200, "empty body"),
            (#"{"status":"success","data":{"resultType":"vector","result":[}"#, 200, "not JSON"),
            ("[1,2]", 200, "not an object"),
            (#"{"data":{}}"#, 200, "no \"status\""),
            (#"{"status":"success"}"#, 200, "no \"data\""),
            (#"{"status":"success","data":{"resultType":"vector","result":{}}}"#, 200, "not an array"),
            (#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}}"#, 200, "without \"value\""),
            (#"{"status":"success","data":{"resultType":"vector","result":[{"value":[1,0.5]}]}}"#, 200, "not a string"),
            (#"{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"fast"]}]}}"#, 200, "not a number"),
            (#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":1},"value":[1,"1"]}]}}"#, 200, "label a"),
            (#"{"status":"success","data":{"resultType":"histogram","result":[]}}"#, 200, "unknown resultType"),
            (#"{"status":"success","data":{"resultType":"scalar","result":[1]}}"#, 200, "[time, \"value\"]"),
            (#"{"status":"success","data":{"resultType":"vector","result":[]}}"#, 503, "HTTP 503"),
        ]
        for (body, status, expected) in cases {
            guard case .badResponse(_, let s, let reason, _)? = parseError(body, status: status) else {
                Issue.record("\(body) was not reported as a bad response")
                continue
            }
            #expect(s == status)
            #expect(reason.contains(expected), "\(body): \(reason)")
        }
    }

    @Test func singleValueRule() throws {
        let one = Sample(labels: [:], timestamp: 1, value: 0.25)
        #expect(try PrometheusClient.singleValue(of: .vector([]), query: "q") == .noData)
        #expect(try PrometheusClient.singleValue(of: .vector([one]), query: "q") == .value(0.25))
        #expect(try PrometheusClient.singleValue(of: .scalar(3, at: 1), query: "q") == .value(3))
        #expect(throws: PrometheusError.multipleSeries(count: 2, query: "q")) {
            try PrometheusClient.singleValue(of: .vector([one, one]), query: "q")
        }
        #expect(PrometheusError.multipleSeries(count: 2, query: "q").description.contains("sum("))
    }
}

@Suite struct AddressTests {
    @Test(arguments: [
        ("", "empty"),
        ("prometheus:9090", "no scheme"),
        ("127.0.0.1:9090", "no scheme"),
        ("ftp://prometheus:9090", "scheme ftp"),
        ("http://", "no host"),
        ("http://prometheus:9090/?x=1", "no query"),
        ("http://user:pw@prometheus:9090", "credentials"),
        ("http://prom etheus:9090", "not a URL"),
    ])
    func invalidAddress(address: String, reason: String) {
        do {
            _ = try PrometheusClient(address: address)
            Issue.record("\(address) was accepted")
        } catch {
            guard case .invalidAddress(let given, let why) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(given == address)
            #expect(why.contains(reason), "\(why)")
            #expect(error.description.contains("\"\(address)\""))
        }
    }

    @Test func invalidSettings() {
        let address = "http://prometheus:9090"
        func reason(_ make: () throws(PrometheusError) -> PrometheusClient) -> String? {
            do {
                _ = try make()
                return nil
            } catch {
                guard case .invalidSetting(let a, let why) = error, a == address else { return "unexpected \(error)" }
                return why
            }
        }
        #expect(reason { () throws(PrometheusError) in try PrometheusClient(address: address, timeout: .zero) }?
            .contains("timeout") == true)
        #expect(reason { () throws(PrometheusError) in
            try PrometheusClient(address: address, headers: ["X-Tenant": "a\r\nX-Evil: 1"]) }?.contains("X-Tenant") == true)
        #expect(reason { () throws(PrometheusError) in try PrometheusClient(address: address, bearerToken: "a\nb") }?
            .contains("bearer token") == true)
        #expect(reason { () throws(PrometheusError) in try PrometheusClient(address: address, bearerToken: "tok\n") } == nil)
    }

    @Test func pathPrefixIsKept() throws {
        let client = try PrometheusClient(address: "http://prometheus.monitoring:9090/prom/")
        #expect(client.address == "http://prometheus.monitoring:9090/prom")
        #expect(client.queryURL == "http://prometheus.monitoring:9090/prom/api/v1/query")
        let plain = try PrometheusClient(address: "HTTPS://prometheus:9090")
        #expect(plain.queryURL == "HTTPS://prometheus:9090/api/v1/query")
    }
}
