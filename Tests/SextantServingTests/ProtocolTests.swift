import Foundation
import SextantJSON
import SextantTestSupport
import Testing
@testable import SextantServing

@Suite struct ProtocolTests {
    @Test func v1PredictBatchWithPositionalAndNamedRows() async throws {
        let state = loadedState(try artifactModel())
        try await withServer(state) { base in
            let r = try await call("POST", "\(base)/v1/models/fraud:predict",
                                   #"{"instances":[[20,"de"],[150,"us"],[150,"fr"],{"amount":null,"country":"zz"}]}"#)
            #expect(r.status == 200, "\(r.text)")
            let p = try #require(r.json["predictions"] as? [Double])
            #expect(p.count == 4)
            // Tree: amount < 100 -> -1; else us -> 0.5, other -> 1.5; missing amount goes left.
            for (got, margin) in zip(p, [-1.0, 0.5, 1.5, -1.0]) { #expect(abs(got - sigmoid(margin)) < 1e-12) }
            let id = try #require(r.json["id"] as? String)
            #expect(r.headers["x-prediction-id"] == id)
        }
    }

    @Test func v1ModelStatusAndUnknownModel() async throws {
        let state = loadedState(try artifactModel())
        try await withServer(state) { base in
            let ok = try await call("GET", "\(base)/v1/models/fraud")
            #expect(ok.status == 200)
            #expect(ok.json["ready"] as? Bool == true)
            let missing = try await call("POST", "\(base)/v1/models/other:predict", #"{"instances":[[1,"de"]]}"#)
            #expect(missing.status == 404)
            #expect((missing.json["error"] as? String)?.contains("model 'other' not found") == true)
        }
    }

    @Test(arguments: [
        (#"{"instances":[[1]]}"#, "instances[0] has 1 features; model 'fraud' expects 2"),
        (#"{"instances":[["x","de"]]}"#, "feature 'amount' is numeric but got the string \"x\""),
        (#"{"instances":[[1,[2]]]}"#, "feature 'country' must be a number or string, got array"),
        (#"{"instances":[{"amount":1,"colour":"red"}]}"#, "unknown feature 'colour'"),
        (#"{"instances":[]}"#, "'instances' is empty"),
        (#"{"rows":[[1,"de"]]}"#, "no 'instances' field"),
        (#"{"instances":[[1,"de"]"#, "not valid JSON"),
    ])
    func v1BadRequestsNameTheProblem(body: String, message: String) async throws {
        let state = loadedState(try artifactModel())
        try await withServer(state) { base in
            let r = try await call("POST", "\(base)/v1/models/fraud:predict", body)
            #expect(r.status == 400)
            let error = try #require(r.json["error"] as? String, "body: \(r.text)")
            #expect(error.contains(message), "\(error)")
        }
    }

    @Test func v2HealthMetadataAndInferTensorForms() async throws {
        let state = loadedState(try artifactModel())
        try await withServer(state) { base in
            #expect(try await call("GET", "\(base)/v2/health/live").status == 200)
            #expect(try await call("GET", "\(base)/v2/health/ready").status == 200)
            #expect(try await call("GET", "\(base)/v2/models/fraud/versions/3/ready").json["ready"] as? Bool == true)
            #expect(try await call("GET", "\(base)/v2/models/fraud/versions/9").status == 404)
            let meta = try await call("GET", "\(base)/v2/models/fraud")
            let inputs = try #require(meta.json["inputs"] as? [[String: Any]])
            #expect(inputs.map { $0["name"] as? String } == ["amount", "country"])
            #expect(inputs.map { $0["datatype"] as? String } == ["FP64", "BYTES"])

            // One tensor per feature, typed; BYTES for the categorical one.
            let perFeature = try await call("POST", "\(base)/v2/models/fraud/versions/3/infer", #"""
                {"id":"req-1","inputs":[{"name":"amount","shape":[2],"datatype":"INT32","data":[20,150]},
                 {"name":"country","shape":[2,1],"datatype":"BYTES","data":[["us"],["fr"]]}]}
                """#)
            #expect(perFeature.status == 200, "\(perFeature.text)")
            #expect(perFeature.json["id"] as? String == "req-1")
            let out = try #require((perFeature.json["outputs"] as? [[String: Any]])?.first)
            let data = try #require(out["data"] as? [Double])
            #expect(out["shape"] as? [Int] == [2])
            #expect(abs(data[0] - sigmoid(-1)) < 1e-12 && abs(data[1] - sigmoid(1.5)) < 1e-12)
            let pid = (perFeature.json["parameters"] as? [String: Any])?["prediction_id"] as? String
            #expect(pid != nil && perFeature.headers["x-prediction-id"] == pid)

        }
    }

    @Test(arguments: [
        (#"{"inputs":[{"name":"amount","shape":[1],"datatype":"BYTES","data":["12"]}]}"#, "BYTES data for numeric feature 'amount'"),
        (#"{"inputs":[{"name":"amount","shape":[2],"datatype":"FP32","data":[1]}]}"#, "shape [2] needs 2 values, data has 1"),
        (#"{"inputs":[{"name":"amount","shape":[1],"datatype":"INT8","data":[300]}]}"#, "300 is out of range for INT8"),
        (#"{"inputs":[{"name":"amount","shape":[1],"datatype":"INT64","data":[1.5]}]}"#, "is INT64 but element 0 is number"),
        (#"{"inputs":[{"name":"amount","shape":[1],"datatype":"FP32","data":["1"]}]}"#, "is FP32 but element 0 is string"),
        (#"{"inputs":[{"name":"amount","shape":[1],"datatype":"FLOAT","data":[1]}]}"#, "unknown datatype 'FLOAT'"),
        (#"{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP64","data":[1,2,3]}]}"#, "expects [rows, 2]"),
        (#"{"inputs":[{"name":"amount","shape":[1],"datatype":"FP64","data":[1]},{"name":"country","shape":[2],"datatype":"BYTES","data":["de","fr"]}]}"#, "has 2 rows, other inputs have 1"),
    ])
    func v2BadTensorsNameTheProblem(body: String, message: String) async throws {
        let state = loadedState(try artifactModel())
        try await withServer(state) { base in
            let r = try await call("POST", "\(base)/v2/models/fraud/infer", body)
            #expect(r.status == 400)
            let error = try #require(r.json["error"] as? String, "body: \(r.text)")
            #expect(error.contains(message), "\(error)")
        }
    }

    @Test func v2MatrixTensorOnXGBoostModel() async throws {
        let model = try ServedModel.decode(Data(tinyXGBoostJSON.utf8), uri: "inline", name: "tiny", version: "1")
        try await withServer(loadedState(model)) { base in
            let r = try await call("POST", "\(base)/v2/models/tiny/infer",
                                   #"{"inputs":[{"name":"input-0","shape":[3,2],"datatype":"FP32","data":[[0.1,0],[0.5,0],[null,0]]}]}"#)
            #expect(r.status == 200, "\(r.text)")
            let data = try #require(((r.json["outputs"] as? [[String: Any]])?.first)?["data"] as? [Double])
            // 0.1 < 0.5 -> left (-0.4); 0.5 is not < 0.5 -> right (0.6); missing -> default right.
            let expected = [-0.4, 0.6, 0.6].map { sigmoid(Double(Float($0))) }
            for (a, b) in zip(data, expected) { #expect(abs(a - b) < 1e-7) }
        }
    }

    @Test func bodyLimitGives413() async throws {
        let state = loadedState(try artifactModel(), maxBodyBytes: 200)
        try await withServer(state) { base in
            let rows = Array(repeating: #"[1,"de"]"#, count: 100).joined(separator: ",")
            let r = try await call("POST", "\(base)/v1/models/fraud:predict", #"{"instances":[\#(rows)]}"#)
            #expect(r.status == 413)
            #expect((r.json["error"] as? String)?.contains("limit of 200 bytes") == true)
        }
    }

    @Test func notReadyUntilLoaded() async throws {
        let state = ServingState(name: "fraud", version: "3")
        try await withServer(state) { base in
            #expect(try await call("GET", "\(base)/v2/health/live").status == 200)
            #expect(try await call("GET", "\(base)/v2/health/ready").status == 503)
            #expect(try await call("GET", "\(base)/v2/models/fraud/ready").status == 503)
            let early = try await call("POST", "\(base)/v1/models/fraud:predict", #"{"instances":[[1,"de"]]}"#)
            #expect(early.status == 503)
            #expect((early.json["error"] as? String)?.contains("not loaded yet") == true)
            state.install(LoadedModel(model: try artifactModel()))
            #expect(try await call("GET", "\(base)/v2/health/ready").status == 200)
            #expect(try await call("POST", "\(base)/v1/models/fraud:predict", #"{"instances":[[1,"de"]]}"#).status == 200)
        }
    }

    @Test func metricsCountRequestsDriftAndFeedback() async throws {
        let state = loadedState(try artifactModel())
        try await withServer(state) { base in
            // 100 rows: amounts 40/30/20/10 over the four reference bins, all country "de".
            var rows: [String] = []
            for (count, amount) in [(40, 10), (30, 60), (20, 120), (10, 180)] {
                rows += Array(repeating: "[\(amount),\"de\"]", count: count)
            }
            let r = try await call("POST", "\(base)/v1/models/fraud:predict", #"{"instances":[\#(rows.joined(separator: ","))]}"#)
            #expect(r.status == 200)
            let id = try #require(r.json["id"] as? String)
            _ = try await call("POST", "\(base)/v1/models/fraud:predict", #"{"instances":[[1]]}"#)
            // Labels: rows < 100 are predicted 0 (p = sigmoid(-1)); label them 0 except the first;
            // rows >= 100 are predicted 1; label them 1.
            let labels = (0..<100).map { $0 < 70 ? ($0 == 0 ? 1 : 0) : 1 }
            let fb = try await call("POST", "\(base)/v1/models/fraud/feedback",
                                    #"{"feedback":[{"id":"\#(id)","labels":\#(labels)},{"id":"nope","label":1}]}"#)
            #expect(fb.status == 200, "\(fb.text)")
            #expect(fb.json["matched"] as? Int == 100)
            #expect(fb.json["unknown"] as? [String] == ["nope"])

            let text = try await call("GET", "\(base)/metrics").text
            let mv = [#"model="fraud""#, #"version="3""#]
            #expect(sample(text, "sextant_requests_total", mv + [#"protocol="v1""#, #"code="200""#]) == 1)
            #expect(sample(text, "sextant_requests_total", mv + [#"code="400""#]) == 1)
            #expect(sample(text, "sextant_predictions_total", mv + [#"class="1""#]) == 30)
            #expect(sample(text, "sextant_predictions_total", mv + [#"class="0""#]) == 70)
            #expect(sample(text, "sextant_request_duration_seconds_count", mv + [#"protocol="v1""#]) == 2)
            #expect(sample(text, "sextant_prediction_score_count", mv) == 100)
            #expect(sample(text, "sextant_requests_in_flight", mv) == 0)
            let psi = try #require(sample(text, "sextant_feature_psi", mv + [#"feature="amount""#]))
            #expect(abs(psi - 0.2282174) < 1e-6)
            let psiCountry = try #require(sample(text, "sextant_feature_psi", [#"feature="country""#]))
            #expect(abs(psiCountry - 4.267104) < 1e-5)
            #expect(sample(text, "sextant_feature_ks", [#"feature="amount""#]) != nil)
            #expect(sample(text, "sextant_feature_ks", [#"feature="country""#]) == nil)
            #expect(abs((sample(text, "sextant_model_accuracy", mv) ?? -1) - 0.99) < 1e-12)
            // Row 0 is a positive scored like the 69 negatives (tie: half credit); the 30 others rank
            // above every negative: AUC = (30*69 + 1*69*0.5) / (31*69) = 2104.5/2139.
            let auc = try #require(sample(text, "sextant_model_auc", mv))
            #expect(abs(auc - 2104.5 / 2139) < 1e-12)
        }
    }
}
