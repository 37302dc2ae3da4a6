import Foundation
import SextantPrometheus
import SextantTestSupport
import SextantTransport
import Testing

/// One Prometheus and three exporters shared by the live suite (started once, stopped after).
struct LiveEnvironment: Sendable {
    let prometheus: PrometheusServer
    /// version v1: success 0.99, every request 0.05 s, accuracy 0.95.
    let healthy: MetricsExporter
    /// version v2: success 0.6, every request 0.9 s, accuracy 0.7.
    let failing: MetricsExporter
    /// version v3: success 1.0, 0.01 s; reconfigured by one test only.
    let changing: MetricsExporter
    let client: PrometheusClient

    @TaskLocal static var current: LiveEnvironment?

    static var toolsPresent: Bool {
        get throws {
            try Tooling.available("prometheus", PrometheusServer.isInstalled)
                && Tooling.available("python3", MetricsExporter.isAvailable)
        }
    }

    static func start() async throws -> (LiveEnvironment, [MetricsExporter]) {
        async let healthy = MetricsExporter.start(model: "churn", version: "v1", successRate: 0.99,
                                                  latencySeconds: 0.05, accuracy: 0.95)
        async let failing = MetricsExporter.start(model: "churn", version: "v2", successRate: 0.6,
                                                  latencySeconds: 0.9, accuracy: 0.7)
        async let changing = MetricsExporter.start(model: "churn", version: "v3", successRate: 1.0,
                                                   latencySeconds: 0.01, accuracy: 0.9)
        let exporters = try await [healthy, failing, changing]
        let prometheus = try await PrometheusServer.start(scrapeTargets: exporters.map(\.target))
        let env = LiveEnvironment(prometheus: prometheus, healthy: exporters[0], failing: exporters[1],
                                  changing: exporters[2],
                                  client: try PrometheusClient(address: prometheus.address, timeout: .seconds(5)))
        try await prometheus.waitForTargetsUp()
        // rate() needs two samples of each series inside its window.
        _ = try await env.waitFor("count(count_over_time(sextant_requests_total[10s]) >= 2)", timeout: .seconds(15)) {
            $0 == 6
        }
        return (env, exporters)
    }

    /// Polls `promql` until `accept` holds for its single value; returns the last value.
    @discardableResult
    func waitFor(_ promql: String, timeout: Duration = .seconds(10),
                 _ accept: (Double) -> Bool) async throws -> Double? {
        let deadline = ContinuousClock.now + timeout
        var last: Double?
        while true {
            if case .value(let v) = try await client.singleValue(promql) {
                last = v
                if accept(v) { return v }
            }
            if ContinuousClock.now >= deadline { return last }
            try await Task.sleep(for: .milliseconds(250))
        }
    }
}

struct LivePrometheusTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?,
                      performing function: @Sendable () async throws -> Void) async throws {
        let (env, exporters) = try await LiveEnvironment.start()
        defer {
            env.prometheus.stop()
            for e in exporters { e.stop() }
        }
        try await LiveEnvironment.$current.withValue(env) { try await function() }
    }
}

extension Trait where Self == LivePrometheusTrait {
    static var livePrometheus: Self { LivePrometheusTrait() }
}

func successRate(_ version: String, _ fn: String = "rate") -> String {
    """
    sum(\(fn)(sextant_requests_total{version="\(version)",code!~"5.."}[10s]))
      /
    sum(\(fn)(sextant_requests_total{version="\(version)"}[10s]))
    """
}

func p99(_ version: String, _ fn: String = "rate") -> String {
    "histogram_quantile(0.99, sum by (le) (\(fn)(sextant_request_duration_seconds_bucket{version=\"\(version)\"}[10s])))"
}

@Suite(.enabled("prometheus and python3 are installed") { try LiveEnvironment.toolsPresent }, .livePrometheus)
struct LivePrometheusTests {
    var env: LiveEnvironment {
        get throws { try #require(LiveEnvironment.current) }
    }

    // Both counters of an exporter grow linearly and are read at the same instant, so the ratio
    // of their rates is the configured success rate up to float rounding, whatever the scrape
    // timing; 0.001 leaves room for that and still tells 0.99 from 0.98.
    @Test(arguments: [("v1", 0.99), ("v2", 0.6)])
    func successRateMatchesExporter(version: String, expected: Double) async throws {
        let value = try await env.client.singleValue(successRate(version))
        guard case .value(let v) = value else {
            Issue.record("no data for \(version)")
            return
        }
        #expect(abs(v - expected) < 0.001, "success rate of \(version) is \(v)")
    }

    // Every request of an exporter falls in one bucket, so histogram_quantile interpolates
    // inside that bucket: (0.025, 0.05] for 0.05 s and (0.5, 1] for 0.9 s.
    @Test(arguments: [("v1", 0.025, 0.05), ("v2", 0.5, 1.0)])
    func p99LatencyLandsInBucket(version: String, low: Double, high: Double) async throws {
        let v = try #require(try await env.client.singleValue(p99(version)).value)
        #expect(v > low && v <= high, "p99 of \(version) is \(v)")
    }

    @Test func configChangeMovesTheValues() async throws {
        let env = try self.env
        let before = try #require(try await env.client.singleValue(successRate("v3")).value)
        #expect(abs(before - 1.0) < 0.001)
        try await env.changing.configure(successRate: 0.5, latencySeconds: 0.3)
        // irate uses the last two scrapes only, so it shows the new settings two scrapes later.
        let after = try await env.waitFor(successRate("v3", "irate")) { abs($0 - 0.5) < 0.001 }
        #expect(after.map { abs($0 - 0.5) < 0.001 } == true, "success rate after the change: \(String(describing: after))")
        let latency = try await env.waitFor(p99("v3", "irate")) { $0 > 0.25 && $0 <= 0.5 }
        #expect(latency.map { $0 > 0.25 && $0 <= 0.5 } == true, "p99 after the change: \(String(describing: latency))")
        // Counters never reset: no decrease in the raw total.
        let resets = try await env.client.singleValue("sum(resets(sextant_requests_total{version=\"v3\"}[1m]))")
        #expect(resets == .value(0))
    }

    @Test func emptyResultIsNoData() async throws {
        let client = try env.client
        #expect(try await client.singleValue(#"sextant_requests_total{version="nope"}"#) == .noData)
        #expect(try await client.singleValue(successRate("nope")) == .noData)
        #expect(try await client.query(#"sextant_model_accuracy{version="nope"}"#) == .vector([]))
    }

    @Test func divisionByZeroAndNaN() async throws {
        let client = try env.client
        #expect(try await client.singleValue("vector(1) / 0") == .value(.infinity))
        #expect(try await client.singleValue("-vector(1) / 0") == .value(-.infinity))
        let nan = try await client.singleValue("vector(0) / 0")
        #expect(nan.value?.isNaN == true, "\(nan)")
        guard case .scalar(let s, _) = try await client.query("0 / 0") else {
            Issue.record("0 / 0 is not a scalar")
            return
        }
        #expect(s.isNaN)
    }

    @Test func scalars() async throws {
        let client = try env.client
        let at = Date(timeIntervalSince1970: 1_700_000_000.5)
        #expect(try await client.query("1+1", at: at) == .scalar(2, at: 1_700_000_000.5))
        #expect(try await client.singleValue("1+1") == .value(2))
        let sum = try #require(try await client.singleValue("scalar(sum(sextant_model_accuracy))").value)
        #expect(abs(sum - (0.95 + 0.7 + 0.9)) < 1e-9)
    }

    @Test func multipleSeriesMustBeAggregated() async throws {
        let client = try env.client
        let query = "sextant_model_accuracy"
        await #expect(throws: PrometheusError.multipleSeries(count: 3, query: query)) {
            try await client.singleValue(query)
        }
        #expect(try await client.singleValue("sum(sextant_model_accuracy) > 0") != .noData)
    }

    @Test func syntaxErrorCarriesPrometheusMessage() async throws {
        let client = try env.client
        do {
            _ = try await client.query("sum(rate(sextant_requests_total[10s])")
            Issue.record("a broken query succeeded")
        } catch {
            guard case .queryFailed(let address, let status, let type, let message) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(address == client.address)
            #expect(status == 400)
            #expect(type == "bad_data")
            #expect(message.contains("parse error"), "\(message)")
            #expect(error.description.contains(message))
        }
    }

    // Labels, regex matchers, quotes, '+', '&', '=' and newlines survive the form encoding.
    @Test func encodingSurvivesPromQLPunctuation() async throws {
        let client = try env.client
        let result = try await client.query("""
            label_replace(
              sum(sextant_model_accuracy{version=~"v1|v2", model!="a&b=c"}) + 0,
              "note", "a&b=c+d %20 ü", "", "")
            """)
        guard case .vector(let samples) = result, samples.count == 1 else {
            Issue.record("unexpected \(result)")
            return
        }
        #expect(samples[0].labels == ["note": "a&b=c+d %20 ü"])
        #expect(abs(samples[0].value - (0.95 + 0.7)) < 1e-9)
    }

    @Test func rangeVectorsAndStrings() async throws {
        let client = try env.client
        guard case .matrix(let series) = try await client.query(#"sextant_model_accuracy{version="v1"}[5s]"#) else {
            Issue.record("expected a matrix")
            return
        }
        #expect(series.count == 1)
        #expect(series.first?.points.count ?? 0 >= 2)
        #expect(series.first?.points.allSatisfy { $0.value == 0.95 } == true)
        await #expect(throws: PrometheusError.notASingleValue(resultType: "matrix", query: "up[5s]")) {
            try await client.singleValue("up[5s]")
        }
        guard case .string(let s, _) = try await client.query(#""sextant""#) else {
            Issue.record("expected a string")
            return
        }
        #expect(s == "sextant")
    }

    @Test func harnessCanChangeScrapeTargets() async throws {
        let env = try self.env
        let all = env.prometheus.scrapeTargets
        // Reloading with the same targets must keep them up (a no-op reload).
        try env.prometheus.setScrapeTargets(all)
        try await env.prometheus.waitForTargetsUp(timeout: .seconds(10))
        #expect(try await env.client.singleValue("count(up == 1)") == .value(3))
    }
}

/// Failures without a healthy Prometheus: each must come back fast and name the address.
@Suite(.enabled("prometheus and python3 are installed") { try LiveEnvironment.toolsPresent })
struct UnreachableTests {
    @Test func stoppedPrometheusIsATransportError() async throws {
        let prometheus = try await PrometheusServer.start(scrapeTargets: [])
        let client = try PrometheusClient(address: prometheus.address, timeout: .seconds(2))
        #expect(try await client.singleValue("1+1") == .value(2))
        prometheus.stop()
        let started = ContinuousClock.now
        do {
            _ = try await client.query("1+1")
            Issue.record("query to a stopped Prometheus succeeded")
        } catch {
            guard case .unreachable(let address, let kind, _) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(address == prometheus.address)
            #expect(kind == .couldNotConnect)
            #expect(error.description.contains(prometheus.address))
            #expect(error.isTransient)
        }
        #expect(ContinuousClock.now - started < .seconds(2))
    }

    // A server that accepts connections but never answers: the client gives up after its
    // timeout (plus its small margin), not after libcurl's or the OS's defaults.
    @Test func silentServerTimesOut() async throws {
        let silent = try TestProcess("python3", ["-c", """
            import os, signal, socket
            signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
            print("PORT", s.getsockname()[1], flush=True)
            conns = []
            while True:
                c, _ = s.accept(); conns.append(c)
            """])
        defer { silent.stop() }
        let port = try await silent.waitForLine(prefix: "PORT ")
        let address = "http://127.0.0.1:\(port)"
        let client = try PrometheusClient(address: address, timeout: .milliseconds(500))
        let started = ContinuousClock.now
        do {
            _ = try await client.query("1+1")
            Issue.record("query to a silent server succeeded")
        } catch {
            #expect(error == .timedOut(address: address, after: .milliseconds(500)))
            #expect(error.description.contains(address) && error.description.contains("0.5s"))
        }
        let elapsed = ContinuousClock.now - started
        #expect(elapsed >= .milliseconds(450) && elapsed < .seconds(3), "\(elapsed)")
    }

    @Test func nothingListening() async throws {
        let address = "http://127.0.0.1:\(try LocalHTTP.freePort())"
        let client = try PrometheusClient(address: address, timeout: .seconds(1))
        await #expect(throws: PrometheusError.self) { try await client.query("1") }
        do {
            _ = try await client.query("1")
        } catch {
            #expect(error.description.hasPrefix("cannot reach Prometheus at \(address)"), "\(error)")
        }
    }
}

/// What the client puts on the wire, seen by a recording server (Python's own form parser).
@Suite(.enabled("python3 is installed") { try Tooling.available("python3", MetricsExporter.isAvailable) })
struct WireTests {
    static let recorder = """
        import json, os, signal, sys, urllib.parse
        from http.server import BaseHTTPRequestHandler, HTTPServer
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        class H(BaseHTTPRequestHandler):
            def log_message(self, *a): pass
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                seen = {"method": "POST", "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                        "form": urllib.parse.parse_qs(body, keep_blank_values=True, strict_parsing=True)}
                print("REQ " + json.dumps(seen), flush=True)
                out = b'{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}'
                self.send_response(200); self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out))); self.end_headers(); self.wfile.write(out)
        s = HTTPServer(("127.0.0.1", 0), H)
        print("PORT", s.server_address[1], flush=True)
        s.serve_forever()
        """

    @Test func requestCarriesFormTokenHeadersAndPrefix() async throws {
        let server = try TestProcess("python3", ["-c", Self.recorder])
        defer { server.stop() }
        let port = try await server.waitForLine(prefix: "PORT ")
        let client = try PrometheusClient(address: "http://127.0.0.1:\(port)/prom/", timeout: .seconds(3),
                                          bearerToken: "s3cret\n", headers: ["X-Scope-OrgID": "ml"])
        let promql = "sum(rate(x{code=~\"5..\", a!=\"b&c=d+e\"}[1m]))\n  / 2 ü"
        let at = Date(timeIntervalSince1970: 1_700_000_000.25)
        #expect(try await client.singleValue(promql, at: at) == .value(1))

        let line = try await server.waitForLine(prefix: "REQ ")
        let seen = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(seen["path"] as? String == "/prom/api/v1/query")
        let headers = try #require(seen["headers"] as? [String: String])
        #expect(headers["authorization"] == "Bearer s3cret")
        #expect(headers["x-scope-orgid"] == "ml")
        #expect(headers["content-type"] == "application/x-www-form-urlencoded")
        let form = try #require(seen["form"] as? [String: [String]])
        #expect(form["query"] == [promql])
        #expect(form["time"] == ["1700000000.250"])
        #expect(form["timeout"] == ["3s"])
    }
}
