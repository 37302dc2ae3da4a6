import Foundation
import SextantTestSupport
import SextantTransport
import Testing
@testable import SextantServing

/// A plain HTTP client in Python (urllib, no KServe SDK needed) speaking V1, V2 and feedback.
let pythonClient = #"""
import json, sys, urllib.request, urllib.error

base = sys.argv[1]
def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read()), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), dict(e.headers)

s, b, _ = call("GET", "/v2/health/ready"); assert s == 200 and b["ready"] is True, b
s, b, h = call("POST", "/v1/models/fraud:predict", {"instances": [[20, "de"], {"amount": 150, "country": "us"}]})
assert s == 200 and len(b["predictions"]) == 2, b
assert h.get("x-prediction-id") == b["id"], h
v1_id = b["id"]
s, b, _ = call("POST", "/v2/models/fraud/versions/3/infer", {"id": "py-1", "inputs": [
    {"name": "amount", "shape": [2], "datatype": "FP32", "data": [10.5, 180]},
    {"name": "country", "shape": [2], "datatype": "BYTES", "data": ["fr", "fr"]}]})
assert s == 200 and b["id"] == "py-1" and b["outputs"][0]["shape"] == [2], b
v2_id = b["parameters"]["prediction_id"]
s, b, _ = call("POST", "/v1/models/fraud:predict", {"instances": [[1, 2, 3]]})
assert s == 400 and "expects 2" in b["error"], b
s, b, _ = call("POST", "/v1/models/fraud/feedback", {"feedback": [{"id": v1_id, "labels": [0, 1]}, {"id": v2_id + ":1", "label": 1}]})
assert s == 200 and b["matched"] == 3, b
print("client ok")
"""#

@Suite(.serialized) struct ClientTests {
    @Test func pythonHTTPClientSpeaksBothProtocols() async throws {
        guard try Tooling.available("python3", Tooling.find("python3") != nil) else { return }
        let dir = try TemporaryDirectory()
        try Data(pythonClient.utf8).write(to: URL(fileURLWithPath: dir.file("client.py")))
        let state = loadedState(try artifactModel())
        try await withServer(state) { base in
            let run = try await runClient("python3", [dir.file("client.py"), base], environment: ["no_proxy": "*", "NO_PROXY": "*"])
            #expect(run.code == 0, "\(run.output)")
            #expect(run.output.contains("client ok"))
            let metrics = try await call("GET", "\(base)/metrics").text
            #expect(sample(metrics, "sextant_feedback_total", [#"result="matched""#]) == 3)
            #expect(sample(metrics, "sextant_requests_total", [#"protocol="v2""#, #"code="200""#]) == 1)
        }
    }

    /// A real Prometheus scrapes /metrics and answers a query for a sextant_ metric.
    @Test func prometheusScrapesTheServer() async throws {
        guard try Tooling.available("prometheus", Tooling.find("prometheus") != nil) else { return }
        let dir = try TemporaryDirectory()
        let state = loadedState(try artifactModel())
        try await withServer(state) { base in
            // Traffic that gives drift gauges a value: every amount in the lowest reference bin.
            let r = try await call("POST", "\(base)/v1/models/fraud:predict", #"{"instances":[[1,"de"],[2,"de"],[3,"fr"]]}"#)
            #expect(r.status == 200)
            let target = base.replacingOccurrences(of: "http://", with: "")
            try Data("""
                global: {scrape_interval: 1s, evaluation_interval: 1s}
                scrape_configs:
                  - job_name: sextant-server
                    static_configs: [{targets: ["\(target)"]}]
                """.utf8).write(to: URL(fileURLWithPath: dir.file("prometheus.yml")))
            let port = try freePort()
            let prometheus = try TestProcess("prometheus", [
                "--config.file=\(dir.file("prometheus.yml"))", "--web.listen-address=127.0.0.1:\(port)",
                "--storage.tsdb.path=\(dir.file("data"))",
            ])
            defer { prometheus.stop() }
            let query = "http://127.0.0.1:\(port)/api/v1/query?query=sextant_feature_psi%7Bfeature%3D%22amount%22%7D"
            var found: [String: Any]?
            let deadline = ContinuousClock.now + .seconds(40)
            while ContinuousClock.now < deadline, found == nil {
                try await Task.sleep(for: .milliseconds(500))
                guard let reply = try? await call("GET", query), reply.status == 200,
                      let data = reply.json["data"] as? [String: Any],
                      let result = data["result"] as? [[String: Any]], let first = result.first else { continue }
                found = first
            }
            let series = try #require(found, "Prometheus returned no sextant_feature_psi: \(prometheus.text.suffix(2000))")
            let labels = series["metric"] as? [String: String] ?? [:]
            #expect(labels["model"] == "fraud" && labels["version"] == "3" && labels["job"] == "sextant-server")
            // All three amounts in the first of four equal bins: PSI = 0.75 ln 4 + 3 (1e-4 - 0.25) ln(4e-4).
            let value = Double((series["value"] as? [Any])?.last as? String ?? "") ?? -1
            let expected = 0.75 * log(4.0) + 3 * (1e-4 - 0.25) * log(1e-4 / 0.25)
            #expect(abs(value - expected) < 1e-6)
        }
    }
}

func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestSetupError("socket() failed") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard bound else { throw TestSetupError("bind() failed") }
    return Int(UInt16(bigEndian: addr.sin_port))
}
