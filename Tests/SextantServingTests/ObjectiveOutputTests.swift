import Foundation
import SextantJSON
import SextantML
import SextantTestSupport
import Testing
@testable import SextantServing

/// Issue 16: a regression model answers one number per row and a multiclass model the K class
/// probabilities, over V1 and V2, equal to the trainer's in-process predictions of the artifact.
@Suite struct ObjectiveOutputTests {
    /// Trains a small model with `objective` on generated rows; returns the served model, the
    /// artifact and the rows (x0, x1; x1 sometimes missing).
    static func trained(_ objective: Objective) async throws -> (ServedModel, ModelArtifact, [[Double?]]) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sextant-objective-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = SplitMix64(seed: 7)
        var csv = "x0,x1,label\n"
        var rows: [[Double?]] = []
        for i in 0..<600 {
            let x0 = rng.nextGaussian(), x1 = rng.nextGaussian()
            let label: String
            switch objective {
            case .multiSoftprob: label = String(x0 > 0.5 ? 2 : (x1 > 0 ? 1 : 0))
            case .tweedie, .poisson: label = String(i % 3 == 0 ? 0 : exp(0.5 * x0 - 0.3 * x1) * (1 + rng.nextUnit()))
            default: label = String(3 * x0 - x1 + 0.1 * rng.nextGaussian())
            }
            let missing = i % 7 == 0
            csv += "\(x0),\(missing ? "" : String(x1)),\(label)\n"
            if i < 5 { rows.append([x0, missing ? nil : x1]) }
        }
        try Data(csv.utf8).write(to: dir.appendingPathComponent("d.csv"))
        let cfg = try TrainingConfig.parse(yaml: """
            modelName: m
            data: {uri: "\(dir.appendingPathComponent("d.csv").path)"}
            target: label
            objective: "\(objective.rawValue)"
            split: {train: 0.8, test: 0.2}
            hyperparameters: {nEstimators: 8, maxDepth: 3}
            output: {uri: "\(dir.appendingPathComponent("out").path)"}
            """)
        _ = try await Trainer.run(cfg)
        let data = try Data(contentsOf: dir.appendingPathComponent("out/model.json"))
        let artifact = try ModelArtifact.load(data: data)
        return (try ServedModel.decode(data, uri: "inline", name: "m", version: "1"), artifact, rows)
    }

    /// Numbers of a JSON array (nested arrays flattened), read with SextantJSON's parser, which
    /// reads the shortest round-trip form back exactly (Foundation's may be off by an ulp).
    static func numbers(_ body: Data, _ path: [String], index: Int? = nil) throws -> [Double] {
        var v = try JSONValue.parse(body)
        for key in path { v = try #require(v[key]) }
        if let index { v = try #require(v.arrayValue?[index]) }
        if let data = v["data"] { v = data }
        func flat(_ v: JSONValue) -> [Double] { v.arrayValue.map { $0.flatMap(flat) } ?? [v.doubleValue ?? .nan] }
        return flat(v)
    }

    static func instances(_ rows: [[Double?]]) -> String {
        "[" + rows.map { "[" + $0.map { $0.map { String($0) } ?? "null" }.joined(separator: ",") + "]" }.joined(separator: ",") + "]"
    }

    /// The server answers its own Tweedie, absolute- and quantile-error artifacts with the
    /// trainer's predictions (Tweedie: e^margin, positive).
    @Test(arguments: [Objective.tweedie, .absoluteError, .quantileError])
    func newRegressionObjectivesServe(_ objective: Objective) async throws {
        let (model, artifact, rows) = try await Self.trained(objective)
        #expect(model.outputName == "prediction" && model.outputWidth == 1 && model.objectiveName == objective.rawValue)
        let expected = try rows.map { try artifact.predictOutputs($0)[0] }
        if objective == .tweedie { #expect(expected.allSatisfy { $0 > 0 }) }
        try await withServer(loadedState(model)) { base in
            let v1 = try await call("POST", "\(base)/v1/models/m:predict", #"{"instances":\#(Self.instances(rows))}"#)
            #expect(v1.status == 200, "\(v1.text)")
            #expect(try Self.numbers(v1.body, ["predictions"]) == expected)
        }
    }

    @Test func regressionAnswersOneNumberPerRow() async throws {
        let (model, artifact, rows) = try await Self.trained(.squaredError)
        #expect(model.outputName == "prediction" && model.outputWidth == 1)
        let expected = try rows.map { try artifact.predictOutputs($0)[0] }
        try await withServer(loadedState(model)) { base in
            let v1 = try await call("POST", "\(base)/v1/models/m:predict", #"{"instances":\#(Self.instances(rows))}"#)
            #expect(v1.status == 200, "\(v1.text)")
            #expect(try Self.numbers(v1.body, ["predictions"]) == expected)
            #expect((v1.json["predictions"] as? [Any])?.first is Double)
            let flat = rows.flatMap { $0.map { $0.map { String($0) } ?? "null" } }.joined(separator: ",")
            let v2 = try await call("POST", "\(base)/v2/models/m/infer",
                                    #"{"inputs":[{"name":"x","datatype":"FP64","shape":[\#(rows.count),2],"data":[\#(flat)]}]}"#)
            #expect(v2.status == 200, "\(v2.text)")
            let out = try #require((v2.json["outputs"] as? [[String: Any]])?.first)
            #expect(out["name"] as? String == "prediction")
            #expect(out["shape"] as? [Int] == [rows.count])
            #expect(try Self.numbers(v2.body, ["outputs"], index: 0) == expected)
            let meta = try await call("GET", "\(base)/v2/models/m")
            let metaOut = try #require((meta.json["outputs"] as? [[String: Any]])?.first)
            #expect(metaOut["name"] as? String == "prediction" && metaOut["shape"] as? [Int] == [-1])
            // Feedback labels are the true values: RMSE and MAE over them, no accuracy. Before a
            // label there is no RMSE sample at all (not a 0 a threshold would read as perfect).
            let id = try #require(v1.json["id"] as? String)
            let before = try await call("GET", "\(base)/metrics").text
            #expect(before.contains("sextant_feedback_window_rows") && !before.contains("sextant_model_rmse{"), "\(before)")
            // Each label 2 above the prediction for the first half, 1 below for the rest.
            let offsets = expected.indices.map { $0 < expected.count / 2 ? 2.0 : -1.0 }
            let labels = "[" + zip(expected, offsets).map { String($0 + $1) }.joined(separator: ",") + "]"
            let fb = try await call("POST", "\(base)/v1/models/m/feedback", #"{"feedback":[{"id":"\#(id)","labels":\#(labels)}]}"#)
            #expect(fb.status == 200 && fb.json["matched"] as? Int == rows.count, "\(fb.text)")
            let metrics = try await call("GET", "\(base)/metrics").text
            let rmse = (offsets.map { $0 * $0 }.reduce(0, +) / Double(offsets.count)).squareRoot()
            let mae = offsets.map(abs).reduce(0, +) / Double(offsets.count)
            #expect(abs((sample(metrics, "sextant_model_rmse") ?? -1) - rmse) < 1e-9, "\(metrics)")
            #expect(abs((sample(metrics, "sextant_model_mae") ?? -1) - mae) < 1e-9, "\(metrics)")
            #expect(!metrics.contains("sextant_model_accuracy{"), "\(metrics)")
            // A string is not a value.
            let bad = try await call("POST", "\(base)/v1/models/m/feedback", #"{"id":"\#(id):0","label":"high"}"#)
            #expect(bad.status == 400 && bad.text.contains("must be a finite number"), "\(bad.text)")
        }
    }

    @Test func multiclassAnswersClassProbabilities() async throws {
        let (model, artifact, rows) = try await Self.trained(.multiSoftprob)
        #expect(model.outputName == "probability" && model.outputWidth == 3)
        let expected = try rows.map { try artifact.predictOutputs($0) }
        #expect(expected.allSatisfy { $0.count == 3 && abs($0.reduce(0, +) - 1) < 1e-12 })
        try await withServer(loadedState(model)) { base in
            let v1 = try await call("POST", "\(base)/v1/models/m:predict", #"{"instances":\#(Self.instances(rows))}"#)
            #expect(v1.status == 200, "\(v1.text)")
            #expect((v1.json["predictions"] as? [[Double]])?.map(\.count) == expected.map(\.count))
            #expect(try Self.numbers(v1.body, ["predictions"]) == expected.flatMap { $0 })
            let flat = rows.flatMap { $0.map { $0.map { String($0) } ?? "null" } }.joined(separator: ",")
            let v2 = try await call("POST", "\(base)/v2/models/m/infer",
                                    #"{"inputs":[{"name":"x","datatype":"FP64","shape":[\#(rows.count),2],"data":[\#(flat)]}]}"#)
            #expect(v2.status == 200, "\(v2.text)")
            let out = try #require((v2.json["outputs"] as? [[String: Any]])?.first)
            #expect(out["name"] as? String == "probability")
            #expect(out["shape"] as? [Int] == [rows.count, 3])
            #expect(try Self.numbers(v2.body, ["outputs"], index: 0) == expected.flatMap { $0 })
            let meta = try await call("GET", "\(base)/v2/models/m")
            let metaOut = try #require((meta.json["outputs"] as? [[String: Any]])?.first)
            #expect(metaOut["shape"] as? [Int] == [-1, 3])
            // Feedback labels are class indices; accuracy is the share of rows whose most probable
            // class is the label.
            let id = try #require(v1.json["id"] as? String)
            let predicted = expected.map { p in p.indices.max { p[$0] < p[$1] } ?? 0 }
            let truth = predicted.enumerated().map { $0.offset == 0 ? ($0.element + 1) % 3 : $0.element }
            let fb = try await call("POST", "\(base)/v1/models/m/feedback",
                                    #"{"id":"\#(id)","labels":[\#(truth.map(String.init).joined(separator: ","))]}"#)
            #expect(fb.status == 200 && fb.json["matched"] as? Int == rows.count, "\(fb.text)")
            let metrics = try await call("GET", "\(base)/metrics").text
            #expect(sample(metrics, "sextant_model_accuracy") == Double(rows.count - 1) / Double(rows.count), "\(metrics)")
            #expect(!metrics.contains("sextant_model_auc{") && !metrics.contains("sextant_model_rmse{"), "\(metrics)")
            let bad = try await call("POST", "\(base)/v1/models/m/feedback", #"{"id":"\#(id):0","label":3}"#)
            #expect(bad.status == 400 && bad.text.contains("class index from 0 to 2"), "\(bad.text)")
            // Asking for the output by another name names the one there is.
            let wrong = try await call("POST", "\(base)/v2/models/m/infer",
                                       #"{"inputs":[{"name":"x","datatype":"FP64","shape":[1,2],"data":[1,2]}],"outputs":[{"name":"prediction"}]}"#)
            #expect(wrong.status == 400 && wrong.text.contains("'probability'"), "\(wrong.text)")
        }
    }

    @Test func v2ExplainReturnsContributionsThatAddUpToThePrediction() async throws {
        let (model, artifact, rows) = try await Self.trained(.squaredError)
        #expect(model.canExplain)
        let flat = rows.flatMap { $0.map { $0.map { String($0) } ?? "null" } }.joined(separator: ",")
        let input = #"{"name":"x","datatype":"FP64","shape":[\#(rows.count),2],"data":[\#(flat)]}"#
        try await withServer(loadedState(model)) { base in
            let r = try await call("POST", "\(base)/v2/models/m/infer", #"{"inputs":[\#(input)],"parameters":{"explain":true}}"#)
            #expect(r.status == 200, "\(r.text)")
            let outputs = try #require(r.json["outputs"] as? [[String: Any]])
            let contributions = try #require(outputs.first { $0["name"] as? String == "contributions" })
            #expect(contributions["shape"] as? [Int] == [rows.count, 3])
            let phi = try #require(contributions["data"] as? [Double])
            #expect(phi.count == rows.count * 3)
            for (i, row) in rows.enumerated() {
                // Identity link: contributions plus bias are the predicted value.
                let value = try artifact.predictOutputs(row)[0]
                #expect(abs(phi[(i * 3)..<(i * 3 + 3)].reduce(0, +) - value) < 1e-9)
            }
            let plain = try await call("POST", "\(base)/v2/models/m/infer", #"{"inputs":[\#(input)]}"#)
            #expect((plain.json["outputs"] as? [[String: Any]])?.count == 1)
            let binary = try await call("POST", "\(base)/v2/models/m/infer",
                                        #"{"inputs":[\#(input)],"parameters":{"explain":true,"binary_data_output":true}}"#)
            #expect(binary.status == 400 && binary.text.contains("JSON only"), "\(binary.text)")
            let wrongType = try await call("POST", "\(base)/v2/models/m/infer", #"{"inputs":[\#(input)],"parameters":{"explain":"yes"}}"#)
            #expect(wrongType.status == 400 && wrongType.text.contains("parameters.explain must be true or false"), "\(wrongType.text)")
        }
    }
}
