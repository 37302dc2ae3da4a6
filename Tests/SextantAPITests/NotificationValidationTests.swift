import Foundation
import SextantAPI
import SextantDevServer
import SextantJSON
import Testing

/// `spec.notifications`: the CRD schema (as the development API server admits it) and
/// `validate()` refuse the same malformed targets, each naming the field.
@Suite struct NotificationValidationTests {
    static let bad: [(url: String, why: String)] = [
        ("hooks.slack.com/services/T0/B0/x", "no scheme"),
        ("ftp://hooks.test/x", "not http(s)"),
        ("https://user:secret@hooks.test/x", "inline credentials"),
        ("https:///no-host", "no host"),
        ("https://hooks.test/with space", "a space"),
    ]

    func rollout(_ targets: [NotificationTarget]) -> CanaryRollout {
        var routing = RoutingSpec(virtualService: VirtualServiceRef(name: "vs"))
        routing.services = ServicePair(stable: "a", canary: "b")
        var spec = CanaryRolloutSpec(modelName: "m", serving: ServingSpec(managed: ManagedServing()), routing: routing,
                                     strategy: RolloutStrategy(blueGreen: BlueGreenStrategy()))
        spec.notifications = targets
        return CanaryRollout(metadata: .init(name: "r"), spec: spec)
    }

    func crdSchema(_ plural: String) throws -> JSONValue {
        let text = try String(contentsOf: repoRoot.appendingPathComponent("crds/\(plural).yaml"), encoding: .utf8)
        return try #require(try JSONValue.parseYAML(text)["spec"]?["versions"]?[0]?[path: ["schema", "openAPIV3Schema"]])
    }

    @Test func malformedURLsAreRefusedWithTheFieldPath() throws {
        let schema = SchemaValidator(schema: try crdSchema("canaryrollouts"))
        for (url, why) in Self.bad {
            let r = rollout([NotificationTarget(name: "ok", provider: .webhook, url: "https://hooks.test/ok"),
                             NotificationTarget(name: "bad", provider: .slack, url: url)])
            #expect(r.validate().map(\.path) == ["spec.notifications[1].url"], "\(why): \(r.validate())")
            let (_, causes) = schema.admit(try JSONValue(encoding: r))
            #expect(causes.compactMap(\.field) == ["spec.notifications[1].url"], "\(why): \(causes)")
        }
        let good = rollout([NotificationTarget(name: "a", provider: .webhook, url: "http://alerts.monitoring.svc:8080/x?y=1#z"),
                            NotificationTarget(name: "b", provider: .msTeams, secretRef: NotificationSecretRef(name: "teams-url"))])
        #expect(good.validate().isEmpty)
        #expect(schema.admit(try JSONValue(encoding: good)).1.isEmpty)
    }

    @Test func targetRulesNameTheTarget() throws {
        var wrongKind = NotificationTarget(name: "c", provider: .slack, url: "http://h/x")
        wrongKind.events = [.promoted, .gateFailed]
        let errors = rollout([NotificationTarget(name: "a", provider: .slack),
                              NotificationTarget(name: "a", provider: .slack, url: "http://h/x",
                                                 secretRef: NotificationSecretRef(name: "s")),
                              wrongKind,
                              NotificationTarget(name: "d", provider: .slack, secretRef: NotificationSecretRef(name: "Not_A_Name"))])
            .validate()
        #expect(errors.map(\.path) == ["spec.notifications[1]", "spec.notifications[0]", "spec.notifications[1]",
                                       "spec.notifications[2].events[1]", "spec.notifications[3].secretRef.name"], "\(errors)")
        #expect(errors[3].message.contains("GateFailed is not an event of this kind"))
        // The schema lists each kind's own events only.
        let (_, causes) = SchemaValidator(schema: try crdSchema("canaryrollouts")).admit(try JSONValue(encoding: rollout([wrongKind])))
        #expect(causes.compactMap(\.field) == ["spec.notifications[0].events[1]"], "\(causes)")
    }
}
