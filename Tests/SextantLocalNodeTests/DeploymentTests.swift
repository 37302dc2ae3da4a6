import Foundation
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantLocalNode
import SextantTestSupport
import Testing

@Suite(.serialized) struct DeploymentTests {
    static func deployment(_ name: String, model: String, replicas: Int64 = 1, extra: [String: JSONValue] = [:]) -> JSONValue {
        var spec: [String: JSONValue] = [
            "replicas": .int(replicas),
            "selector": ["matchLabels": ["app": .string(name)]],
            "template": ["metadata": ["labels": ["app": .string(name)]],
                         "spec": ["containers": [serverContainer(model: model)]]],
        ]
        for (k, v) in extra { spec[k] = v }
        return ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": .string(name), "namespace": "default"],
                "spec": .object(spec)]
    }

    static func endpoint(_ pod: JSONValue) -> String? {
        pod[path: ["metadata", "annotations", "mlops.sextant.dev/local-endpoint"]]?.stringValue
    }

    @Test func serverDeploymentBecomesAvailableScalesAndReplacesPods() async throws {
        guard let h = try await NodeHarness.start() else { return }
        defer { Task { await h.stop() } }
        let model = try trainModel(in: h.work)
        let created = try await h.create(NodeHarness.deployments, Self.deployment("serve", model: model))
        let uid = try #require(created[path: ["metadata", "uid"]]?.stringValue)

        let available = try await h.wait("deployment serve to become available") {
            let d = try await h.get(NodeHarness.deployments, "serve")
            return isTrue(d, "Available") && d?[path: ["status", "readyReplicas"]] == 1 ? d : nil
        }
        #expect(available[path: ["status", "replicas"]] == 1)
        #expect(available[path: ["status", "updatedReplicas"]] == 1)
        #expect(available[path: ["status", "availableReplicas"]] == 1)
        #expect(available[path: ["status", "observedGeneration"]] == 1)
        #expect(condition(available, "Progressing")?["reason"] == "NewReplicaSetAvailable")

        let pods = try await h.pods(ownedBy: uid)
        #expect(pods.count == 1)
        let pod = try #require(pods.first)
        #expect(isTrue(pod, "Ready") && phase(pod) == "Running")
        #expect(pod[path: ["metadata", "labels", "app"]] == "serve")
        let hash = try #require(pod[path: ["metadata", "labels", "pod-template-hash"]]?.stringValue)
        #expect(pod[path: ["metadata", "name"]]?.stringValue?.hasPrefix("serve-\(hash)-") == true)
        let endpoint = try #require(Self.endpoint(pod))
        #expect(endpoint.hasPrefix("127.0.0.1:") && !endpoint.hasSuffix(":8080"))
        #expect(await httpStatus(endpoint, "/v1/models/demo") == 200)
        #expect(pod[path: ["status", "containerStatuses"]]?[0]?["ready"] == true)

        // A changed template replaces the pod (recreate) with one of the new hash.
        _ = try await h.client.patch(NodeHarness.deployments, name: "serve",
                                     .merge(["spec": ["template": ["metadata": ["labels": ["rev": "2"]]]]]),
                                     namespace: "default", as: DynamicObject.self)
        let rolled = try await h.wait("a pod of the new template") {
            let pods = try await h.pods(ownedBy: uid)
            return pods.count == 1 && pods[0][path: ["metadata", "labels", "pod-template-hash"]]?.stringValue != hash
                && isTrue(pods[0], "Ready") && Self.endpoint(pods[0]) != nil ? Optional(pods[0]) : nil
        }
        #expect(rolled[path: ["metadata", "labels", "rev"]] == "2")
        let rolledStatus = try await h.wait("status of the rollout") {
            let d = try await h.get(NodeHarness.deployments, "serve")
            return d?[path: ["status", "observedGeneration"]] == 2 && d?[path: ["status", "updatedReplicas"]] == 1
                && isTrue(d, "Available") ? d : nil
        }
        #expect(condition(rolledStatus, "Progressing")?["message"]?.stringValue?.contains("serve-") == true)
        _ = try await h.wait("the old pod's process to stop") {
            await httpStatus(endpoint, "/v1/models/demo") == nil ? true : nil
        }

        // A deleted pod is replaced by a new one that serves again.
        let firstName = try #require(rolled[path: ["metadata", "name"]]?.stringValue)
        let rolledEndpoint = try #require(Self.endpoint(rolled))
        try await h.client.delete(NodeHarness.pods, name: firstName, namespace: "default")
        let replacement = try await h.wait("a replacement pod") {
            try await h.pods(ownedBy: uid).first {
                $0[path: ["metadata", "name"]]?.stringValue != firstName && isTrue($0, "Ready") && Self.endpoint($0) != nil
            }
        }
        let newEndpoint = try #require(Self.endpoint(replacement))
        #expect(await httpStatus(newEndpoint, "/v1/models/demo") == 200)
        _ = try await h.wait("the deleted pod's process to stop") {
            let old = await httpStatus(rolledEndpoint, "/v1/models/demo")
            return newEndpoint != rolledEndpoint && old == nil ? true : nil
        }

        // Scaling to zero stops the process.
        _ = try await h.client.patch(NodeHarness.deployments, name: "serve", .merge(["spec": ["replicas": 0]]),
                                     namespace: "default", as: DynamicObject.self)
        _ = try await h.wait("pods to be gone") { try await h.pods(ownedBy: uid).isEmpty ? true : nil }
        _ = try await h.wait("the server to stop") { await httpStatus(newEndpoint, "/v1/models/demo") == nil ? true : nil }
        let scaled = try await h.wait("status to show zero replicas") {
            let d = try await h.get(NodeHarness.deployments, "serve")
            return d?[path: ["status", "observedGeneration"]] == 3 && d?[path: ["status", "replicas"]] == nil ? d : nil
        }
        #expect(isTrue(scaled, "Available"))
        #expect(scaled[path: ["status", "readyReplicas"]] == nil)
    }

    @Test func crashingServerExceedsTheProgressDeadline() async throws {
        guard let h = try await NodeHarness.start() else { return }
        defer { Task { await h.stop() } }
        _ = try await h.create(NodeHarness.deployments, Self.deployment("broken", model: h.work.file("missing.json"),
                                                                        extra: ["progressDeadlineSeconds": 2]))
        let stuck = try await h.wait("the progress deadline") {
            let d = try await h.get(NodeHarness.deployments, "broken")
            return condition(d, "Progressing")?["status"] == "False" ? d : nil
        }
        #expect(condition(stuck, "Progressing")?["reason"] == "ProgressDeadlineExceeded")
        #expect(condition(stuck, "Available")?["status"] == "False")
        #expect(stuck[path: ["status", "unavailableReplicas"]] == 1)
        let uid = try #require(stuck[path: ["metadata", "uid"]]?.stringValue)
        // The server exits 1 when it cannot load the model; the kubelet restarts it (Always). On a
        // loaded machine the 2 s deadline can pass before the first exit, so wait for the restart.
        let pod: JSONValue = try await h.wait("the crashed server restarted, in CrashLoopBackOff") {
            guard let pod = try await h.pods(ownedBy: uid).first,
                  let status = pod[path: ["status", "containerStatuses"]]?[0] else { return nil }
            return (status["restartCount"]?.intValue ?? 0) >= 1
                && status[path: ["state", "waiting", "reason"]] == "CrashLoopBackOff" ? pod : JSONValue?.none  // not `nil`: JSONValue is nil-literal-expressible (.null)
        }
        let status = try #require(pod[path: ["status", "containerStatuses"]]?[0])
        #expect(status[path: ["lastState", "terminated", "exitCode"]] == 1)
        // The kubelet's message: back-off <delay> restarting failed container=<c> pod=<name>_<namespace>(<uid>).
        let message = status[path: ["state", "waiting", "message"]]?.stringValue ?? ""
        let name = pod[path: ["metadata", "name"]]?.stringValue ?? "?"
        let podUID = pod[path: ["metadata", "uid"]]?.stringValue ?? "?"
        #expect(message.hasPrefix("back-off ") && message.hasSuffix("s restarting failed container=server pod=\(name)_default(\(podUID))"),
                "\(message)")
    }
}
