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

/// Issue 21 item 5: rollout webhooks and notifications over HTTPS verify the receiver's
/// certificate with the CA from the hook's Secret (`ca.crt`) or the controller's
/// `--webhook-ca-file`, send the Secret's credentials, and never retry unverified. The peer is
/// `hack/testservers/webhook_receiver.py` serving HTTPS through Python's `ssl` with an
/// openssl-made CA.
@Suite(.serialized) struct WebhookTLSTests {
    struct Receiver {
        let process: TestProcess
        let port: Int
        let certificates: TestCertificates
        var base: String { "https://127.0.0.1:\(port)" }

        static func start(_ certificates: TestCertificates) async throws -> Receiver {
            let process = try TestProcess("python3", [Repo.root + "/hack/testservers/webhook_receiver.py", "--port", "0",
                                                      "--tls-cert", certificates.serverCert, "--tls-key", certificates.serverKey])
            let line = try await process.waitForLine(prefix: "listening on 127.0.0.1:")
            guard let port = Int(line) else { throw TestSetupError("no port: \(process.text)") }
            return Receiver(process: process, port: port, certificates: certificates)
        }

        /// The calls received, read with curl trusting the test CA.
        func calls() async throws -> [JSONValue] {
            let answer = try await runCommandAsync("curl", ["-sS", "--max-time", "10", "--cacert", certificates.caCert, base + "/calls"])
            guard answer.code == 0 else { throw TestSetupError("curl \(base)/calls: \(answer.output)") }
            return try JSONValue.parse(Data(answer.output.utf8)).arrayValue ?? []
        }

        func calls(_ path: String) async throws -> [JSONValue] {
            try await calls().filter { $0["path"]?.stringValue == path }
        }
    }

    static func secret(_ name: String, _ values: [String: String]) -> Secret {
        var secret = Secret(metadata: ObjectMeta(name: name, namespace: "ml"))
        secret.data = values.mapValues { Data($0.utf8).base64EncodedString() }
        return secret
    }

    static func rollout(_ hooks: [RolloutWebhook]) -> CanaryRollout {
        var spec = CanaryRolloutSpec(modelName: "fraud", serving: ServingSpec(managed: ManagedServing()),
                                     routing: RoutingSpec(virtualService: VirtualServiceRef(name: "fraud")),
                                     strategy: RolloutStrategy(canary: CanaryStrategy(stepWeight: 10)))
        spec.webhooks = hooks
        return CanaryRollout(metadata: ObjectMeta(name: "fraud", namespace: "ml"), spec: spec)
    }

    static func hook(_ name: String, _ url: String, secret: String? = nil) -> RolloutWebhook {
        var hook = RolloutWebhook(name: name, type: .confirmPromotion, url: url)
        hook.retries = 2
        hook.timeout = "5s"
        hook.secretRef = secret.map { SecretReference(name: $0) }
        return hook
    }

    @Test func rolloutWebhooksVerifyWithTheSecretsCAOrTheFlagsAndNeverFallBack() async throws {
        guard try Tooling.available("python3", Tooling.find("python3") != nil),
              try Tooling.available("curl", Tooling.find("curl") != nil) else { return }
        let directory = try TemporaryDirectory()
        let certificates = try TestCertificates(directory: directory.path)
        let receiver = try await Receiver.start(certificates)
        defer { receiver.process.stop() }
        let ca = try String(contentsOfFile: certificates.caCert, encoding: .utf8)
        let secrets = [
            "bearer": Self.secret("bearer", ["token": "tok-1\n", "ca.crt": ca]),
            "basic": Self.secret("basic", ["username": "hooks", "password": "pw", "ca.crt": ca]),
            "token-only": Self.secret("token-only", ["token": "tok-2"]),
            "bad-ca": Self.secret("bad-ca", ["ca.crt": "not a certificate"]),
        ]
        let readSecret: PrometheusTargets.SecretReader = { namespace, name in namespace == "ml" ? secrets[name] : nil }
        let hooks = [
            Self.hook("bearer", receiver.base + "/ok/bearer", secret: "bearer"),
            Self.hook("basic", receiver.base + "/ok/basic", secret: "basic"),
            Self.hook("unverified", receiver.base + "/ok/unverified", secret: "token-only"),
            Self.hook("absent", receiver.base + "/ok/absent", secret: "absent"),
            Self.hook("bad-ca", receiver.base + "/ok/bad-ca", secret: "bad-ca"),
        ]
        let started = ContinuousClock.now
        let results = await RolloutWebhooks(readSecret: readSecret).call(hooks, rollout: Self.rollout(hooks), stable: "fraud-v1",
                                                                         canary: "fraud-v2", now: Date())
        #expect(results.map(\.succeeded) == [true, true, false, false, false], "\(results.map(\.message))")
        // The Secret's CA verified the receiver and its credentials were sent.
        #expect(try await receiver.calls("/ok/bearer").map { $0["authorization"]?.stringValue } == ["Bearer tok-1"])
        #expect(try await receiver.calls("/ok/basic").map { $0["authorization"]?.stringValue }
                == ["Basic " + Data("hooks:pw".utf8).base64EncodedString()])
        // No CA for a private certificate: a certificate error naming the URL, not retried, nothing sent.
        let unverified = try #require(results[2].message)
        #expect(unverified.hasPrefix(receiver.base + "/ok/unverified: ") && unverified.lowercased().contains("certificate")
                && !unverified.contains("attempts"), "\(unverified)")
        #expect(results[2].statusCode == nil)
        #expect(try await receiver.calls("/ok/unverified").isEmpty, "nothing reached the receiver unverified")
        #expect(ContinuousClock.now - started < .seconds(2) + .seconds(15), "a certificate error is not retried 1 s apart twice")
        // Secrets that cannot be used: errors naming the field and the Secret, and no request.
        #expect(results[3].message == "spec.webhooks[3].secretRef: Secret ml/absent not found")
        #expect(results[4].message == "spec.webhooks[4].secretRef (Secret ml/bad-ca): ca.crt is not a PEM certificate",
                "\(results[4].message ?? "-")")
        #expect(try await receiver.calls("/ok/absent").isEmpty)
        #expect(try await receiver.calls("/ok/bad-ca").isEmpty)

        // The controller's --webhook-ca-file for hooks without a Secret; unreadable: named, nothing sent.
        let plain = [Self.hook("plain", receiver.base + "/ok/plain")]
        let byFlag = await RolloutWebhooks(caFile: certificates.caCert).call(plain, rollout: Self.rollout(plain), stable: nil,
                                                                             canary: "fraud-v2", now: Date())
        #expect(byFlag.first?.succeeded == true && byFlag.first?.statusCode == 200, "\(byFlag.first?.message ?? "-")")
        let gone = directory.file("absent.crt")
        let unreadable = await RolloutWebhooks(caFile: gone).call(plain, rollout: Self.rollout(plain), stable: nil,
                                                                  canary: "fraud-v2", now: Date())
        #expect(unreadable.first?.message == "--webhook-ca-file \(gone) cannot be read")
        #expect(try await receiver.calls("/ok/plain").count == 1)

        // The analysis's Rollout webhooks get the controller's settings and Secrets the same way.
        var check = RolloutWebhook(name: "check", type: .rollout, url: receiver.base + "/ok/analysis")
        check.retries = 0
        var analysed = Self.rollout([check])
        analysed.spec.analysis = AnalysisSpec()
        var settings = ControllerSettings(prometheusAddress: "http://127.0.0.1:1")
        settings.webhookCAFile = certificates.caCert
        let measured = await RolloutAnalysis(settings: settings).run(analysed, stable: "fraud-v1", canary: "fraud-v2", now: Date())
        #expect(measured.first { $0.metric == "webhook/check" }?.outcome == .pass, "\(measured)")
        let withoutCA = await RolloutAnalysis(settings: ControllerSettings(prometheusAddress: "http://127.0.0.1:1"))
            .run(analysed, stable: "fraud-v1", canary: "fraud-v2", now: Date())
        #expect(withoutCA.first { $0.metric == "webhook/check" }?.outcome == .fail, "\(withoutCA)")
        #expect(try await receiver.calls("/ok/analysis").count == 1)
    }

    @Test func notificationsVerifyWithTheSecretsCAOrTheFlagsAndNeverFallBack() async throws {
        guard try Tooling.available("python3", Tooling.find("python3") != nil),
              try Tooling.available("curl", Tooling.find("curl") != nil) else { return }
        let directory = try TemporaryDirectory()
        let certificates = try TestCertificates(directory: directory.path)
        let receiver = try await Receiver.start(certificates)
        defer { receiver.process.stop() }
        let server = try await DevServer.start(DevServerConfiguration(port: 0))
        let client = KubeClient.forTests(server, namespace: "ml")
        defer { Task { await server.stop() } }
        try await TrainingEnvironment.installCRDs(client)
        try await CanaryEnvironment.post(client, "/api/v1/namespaces", ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "ml"]])
        let ca = try String(contentsOfFile: certificates.caCert, encoding: .utf8)
        _ = try await client.create(Self.secret("slack-webhook", ["url": receiver.base + "/ok/slack", "ca.crt": ca]))

        let targets = [
            NotificationTarget(name: "slack", provider: .slack, secretRef: NotificationSecretRef(name: "slack-webhook")),
            NotificationTarget(name: "hook", provider: .webhook, url: receiver.base + "/ok/hook"),
        ]
        var spec = CanaryRolloutSpec(modelName: "fraud", serving: ServingSpec(managed: ManagedServing()),
                                     routing: RoutingSpec(virtualService: VirtualServiceRef(name: "fraud")),
                                     strategy: RolloutStrategy(canary: CanaryStrategy(stepWeight: 25, maxWeight: 50)))
        spec.notifications = targets
        var rollout = try await client.create(CanaryRollout(metadata: ObjectMeta(name: "fraud", namespace: "ml"), spec: spec))
        var status = CanaryRolloutStatus()
        var record = RolloutRecord(version: "fraud-v2", stableVersion: "fraud-v1", startTime: KubeTime.format(Date()))
        record.outcome = .promoted
        record.endTime = KubeTime.format(Date())
        status.history = [record]
        rollout.status = status
        rollout = try await client.updateStatus(rollout)
        let regarding = ObjectReference(apiVersion: CanaryRollout.apiVersion, kind: CanaryRollout.kind, name: "fraud",
                                        namespace: "ml", uid: rollout.metadata.uid)
        let notifications = RolloutNotifications.derive(rollout)
        try #require(notifications.map(\.event) == [.rolloutStarted, .promoted])
        let notification = notifications[0], second = notifications[1]
        let events = EventRecorder(client: client, controllerName: "sextant-test", instance: "t")
        let policy = NotificationDeliveryPolicy(attempts: 3, baseDelay: .milliseconds(200), maxDelay: .seconds(1),
                                                minInterval: .milliseconds(10), timeout: .seconds(5))
        func records() async throws -> [String: NotificationRecord] {
            let list = try await client.get(CanaryRollout.self, name: "fraud", namespace: "ml").status?.notifications ?? []
            return Dictionary(list.map { ($0.target, $0) }, uniquingKeysWith: { $1 })
        }

        // Without --webhook-ca-file: the Secret's ca.crt verifies the Slack target; the inline URL
        // (a private CA nobody trusts) fails at once with a certificate error that leaves the URL out.
        let notifier = Notifier(client: client, events: events, policy: policy)
        await notifier.submit(targets.map { (notification, $0) }, resource: RolloutServing.canaryRollouts, regarding: regarding)
        #expect(try await poll(timeout: .seconds(60), every: .milliseconds(50)) { try await records().count == 2 })
        let first = try await records()
        #expect(first["slack"]?.result == .sent, "\(String(describing: first["slack"]))")
        let failed = try #require(first["hook"])
        #expect(failed.result == .failed && failed.attempts == 1, "\(failed)")
        #expect(failed.message?.lowercased().contains("certificate") == true && failed.message?.contains(receiver.base) == false,
                "\(failed.message ?? "-")")
        #expect(try await receiver.calls("/ok/slack").count == 1)
        #expect(try await receiver.calls("/ok/hook").isEmpty, "nothing reached the receiver unverified")

        // With --webhook-ca-file the inline target verifies (a new notification: the first is recorded).
        let withFlag = Notifier(client: client, events: events, policy: policy, caFile: certificates.caCert)
        await withFlag.submit([(second, targets[1])], resource: RolloutServing.canaryRollouts, regarding: regarding)
        #expect(try await poll(timeout: .seconds(60), every: .milliseconds(50)) {
            try await client.get(CanaryRollout.self, name: "fraud", namespace: "ml").status?.notifications?.count == 3
        })
        let sent = try await client.get(CanaryRollout.self, name: "fraud", namespace: "ml").status?.notifications?
            .first { $0.id == second.id }
        #expect(sent?.result == .sent, "\(String(describing: sent))")
        #expect(try await receiver.calls("/ok/hook").count == 1)
    }
}
