import Foundation
import SextantAPI
import SextantDashboard
import SextantDevServer
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantTestSupport
import Testing

/// Which CanaryRollouts a version's Traffic section reads (`ClusterSource.rollouts(for:)`) on the
/// development API server: the rollout the version names or the one named like its model, read by
/// name; another model's rollout of that name is no candidate; with no candidate, every rollout of
/// the namespace (so a rollout named otherwise is still found).
@Suite struct DashboardTrafficLookupTests {
    static let namespace = DashboardRBACTests.namespace

    static func rollout(_ name: String, model: String) -> JSONValue {
        ["apiVersion": "mlops.sextant.dev/v1alpha1", "kind": "CanaryRollout", "metadata": ["name": .string(name)],
         "spec": ["modelName": .string(model), "modelVersion": .string(model + "-v2"), "serving": ["managed": ["replicas": 1]],
                  "routing": ["virtualService": ["name": .string(name)], "services": ["stable": "s", "canary": "c"]],
                  "strategy": ["canary": ["steps": [["setWeight": 25], ["pause": [:]]]]]]]
    }

    static func version(_ model: String, servedBy: String? = nil) -> ModelVersion {
        var mv = ModelVersion(metadata: ObjectMeta(name: model + "-v1", namespace: namespace),
                              spec: ModelVersionSpec(modelName: model, version: 1, artifact: ModelArtifact(uri: "file:///m/")))
        if let servedBy {
            var status = ModelVersionStatus()
            status.servedBy = servedBy
            mv.status = status
        }
        return mv
    }

    @Test func candidatesByNameThenTheNamespace() async throws {
        let server = try await DevServer.start(DevServerConfiguration())
        defer { Task { await server.stop() } }
        let directory = try TemporaryDirectory()
        let client = try await DashboardRBACTests.adminWithCRDs(server, directory)
        let ns = Self.namespace
        let path = "/apis/mlops.sextant.dev/v1alpha1/namespaces/\(ns)/canaryrollouts"
        for (name, model) in [("fraud", "fraud"), ("fraud-eu", "fraud"), ("churn-canary", "churn"), ("iris", "setosa")] {
            try await DashboardRBACTests.post(client, path, Self.rollout(name, model: model))
        }
        let source = ClusterSource(client: client)
        func names(_ mv: ModelVersion) async throws -> [String] {
            try await source.rollouts(for: mv).items.get().compactMap(\.metadata.name).sorted()
        }
        #expect(try await names(Self.version("fraud")) == ["fraud"], "the rollout named like the model, read by name")
        #expect(try await names(Self.version("fraud", servedBy: "fraud-eu")) == ["fraud", "fraud-eu"], "the one the version names too")
        #expect(try await names(Self.version("churn")) == ["churn-canary", "fraud", "fraud-eu", "iris"],
                "no rollout named like the model: the whole namespace")
        #expect(try await names(Self.version("iris")) == ["churn-canary", "fraud", "fraud-eu", "iris"],
                "`iris` serves another model, so it is no candidate: the whole namespace")
    }
}
