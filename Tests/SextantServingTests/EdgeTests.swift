import Foundation
import SextantJSON
import SextantTestSupport
import Testing
@testable import SextantServing

/// Issue #22's defects, each checked where it was found: metrics before labels, feedback
/// accounting, the unknown-category drift bin, HTTP edges and error wording.
@Suite struct EdgeTests {
    // MARK: Metrics before labels

    @Test func qualityMetricsAreAbsentUntilLabelsArrive() async throws {
        let state = loadedState(try artifactModel())
        try await withServer(state) { base in
            let mv = [#"model="fraud""#, #"version="3""#]
            var text = try await call("GET", "\(base)/metrics").text
            // No sample at all, not a 0 that an analysis would read as a real accuracy.
            #expect(!text.contains("\nsextant_model_accuracy{"), "\(text)")
            #expect(!text.contains("\nsextant_model_auc{"))
            #expect(sample(text, "sextant_feedback_window_rows", mv) == 0)

            let r = try await call("POST", "\(base)/v1/models/fraud:predict", #"{"instances":[[20,"de"],[150,"us"]]}"#)
            let id = try #require(r.json["id"] as? String)
            // One class only: accuracy exists, AUC does not yet.
            _ = try await call("POST", "\(base)/v1/models/fraud/feedback", #"{"id":"\#(id):1","label":1}"#)
            text = try await call("GET", "\(base)/metrics").text
            #expect(sample(text, "sextant_model_accuracy", mv) == 1)
            #expect(sample(text, "sextant_model_auc", mv) == nil)
            #expect(sample(text, "sextant_feedback_window_rows", mv) == 1)
            _ = try await call("POST", "\(base)/v1/models/fraud/feedback", #"{"id":"\#(id):0","label":0}"#)
            text = try await call("GET", "\(base)/metrics").text
            #expect(sample(text, "sextant_model_auc", mv) == 1)
            #expect(sample(text, "sextant_feedback_window_rows", mv) == 2)
        }
    }

    // MARK: Feedback

    @Test func feedbackCountsLabelsOnceAndInOneUnit() async throws {
        let state = loadedState(try artifactModel())
        try await withServer(state) { base in
            let rows = (0..<100).map { "[\($0 < 50 ? 20 : 150),\"de\"]" }.joined(separator: ",")
            let r = try await call("POST", "\(base)/v1/models/fraud:predict", #"{"instances":[\#(rows)]}"#)
            let id = try #require(r.json["id"] as? String)
            let labels = (0..<100).map { $0 < 50 ? 0 : 1 }
            // The plain form for a whole request: its id and one label per row.
            let fb = try await call("POST", "\(base)/v1/models/fraud/feedback", #"{"id":"\#(id)","labels":\#(labels)}"#)
            #expect(fb.status == 200, "\(fb.text)")
            #expect(fb.json["matched"] as? Int == 100, "\(fb.text)")
            #expect(fb.json["unknown"] as? [String] == [])
            // The same labels again, and one row of them: counted once.
            let again = try await call("POST", "\(base)/v1/models/fraud/feedback",
                                       #"{"feedback":[{"id":"\#(id)","labels":\#(labels)},{"id":"\#(id):7","label":0}]}"#)
            #expect(again.json["matched"] as? Int == 0, "\(again.text)")
            #expect(again.json["duplicate"] as? Int == 101)
            // Unknown ids count their labels, like matched does.
            let unknown = try await call("POST", "\(base)/v1/models/fraud/feedback",
                                         #"{"feedback":[{"id":"gone-1","labels":[1,0,1]},{"id":"gone-2:0","label":1}]}"#)
            #expect(unknown.json["unknown"] as? [String] == ["gone-1", "gone-2:0"])
            #expect(unknown.json["unknown_labels"] as? Int == 4)
            // A count that does not fit the request is named, not called unknown.
            let short = try await call("POST", "\(base)/v1/models/fraud/feedback", #"{"id":"\#(id)","labels":[1,0]}"#)
            let rejected = try #require((short.json["rejected"] as? [[String: Any]])?.first)
            #expect((rejected["reason"] as? String)?.contains("2 labels for a request of 100 rows") == true, "\(short.text)")
            #expect(short.json["unknown"] as? [String] == [])

            let text = try await call("GET", "\(base)/metrics").text
            #expect(sample(text, "sextant_feedback_total", [#"result="matched""#]) == 100)
            #expect(sample(text, "sextant_feedback_total", [#"result="duplicate""#]) == 101)
            #expect(sample(text, "sextant_feedback_total", [#"result="unknown_id""#]) == 4)
            #expect(sample(text, "sextant_feedback_total", [#"result="rejected""#]) == 2)
            #expect(sample(text, "sextant_feedback_window_rows", []) == 100)
            #expect(sample(text, "sextant_model_accuracy", []) == 1)
        }
    }

    // MARK: Drift

    @Test func unseenCategoryHasItsOwnDriftBin() async throws {
        let state = loadedState(try artifactModel())
        try await withServer(state) { base in
            // 4 rows "de", 6 rows of a category the model never saw.
            let rows = (Array(repeating: #"[150,"de"]"#, count: 4) + Array(repeating: #"[150,"zz"]"#, count: 6)).joined(separator: ",")
            let r = try await call("POST", "\(base)/v1/models/fraud:predict", #"{"instances":[\#(rows),[150,null]]}"#)
            #expect(r.status == 200, "\(r.text)")
            // Scored like a missing value: the category split's default branch (right, 1.5).
            let p = try #require(r.json["predictions"] as? [Double])
            #expect(abs(p[5] - sigmoid(1.5)) < 1e-12 && p[5] == p[10])
            let text = try await call("GET", "\(base)/metrics").text
            // Bins de/fr/us/unknown/missing: live 4/0/0/6/1 of 11, reference 500/300/200/0/0.
            let live = [4.0, 0, 0, 6, 1].map { max($0 / 11, Drift.epsilon) }
            let reference = [0.5, 0.3, 0.2, 0, 0].map { max($0, Drift.epsilon) }
            let expected = zip(live, reference).reduce(0.0) { $0 + ($1.0 - $1.1) * log($1.0 / $1.1) }
            let psi = try #require(sample(text, "sextant_feature_psi", [#"feature="country""#]))
            #expect(abs(psi - expected) < 1e-9, "psi \(psi), expected \(expected)")
        }
    }

    // MARK: HTTP edges

    @Test func wrongMethodsGet405WithAllow() async throws {
        let state = loadedState(try artifactModel())
        try await withServer(state) { base in
            for (method, path, allowed) in [("DELETE", "/v2/health/live", "GET"), ("GET", "/v2/models/fraud/infer", "POST"),
                                            ("PUT", "/v1/models/fraud:predict", "POST"), ("POST", "/metrics", "GET"),
                                            ("POST", "/v2/models/fraud/versions/3", "GET")] {
                let r = try await call(method, base + path, method == "GET" ? nil : "{}")
                #expect(r.status == 405, "\(method) \(path): \(r.status)")
                #expect(r.headers["allow"] == allowed, "\(method) \(path): \(r.headers)")
                #expect((r.json["error"] as? String)?.contains("allowed: \(allowed)") == true, "\(r.text)")
            }
            let missing = try await call("GET", "\(base)/v3/nothing")
            #expect(missing.status == 404)
            #expect(missing.json["error"] is String)
        }
    }

    /// A real client (Python's socket module) sends a body over the limit with `Connection:
    /// close`: it must be able to send it all, read the 413 with its JSON body, then see the
    /// connection closed, well before its own 10 s timeout.
    @Test func oversizedBodyWithConnectionCloseGets413AndEOF() async throws {
        guard try Tooling.available("python3", Tooling.find("python3") != nil) else { return }
        let script = #"""
        import socket, sys, time
        host, port = sys.argv[1], int(sys.argv[2])
        body = b"[" + b"1," * (8 << 20) + b"1]"
        s = socket.create_connection((host, port), timeout=10)
        start = time.time()
        s.sendall(b"POST /v1/models/fraud:predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
                  + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        print("elapsed %.2f" % (time.time() - start))
        print(data.decode(errors="replace"))
        """#
        let dir = try TemporaryDirectory()
        try Data(script.utf8).write(to: URL(fileURLWithPath: dir.file("big.py")))
        let state = loadedState(try artifactModel(), maxBodyBytes: 200)
        try await withServer(state) { base in
            let port = base.split(separator: ":").last.map(String.init) ?? ""
            let run = try await runClient("python3", [dir.file("big.py"), "127.0.0.1", port])
            #expect(run.code == 0, "the client timed out or failed: \(run.output.suffix(600))")
            #expect(run.output.contains("HTTP/1.1 413"), "\(run.output.prefix(600))")
            #expect(run.output.contains(#""error":"request body of"#), "\(run.output.prefix(600))")
        }
    }

    @Test(arguments: [
        (#"{"instances":[[1e400,"de"]]}"#, "instances[0][0]: feature 'amount' got a number too large for a 64-bit float"),
        (#"{"instances":[[true,"de"]]}"#, "instances[0][0]: feature 'amount' is numeric but got true"),
        (#"{"instances":[{"amount":false}]}"#, "feature 'amount' is numeric but got false"),
    ])
    func v1RefusesWhatV2Refuses(body: String, message: String) async throws {
        let state = loadedState(try artifactModel())
        try await withServer(state) { base in
            let r = try await call("POST", "\(base)/v1/models/fraud:predict", body)
            #expect(r.status == 400, "\(r.text)")
            #expect((r.json["error"] as? String)?.contains(message) == true, "\(r.text)")
            let v2 = try await call("POST", "\(base)/v2/models/fraud/infer",
                                    #"{"inputs":[{"name":"amount","shape":[1],"datatype":"FP64","data":[\#(body.contains("1e400") ? "1e400" : "true")]}]}"#)
            #expect(v2.status == 400, "\(v2.text)")
        }
    }

    @Test(arguments: [
        (#"{"inputs":[{"name":"amount","shape":[1],"datatype":"FP64","data":[1]}],"outputs":[{"name":"score"}]}"#,
         "unknown output 'score'; model 'fraud' has one output, 'probability'"),
        (#"{"inputs":[{"name":"amount","shape":[1,"x"],"datatype":"FP64","data":[1]}]}"#, #"shape [1,"x"] must hold"#),
        (#"{"inputs":[{"name":"amount","shape":[2],"datatype":"FP64","parameters":{"binary_data_size":16}}]}"#,
         "has binary_data_size but the request has no Inference-Header-Content-Length header"),
    ])
    func v2RefusalsNameTheProblem(body: String, message: String) async throws {
        let state = loadedState(try artifactModel())
        try await withServer(state) { base in
            let r = try await call("POST", "\(base)/v2/models/fraud/infer", body)
            #expect(r.status == 400, "\(r.text)")
            #expect((r.json["error"] as? String)?.contains(message) == true, "\(r.text)")
        }
    }

    // MARK: Model messages

    @Test func modelRefusalsNameTheRealReason() {
        let multi = tinyXGBoostJSON.replacingOccurrences(of: #""base_score":"[5E-1]""#, with: #""base_score":"[5.08E-1,4.44E-1]""#)
            .replacingOccurrences(of: #""num_target":"1""#, with: #""num_target":"2""#)
        let objective = tinyXGBoostJSON.replacingOccurrences(of: #""name":"binary:logistic""#, with: #""name":"rank:pairwise""#)
        for (json, message) in [(multi, "num_target=2 with binary:logistic (multi-label) is not supported"),
                                (objective, "objective 'rank:pairwise' is not supported (supported: binary:logistic, count:poisson")] {
            #expect(json != tinyXGBoostJSON)
            do {
                _ = try XGBoostForest(json: Data(json.utf8))
                Issue.record("accepted: \(message)")
            } catch {
                #expect(error.description.contains(message), "\(error)")
            }
        }
    }
}
