import Foundation
import SextantAPI
import SextantControllers
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantTestSupport
import Testing

/// Issue 15's GitOps case (docs/gitops.md): while a rollout holds the canary at 25 %, Argo CD
/// (server-side apply, field manager `argocd-controller`) re-applies the VirtualService and the
/// CanaryRollout from Git with the real kubectl. The route's `http` list is atomic in Istio's
/// CRD, and Sextant's weight patches own it: without `--force-conflicts` the apply is refused
/// naming Sextant's manager; with it Git's 100/0 lands, and Sextant's next pass restores its
/// split with a `RoutingRestored` Warning. The CanaryRollout from Git applies without conflict.
@Suite(.serialized) struct GitOpsEndToEndTests {
    static let argo = "argocd-controller"

    @Test func argoCDApplyingTheRouteDuringARollout() async throws {
        guard try CanaryRolloutEndToEndTests.toolsPresent(), try Tooling.available("kubectl", Tooling.find("kubectl") != nil),
              let kubectl = Tooling.find("kubectl") else { return }
        let env = try await CanaryRolloutEndToEndTests.withStableV1(
            ["fraud-v1": CanaryRolloutEndToEndTests.healthy, "fraud-v2": CanaryRolloutEndToEndTests.healthy]) { spec in
            // Hold at 25 % until promoted, so the window for the applies is not a race.
            spec.strategy = RolloutStrategy(canary: CanaryStrategy(steps: [CanaryStep(setWeight: 25), CanaryStep(pause: PauseStep())]))
        }
        defer { env.stopProcesses(); Task { await env.stop() } }
        let namespace = CanaryEnvironment.namespace
        let vsPath = TrafficRouter.virtualServices().path(namespace: namespace, name: "fraud")
        func apply(_ object: JSONValue, force: Bool = false) async throws -> (code: Int32, output: String) {
            try await runCommandAsync(kubectl, ["--kubeconfig", env.kubeconfig.file("config"), "apply", "--server-side",
                                                "--field-manager", Self.argo, "-f", "-"] + (force ? ["--force-conflicts"] : []),
                                      input: Data(object.serialized()))
        }
        /// What Git holds: the object as the user wrote it, without server-set metadata.
        func fromGit(_ live: JSONValue) -> JSONValue {
            ["apiVersion": live["apiVersion"] ?? nil, "kind": live["kind"] ?? nil,
             "metadata": ["name": live[path: ["metadata", "name"]] ?? nil, "namespace": .string(namespace)],
             "spec": live["spec"] ?? nil]
        }
        func owner(of field: String, in object: JSONValue) -> [String] {
            (object[path: ["metadata", "managedFields"]]?.arrayValue ?? []).filter { $0[path: ["fieldsV1", "f:spec", field]] != nil }
                .compactMap { $0["manager"]?.stringValue }
        }

        try await CanaryRolloutEndToEndTests.waitForStable(env, "fraud-v1")
        let gitRoute = fromGit(try JSONValue.decode(try await env.client.send(method: "GET", path: vsPath)))
        #expect(gitRoute[path: ["spec", "http"]]?.arrayValue?.count == 2)
        try await env.setCandidate("fraud-v2")
        try await env.waitFor("canary at 25 %") {
            let t = try await env.traffic()
            let s = try await env.rollout().status
            return t.canary == 25 && s?.canaryWeight == 25
        }
        let atStep = try JSONValue.decode(try await env.client.send(method: "GET", path: vsPath))
        #expect(owner(of: "f:http", in: atStep) == ["sextant-controller"], "\(atStep[path: ["metadata", "managedFields"]] ?? nil)")

        // Without force: refused, naming Sextant's manager and the field; nothing changes.
        let refused = try await apply(gitRoute)
        #expect(refused.code != 0)
        #expect(refused.output.contains(#"conflict with "sextant-controller" using networking.istio.io/v1beta1: .spec.http"#),
                "\(refused.output)")
        #expect(try await env.traffic().canary == 25)

        // The CanaryRollout from Git (spec as the user wrote it): shared spec, no conflict, since
        // the controller writes only status, through the status subresource.
        let rolloutPath = RolloutServing.canaryRollouts.path(namespace: namespace, name: "fraud")
        let gitRollout = fromGit(try JSONValue.decode(try await env.client.send(method: "GET", path: rolloutPath)))
        let rolloutApplied = try await apply(gitRollout)
        #expect(rolloutApplied.code == 0, "\(rolloutApplied.output)")
        let rolloutAfter = try JSONValue.decode(try await env.client.send(method: "GET", path: rolloutPath))
        let argoEntry = rolloutAfter[path: ["metadata", "managedFields"]]?.arrayValue?.first { $0["manager"] == .string(Self.argo) }
        let statusEntry = rolloutAfter[path: ["metadata", "managedFields"]]?.arrayValue?.first { $0["subresource"] == "status" }
        #expect(statusEntry?[path: ["fieldsV1", "f:status"]] != nil, "the controller's status writes: \(String(describing: statusEntry))")
        #expect(argoEntry?[path: ["fieldsV1", "f:status"]] == nil && argoEntry?[path: ["fieldsV1", "f:spec", "f:modelVersion"]] != nil,
                "\(String(describing: argoEntry))")

        // With force: Git's 100/0 lands; the controller's next pass sees status say 25 while the
        // route says 0, writes 25 back (taking .spec.http again) and records RoutingRestored.
        let forced = try await apply(gitRoute, force: true)
        #expect(forced.code == 0, "\(forced.output)")
        try await env.waitFor("RoutingRestored and the split back at 25 %", timeout: .seconds(60)) {
            let restored = try await env.client.list(Event.self, namespace: namespace).items.contains {
                $0.reason == "RoutingRestored" && $0.regarding?.name == "fraud" && $0.type == "Warning"
            }
            let canary = try await env.traffic().canary
            return restored && canary == 25
        }
        let event = try #require(try await env.client.list(Event.self, namespace: namespace).items.first { $0.reason == "RoutingRestored" })
        #expect(event.note?.contains("restored") == true, "\(event.note ?? "")")
        let restoredRoute = try JSONValue.decode(try await env.client.send(method: "GET", path: vsPath))
        #expect(owner(of: "f:http", in: restoredRoute) == ["sextant-controller"], "an update takes the field back from the applier")
        #expect(owner(of: "f:hosts", in: restoredRoute).contains(Self.argo), "Git's other fields stay Argo CD's (shared with the creator)")
        let status = try #require(try await env.rollout().status)
        #expect(status.canaryWeight == 25 && status.canaryVersion == "fraud-v2" && status.phase != .failed,
                "the rollout goes on: \(status.phase?.rawValue ?? "-") \(status.message ?? "")")
    }
}
