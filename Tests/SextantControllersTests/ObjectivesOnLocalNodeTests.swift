import Foundation
import SextantAPI
import SextantControllers
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantLocalNode
import SextantTestSupport
import Testing

/// Issue 16: a regression and a multiclass TrainingJob train with the real trainer on the local
/// node, register a ModelVersion with their own metrics and gates, and the version is served by a
/// real `sextant-server` Pod (the managed Deployment a CanaryRollout would create): it answers
/// V2 inference, and feedback labels give the online quality the canary templates read
/// (`sextant_model_rmse` for `ModelRMSE`, `sextant_model_accuracy` for `ModelAccuracy`).
@Suite("Objectives on the local node", .serialized)
struct ObjectivesOnLocalNodeTests {
    @Test func regressionTrainsRegistersAndServesWithOnlineRMSE() async throws {
        try await withTrainingOnLocalNode { env, dir in
            let csv = dir.file("prices.csv")
            // price = 3·size − 2·age + noise; `age` sometimes missing.
            var text = "size,age,price\n"
            var g = FraudWorld.Generator(state: 11)
            for i in 0..<800 {
                let size = g.unit() * 10, age = g.unit() * 5
                text += "\(size),\(i % 9 == 0 ? "" : String(age)),\(3 * size - 2 * age + (g.unit() - 0.5))\n"
            }
            try text.write(toFile: csv, atomically: true, encoding: .utf8)
            var tj = localTrainingJob("prices", model: "prices", csv: csv, models: dir.file("models"), target: "price")
            tj.spec.objective = .squaredError
            tj.spec.hyperparameters?.nEstimators = 40
            tj.spec.gates?.performance = PerformanceGate(thresholds: [MetricThreshold(metric: .rmse, max: 3)])
            _ = try await env.client.create(tj)
            try await env.eventually("ModelVersion prices-v1", timeout: .seconds(60)) { (try? await env.modelVersion("prices-v1")) != nil }
            let mv = try await env.modelVersion("prices-v1")
            let rmse = try #require(mv.spec.metrics?["rmse"])
            #expect(rmse < 3 && mv.spec.metrics?["r2"] != nil && mv.spec.metrics?["aucRoc"] == nil, "\(mv.spec.metrics ?? [:])")
            #expect(mv.spec.gates?.passed == true)

            let port = try await serve(mv, model: "prices", env: env)
            let answer = try await Self.http("POST", port: port, path: "/v2/models/prices/infer",
                                              body: #"{"inputs":[{"name":"x","datatype":"FP64","shape":[2,2],"data":[5,1,2,4]}]}"#)
            #expect(answer.status == 200, "\(answer.text)")
            let json = try JSONValue.parse(string: answer.text)
            let output = try #require(json["outputs"]?[0])
            #expect(output["name"]?.stringValue == "prediction")
            let predicted = (output["data"]?.arrayValue ?? []).compactMap(\.doubleValue)
            // The model learnt the relation: 3·5 − 2·1 = 13 and 3·2 − 2·4 = −2, within its test RMSE.
            #expect(predicted.count == 2 && abs(predicted[0] - 13) < 2 && abs(predicted[1] + 2) < 2, "\(predicted)")
            let id = try #require(json["id"]?.stringValue)
            // Labels 1 above and 3 below the predictions: RMSE sqrt((1 + 9) / 2), MAE 2.
            let labels = "[\(predicted[0] + 1),\(predicted[1] - 3)]"
            let feedback = try await Self.http("POST", port: port, path: "/v1/models/prices/feedback", body: #"{"id":"\#(id)","labels":\#(labels)}"#)
            #expect(feedback.status == 200 && feedback.text.contains(#""matched":2"#), "\(feedback.text)")
            let metrics = try await Self.http("GET", port: port, path: "/metrics").text
            #expect(abs((Self.sample(metrics, "sextant_model_rmse") ?? -1) - 5.0.squareRoot()) < 1e-9, "\(metrics)")
            #expect(abs((Self.sample(metrics, "sextant_model_mae") ?? -1) - 2) < 1e-9)
            #expect(Self.sample(metrics, "sextant_model_accuracy") == nil)
        }
    }

    @Test func multiclassTrainsRegistersAndServesWithOnlineAccuracy() async throws {
        try await withTrainingOnLocalNode { env, dir in
            let csv = dir.file("species.csv")
            // Three classes by the sign pattern of two features.
            var text = "a,b,species\n"
            var g = FraudWorld.Generator(state: 12)
            for _ in 0..<900 {
                let a = g.unit() * 2 - 1, b = g.unit() * 2 - 1
                text += "\(a),\(b),\(a > 0.3 ? 2 : (b > 0 ? 1 : 0))\n"
            }
            try text.write(toFile: csv, atomically: true, encoding: .utf8)
            var tj = localTrainingJob("species", model: "species", csv: csv, models: dir.file("models"), target: "species")
            tj.spec.objective = .multiSoftprob
            tj.spec.gates?.performance = PerformanceGate(thresholds: [MetricThreshold(metric: .accuracy, min: 0.9)])
            _ = try await env.client.create(tj)
            try await env.eventually("ModelVersion species-v1", timeout: .seconds(60)) { (try? await env.modelVersion("species-v1")) != nil }
            let mv = try await env.modelVersion("species-v1")
            #expect((mv.spec.metrics?["accuracy"] ?? 0) >= 0.9 && mv.spec.metrics?["macroF1"] != nil, "\(mv.spec.metrics ?? [:])")

            let port = try await serve(mv, model: "species", env: env)
            let answer = try await Self.http("POST", port: port, path: "/v2/models/species/infer",
                                              body: #"{"inputs":[{"name":"x","datatype":"FP64","shape":[3,2],"data":[0.9,0.5,-0.5,0.5,-0.5,-0.5]}]}"#)
            #expect(answer.status == 200, "\(answer.text)")
            let json = try JSONValue.parse(string: answer.text)
            let output = try #require(json["outputs"]?[0])
            #expect(output["name"]?.stringValue == "probability")
            #expect((output["shape"]?.arrayValue ?? []).compactMap(\.intValue) == [3, 3])
            let id = try #require(json["id"]?.stringValue)
            // True classes 2, 1, 0; the third row is labelled 2 instead: accuracy 2/3 if the model
            // got the three rows right, which the gate above makes near certain.
            let feedback = try await Self.http("POST", port: port, path: "/v1/models/species/feedback", body: #"{"id":"\#(id)","labels":[2,1,2]}"#)
            #expect(feedback.status == 200 && feedback.text.contains(#""matched":3"#), "\(feedback.text)")
            let metrics = try await Self.http("GET", port: port, path: "/metrics").text
            #expect(Self.sample(metrics, "sextant_model_accuracy") == 2.0 / 3, "\(metrics)")
            #expect(Self.sample(metrics, "sextant_model_auc") == nil && Self.sample(metrics, "sextant_model_rmse") == nil)
            let refused = try await Self.http("POST", port: port, path: "/v1/models/species/feedback", body: #"{"id":"\#(id):0","label":5}"#)
            #expect(refused.status == 400 && refused.text.contains("class index from 0 to 2"), "\(refused.text)")
        }
    }

    /// Creates the managed serving Deployment of `mv` (as the CanaryRollout controller builds it)
    /// and returns the port of its ready Pod on the local node.
    private func serve(_ mv: ModelVersion, model: String, env: TrainingEnvironment) async throws -> Int {
        var managed = ManagedServing()
        managed.port = try LocalHTTP.freePort()
        var meta = ObjectMeta(name: model, namespace: env.namespace)
        meta.uid = UUID().uuidString  // the owner reference needs one; no rollout object exists here
        let rollout = CanaryRollout(metadata: meta,
                                    spec: CanaryRolloutSpec(modelName: model, serving: ServingSpec(managed: managed),
                                                            routing: RoutingSpec(virtualService: VirtualServiceRef(name: model)),
                                                            strategy: RolloutStrategy()))
        let deployment = try RolloutServing.deployment(for: rollout, version: mv, image: "sextant-server:test")
        _ = try await env.client.create(Self.deploymentResource, deployment, namespace: env.namespace)
        var port: Int?
        try await env.eventually("\(mv.metadata.name ?? "") served by a ready Pod", timeout: .seconds(60)) {
            let pods = try await env.client.list(TrainingEnvironment.podResource, namespace: env.namespace,
                                                 options: ListOptions(labelSelector: "\(SextantLabel.modelVersion)=\(mv.metadata.name ?? "")"),
                                                 as: DynamicObject.self).items
            guard let pod = pods.first?.raw,
                  pod[path: ["status", "conditions"]]?.arrayValue?.contains(where: {
                      $0["type"]?.stringValue == "Ready" && $0["status"]?.stringValue == "True" }) == true,
                  let endpoint = pod[path: ["metadata", "annotations", LocalNode.endpointAnnotation]]?.stringValue
            else { return false }
            port = endpoint.split(separator: ":").last.flatMap { Int($0) }
            return port != nil
        }
        return try #require(port)
    }

    static let deploymentResource = ResourceDescriptor(group: "apps", version: "v1", plural: "deployments", kind: "Deployment", namespaced: true)

    /// One request to the server Pod, off the cooperative pool (LocalHTTP blocks).
    static func http(_ method: String, port: Int, path: String, body: String? = nil) async throws -> LocalHTTP.Answer {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try LocalHTTP.request(method, port: port, path: path, body: body.map { Data($0.utf8) }) })
            }
        }
    }

    /// The value of the first sample of `name` in Prometheus text, nil when there is none.
    static func sample(_ text: String, _ name: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            return line.split(separator: " ").last.flatMap { Double($0) }
        }
        return nil
    }
}
