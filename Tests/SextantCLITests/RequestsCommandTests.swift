import Foundation
import SextantDevServer
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantTestSupport
import Testing

/// `sextant approve|reject|retrain|promote|abort|retry` write `status.requests.<verb>` through
/// the status subresource of the development API server.
@Suite("sextant request commands", .serialized)
struct RequestsCommandTests {
    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("sextant").path
    }
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func resource(_ plural: String, _ kind: String) -> ResourceDescriptor {
        ResourceDescriptor(group: "mlops.sextant.dev", version: "v1alpha1", plural: plural, kind: kind, namespaced: true)
    }

    @Test func eachVerbWritesItsRequestOnce() async throws {
        let (server, client, kubeconfig, directory) = try await startServerWithSextantCRDs(token: "cli-test-token")
        defer { withExtendedLifetime(directory) {} }  // holds the kubeconfig file
        defer { Task { await server.stop() } }
        let mv: JSONValue = ["apiVersion": "mlops.sextant.dev/v1alpha1", "kind": "ModelVersion",
                             "metadata": ["name": "fraud-v3", "namespace": "default"],
                             "spec": ["modelName": "fraud", "version": 3, "artifact": ["uri": "s3://m/fraud/v3/model.json"]]]
        let _: DynamicObject = try await client.create(resource("modelversions", "ModelVersion"), DynamicObject(mv), namespace: "default")
        let tj: JSONValue = ["apiVersion": "mlops.sextant.dev/v1alpha1", "kind": "TrainingJob",
                             "metadata": ["name": "fraud", "namespace": "default"],
                             "spec": ["modelName": "fraud", "data": ["source": ["uri": "file:///d.csv"], "target": "y"],
                                      "output": ["uri": "file:///models/"]]]
        let _: DynamicObject = try await client.create(resource("trainingjobs", "TrainingJob"), DynamicObject(tj), namespace: "default")
        var cro = try JSONValue.parse(string: String(decoding: try JSONSerialization.data(withJSONObject: [
            "apiVersion": "mlops.sextant.dev/v1alpha1", "kind": "CanaryRollout",
            "metadata": ["name": "fraud", "namespace": "default"],
            "spec": ["modelName": "fraud",
                     "serving": ["external": ["stableDeployment": "fraud-stable", "canaryDeployment": "fraud-canary"]],
                     "routing": ["virtualService": ["name": "fraud"], "services": ["stable": "fraud-stable", "canary": "fraud-canary"]],
                     "strategy": ["canary": ["stepWeight": 10]]],
        ]), as: UTF8.self))
        cro.set(path: ["metadata", "namespace"], to: "default")
        let _: DynamicObject = try await client.create(resource("canaryrollouts", "CanaryRollout"), DynamicObject(cro), namespace: "default")

        let cases: [(args: [String], plural: String, kind: String, name: String, field: String, printed: String)] = [
            (["approve", "fraud-v3", "--reason", "offline eval ok"], "modelversions", "ModelVersion", "fraud-v3", "approve",
             "modelversion.mlops.sextant.dev/fraud-v3 approve requested"),
            (["reject", "fraud-v3"], "modelversions", "ModelVersion", "fraud-v3", "reject", "modelversion.mlops.sextant.dev/fraud-v3 reject requested"),
            (["retrain", "fraud", "--reason", "new labels"], "trainingjobs", "TrainingJob", "fraud", "run", "trainingjob.mlops.sextant.dev/fraud retrain requested"),
            (["promote", "fraud"], "canaryrollouts", "CanaryRollout", "fraud", "promote", "canaryrollout.mlops.sextant.dev/fraud promote requested"),
            (["abort", "fraud"], "canaryrollouts", "CanaryRollout", "fraud", "abort", "canaryrollout.mlops.sextant.dev/fraud abort requested"),
            (["retry", "fraud"], "canaryrollouts", "CanaryRollout", "fraud", "retry", "canaryrollout.mlops.sextant.dev/fraud retry requested"),
        ]
        for c in cases {
            let before: DynamicObject = try await client.get(resource(c.plural, c.kind), name: c.name, namespace: "default")
            let result = try await runCommandAsync(Self.binary, c.args + ["--kubeconfig", kubeconfig], environment: ["SEXTANT_USER": "ana", "PATH": "/usr/bin:/bin"])
            #expect(result.code == 0, "\(c.args): \(result.output)")
            #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines) == c.printed)
            let after: DynamicObject = try await client.get(resource(c.plural, c.kind), name: c.name, namespace: "default")
            let request = try #require(after.raw[path: ["status", "requests", c.field]], "\(c.args)")
            #expect(request["requestedBy"]?.stringValue == "ana")
            let at = try #require(request["requestedAt"]?.stringValue)
            #expect(at.contains(".") && at.hasSuffix("Z") && KubeTime.parse(at) != nil, "\(at)")
            if c.args.contains("--reason") { #expect(request["reason"]?.stringValue == c.args.last) }
            // Status only: the spec generation does not move.
            #expect(after.metadata.generation == before.metadata.generation)
        }

        let missing = try await runCommandAsync(Self.binary, ["approve", "nope", "--kubeconfig", kubeconfig])
        #expect(missing.code != 0)
        #expect(missing.output.contains(#""nope" not found"#), "\(missing.output)")
    }
}
