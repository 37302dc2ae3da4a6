import Foundation
import SextantAPI
import SextantControllers
import SextantDevServer
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantTestSupport
import Testing

/// Notifications end to end (issue 19): the real `sextant-controller` posts a rollout's
/// transitions to a Slack target (URL from a Secret, 503 once per notification), a Teams target
/// and a generic webhook on a real HTTP receiver; it is SIGKILLed while the rollout is paused and
/// restarted; every transition reaches every target exactly once (one 2xx per notification id
/// and target), the ones sent before the kill are not sent again. And a malformed URL is refused
/// by the API server naming the field.
@Suite(.serialized) struct NotificationEndToEndTests {
    @Test func everyTransitionOnceAcrossAControllerKill() async throws {
        guard try CanaryRolloutEndToEndTests.toolsPresent() else { return }
        guard try Tooling.available("sextant-controller next to the test bundle (swift build --build-tests)",
                                    CanaryEnvironment.controllerBinary != nil),
              let binary = CanaryEnvironment.controllerBinary else { return }
        let receiver = try await RolloutWebhooksTests.Receiver.start()
        defer { receiver.process.stop() }
        let env = try await CanaryRolloutEndToEndTests.withStableV1(
            ["fraud-v1": CanaryRolloutEndToEndTests.healthy, "fraud-v2": CanaryRolloutEndToEndTests.healthy], inProcess: false)
        defer { env.stopProcesses(); Task { await env.stop() } }
        let ns = CanaryEnvironment.namespace
        _ = try await env.client.create(Secret(metadata: ObjectMeta(name: "slack-webhook", namespace: ns),
                                               data: ["url": Data("\(receiver.base)/flaky-each/1/503".utf8).base64EncodedString()]))
        let _: CanaryRollout = try await env.client.patch(CanaryRollout.self, name: "fraud", namespace: ns, .json([
            ["op": "replace", "path": "/spec/strategy", "value": ["canary": ["steps": [["setWeight": 25], ["pause": [:]], ["setWeight": 50]]]]],
            ["op": "add", "path": "/spec/notifications", "value": [
                ["name": "slack", "provider": "Slack", "secretRef": ["name": "slack-webhook"]],
                ["name": "teams", "provider": "MSTeams", "url": .string(receiver.base + "/ok/teams")],
                ["name": "hook", "provider": "Webhook", "url": .string(receiver.base + "/ok/hook"),
                 "events": ["RolloutStarted", "Promoted", "RolledBack"]],
            ]],
        ]))
        var controller = try env.controllerProcess(binary)
        defer { controller.stop() }
        try await CanaryRolloutEndToEndTests.waitForStable(env, "fraud-v1")

        func records() async throws -> [NotificationRecord] { try await env.rollout().status?.notifications ?? [] }
        func sent(_ event: NotificationEvent, _ version: String) async throws -> Set<String> {
            let status = try await env.rollout().status
            guard let record = status?.history?.last(where: { $0.version == version }) else { return [] }
            let ids = RolloutNotifications.derive(try await env.rollout()).filter { $0.event == event && $0.title.contains(record.version) }.map(\.id)
            return Set((status?.notifications ?? []).filter { ids.contains($0.id) && $0.result == .sent }.map(\.target))
        }
        try await env.setCandidate("fraud-v2")
        try await env.waitFor("paused at the pause step with its notifications recorded", timeout: .seconds(60)) {
            let s = try await env.rollout().status
            guard s?.phase == .paused, s?.currentStepIndex == 1 else { return false }
            let started = try await sent(.rolloutStarted, "fraud-v2")
            let stepped = try await sent(.stepAdvanced, "fraud-v2")
            return started == ["slack", "teams", "hook"] && stepped == ["slack", "teams"]
        }
        let beforeKill = try await records()
        kill(controller.process.processIdentifier, SIGKILL)
        controller.process.waitUntilExit()
        let callsAtKill = try receiver.calls().count
        controller = try env.controllerProcess(binary)

        let _: CanaryRollout = try await env.client.patch(
            CanaryRollout.self, name: "fraud", namespace: ns,
            .merge(["status": ["requests": ["promote": ["requestedAt": .string(KubeTime.formatMicro(Date())), "requestedBy": "test"]]]]),
            subresource: "status")
        try await CanaryRolloutEndToEndTests.waitForStable(env, "fraud-v2")
        try await env.waitFor("Promoted posted to every target", timeout: .seconds(60)) {
            try await sent(.promoted, "fraud-v2") == ["slack", "teams", "hook"]
        }
        // The step after the promote request (index 2) is a transition of its own.
        let final = try await records()
        #expect(Set(beforeKill.map { "\($0.target)/\($0.id)" }).isSubset(of: Set(final.map { "\($0.target)/\($0.id)" })))
        #expect(final.allSatisfy { $0.result == .sent }, "\(final.filter { $0.result != .sent })")

        let calls = try receiver.calls()
        #expect(calls.count > callsAtKill, "the restarted controller posted the later transitions")
        var delivered: [String: Int] = [:]
        for call in calls where call["code"]?.intValue == 200 {
            let target = (call["path"]?.stringValue ?? "").hasPrefix("/flaky-each") ? "slack"
                : String((call["path"]?.stringValue ?? "").split(separator: "/").last ?? "")
            delivered["\(target)/\(call["id"]?.stringValue ?? "")", default: 0] += 1
        }
        #expect(delivered.values.allSatisfy { $0 == 1 }, "one 2xx per notification and target: \(delivered.filter { $0.value != 1 })")
        #expect(Set(delivered.keys) == Set(final.map { "\($0.target)/\($0.id)" }), "what status records is what was delivered")
        let slackAnswers = Dictionary(grouping: calls.filter { ($0["path"]?.stringValue ?? "").hasPrefix("/flaky-each") },
                                      by: { $0["id"]?.stringValue ?? "" }).mapValues { $0.compactMap { $0["code"]?.intValue } }
        #expect(slackAnswers.values.allSatisfy { $0 == [503, 200] }, "each retried once after its 503: \(slackAnswers)")
        // fraud-v2: started, the pause step (and the step after it), promoted, in this order.
        let events = calls.filter {
            $0["path"]?.stringValue == "/ok/teams"
                && ($0["body"]?["attachments"]?[0]?["content"]?["body"]?[0]?["text"]?.stringValue ?? "").contains("fraud-v2")
        }.compactMap { $0["event"]?.stringValue }
        #expect(events.first == "RolloutStarted" && events.dropFirst().first == "StepAdvanced" && events.last == "Promoted", "\(events)")
        let hookEvents = calls.filter { $0["path"]?.stringValue == "/ok/hook" }.compactMap { $0["event"]?.stringValue }
        #expect(Set(hookEvents).isSubset(of: ["RolloutStarted", "Promoted", "RolledBack"]) && hookEvents.suffix(2) == ["RolloutStarted", "Promoted"],
                "the hook's event filter: \(hookEvents)")
    }

    @Test func malformedWebhookURLsAreRefusedAtAdmissionNamingTheField() async throws {
        let server = try await DevServer.start(DevServerConfiguration(port: 0))
        defer { Task { await server.stop() } }
        let client = KubeClient.forTests(server, namespace: "ml")
        try await TrainingEnvironment.installCRDs(client)
        try await CanaryEnvironment.post(client, "/api/v1/namespaces", ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "ml"]])
        var spec = CanaryRolloutSpec(modelName: "fraud", serving: ServingSpec(managed: ManagedServing()),
                                     routing: RoutingSpec(virtualService: VirtualServiceRef(name: "fraud")),
                                     strategy: RolloutStrategy(blueGreen: BlueGreenStrategy()))
        spec.notifications = [NotificationTarget(name: "ok", provider: .webhook, url: "https://alerts.test/x"),
                              NotificationTarget(name: "team", provider: .slack, url: "https://user:hunter2@hooks.slack.test/x")]
        do {
            _ = try await client.create(CanaryRollout(metadata: ObjectMeta(name: "bad", namespace: "ml"), spec: spec))
            Issue.record("a URL with inline credentials was admitted")
        } catch let error as KubeError {
            #expect(error.code == 422, "\(error)")
            #expect("\(error)".contains("spec.notifications[1].url"), "\(error)")
        }
        var job = TrainingJobSpec(modelName: "churn", data: DataSpec(source: DataSource(uri: "file:///d.csv"), target: "y"),
                                  output: OutputSpec(uri: "file:///o"))
        job.notifications = [NotificationTarget(name: "teams", provider: .msTeams, url: "prod.webhook.office.test/workflows/1")]
        do {
            _ = try await client.create(TrainingJob(metadata: ObjectMeta(name: "bad", namespace: "ml"), spec: job))
            Issue.record("a URL without a scheme was admitted")
        } catch let error as KubeError {
            #expect(error.code == 422 && "\(error)".contains("spec.notifications[0].url"), "\(error)")
        }
    }
}
