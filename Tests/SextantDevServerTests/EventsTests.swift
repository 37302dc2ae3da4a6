import Foundation
import SextantDevServer
import SextantJSON
import Testing

/// Core `v1` and `events.k8s.io/v1` Events are one store with the field mapping of Kubernetes'
/// conversion, so what a controller records through events.k8s.io shows in `kubectl describe`.
@Suite(.serialized) struct EventsTests {
    static let eventsV1: JSONValue = [
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": ["name": "fraud.17a", "namespace": "default"],
        "eventTime": "2026-01-02T03:04:05.123456Z",
        "reportingController": "mlops.sextant.dev/sextant-controller", "reportingInstance": "controller-0",
        "action": "Promote", "reason": "Promoted", "type": "Normal", "note": "fraud-v2 serves 100%",
        "regarding": ["apiVersion": "mlops.sextant.dev/v1alpha1", "kind": "CanaryRollout", "name": "fraud",
                      "namespace": "default", "uid": "u-1"],
        "related": ["kind": "ModelVersion", "name": "fraud-v2"],
        "deprecatedSource": ["component": "legacy", "host": "node-a"],
        "deprecatedCount": 3, "deprecatedFirstTimestamp": "2026-01-02T03:00:00Z",
        "deprecatedLastTimestamp": "2026-01-02T03:04:00Z",
        "series": ["count": 2, "lastObservedTime": "2026-01-02T03:05:00.000000Z"],
    ]

    @Test func anEventsV1EventReadsAsCoreWithTheRealFieldMapping() async throws {
        let handler = newHandler()
        let created = await call(handler, "POST", "/apis/events.k8s.io/v1/namespaces/default/events", Self.eventsV1)
        #expect(created.status == 201, "\(String(decoding: created.bytes, as: UTF8.self))")
        #expect(created.json?["note"] == "fraud-v2 serves 100%")

        let core = try #require(await call(handler, "GET", "/api/v1/namespaces/default/events/fraud.17a").json)
        #expect(core["apiVersion"] == "v1")
        #expect(core["message"] == "fraud-v2 serves 100%")
        #expect(core[path: ["involvedObject", "kind"]] == "CanaryRollout")
        #expect(core[path: ["involvedObject", "uid"]] == "u-1")
        #expect(core["reportingComponent"] == "mlops.sextant.dev/sextant-controller")
        #expect(core["reportingInstance"] == "controller-0")
        #expect(core[path: ["source", "component"]] == "legacy")
        #expect(core[path: ["source", "host"]] == "node-a")
        #expect(core["count"] == 3)
        #expect(core["firstTimestamp"] == "2026-01-02T03:00:00Z")
        #expect(core["lastTimestamp"] == "2026-01-02T03:04:00Z")
        #expect(core["eventTime"] == "2026-01-02T03:04:05.123456Z")
        #expect(core[path: ["series", "count"]] == 2)
        #expect(core["action"] == "Promote")
        #expect(core[path: ["related", "name"]] == "fraud-v2")
        for v1Only in ["note", "regarding", "reportingController", "deprecatedCount", "deprecatedSource"] {
            #expect(core[v1Only] == nil, "\(v1Only) leaked into the core form")
        }

        // And back: reading it through events.k8s.io gives what was written.
        let back = try #require(await call(handler, "GET", "/apis/events.k8s.io/v1/namespaces/default/events/fraud.17a").json)
        for (key, value) in Self.eventsV1.objectValue ?? [:] where key != "metadata" {
            #expect(back[key] == value, "\(key)")
        }
    }

    @Test func aCoreEventReadsAsEventsV1() async throws {
        let handler = newHandler()
        let core: JSONValue = [
            "apiVersion": "v1", "kind": "Event", "metadata": ["name": "pod.1", "namespace": "default"],
            "involvedObject": ["kind": "Pod", "name": "web-0", "namespace": "default"],
            "reason": "Pulled", "message": "image pulled", "type": "Normal", "count": 4,
            "source": ["component": "kubelet", "host": "node-b"], "reportingComponent": "kubelet",
        ]
        #expect(await call(handler, "POST", "/api/v1/namespaces/default/events", core).status == 201)
        let v1 = try #require(await call(handler, "GET", "/apis/events.k8s.io/v1/namespaces/default/events/pod.1").json)
        #expect(v1["apiVersion"] == "events.k8s.io/v1")
        #expect(v1["note"] == "image pulled")
        #expect(v1[path: ["regarding", "name"]] == "web-0")
        #expect(v1["deprecatedCount"] == 4)
        #expect(v1[path: ["deprecatedSource", "host"]] == "node-b")
        #expect(v1["reportingController"] == "kubelet")
        #expect(v1["message"] == nil && v1["involvedObject"] == nil && v1["count"] == nil)
    }

    @Test func fieldSelectorsOfBothAPIsSelectTheSameEvents() async throws {
        let handler = newHandler()
        #expect(await call(handler, "POST", "/apis/events.k8s.io/v1/namespaces/default/events", Self.eventsV1).status == 201)
        var other = Self.eventsV1
        other.set(path: ["metadata", "name"], to: "other.1")
        other.set(path: ["regarding", "name"], to: "other")
        other.set(path: ["regarding", "uid"], to: "u-2")
        #expect(await call(handler, "POST", "/apis/events.k8s.io/v1/namespaces/default/events", other).status == 201)

        func names(_ target: String) async -> [String] {
            (await call(handler, "GET", target).json?["items"]?.arrayValue ?? []).compactMap { $0[path: ["metadata", "name"]]?.stringValue }
        }
        // What `kubectl describe` sends for an object's events.
        let describe = "involvedObject.name=fraud,involvedObject.namespace=default,involvedObject.kind=CanaryRollout,involvedObject.uid=u-1"
        #expect(await names("/api/v1/namespaces/default/events?fieldSelector=\(describe.urlQueryEncoded)") == ["fraud.17a"])
        #expect(await names("/apis/events.k8s.io/v1/events?fieldSelector=\("regarding.name=other".urlQueryEncoded)") == ["other.1"])
        #expect(await names("/apis/events.k8s.io/v1/events?fieldSelector=\("regarding.kind!=CanaryRollout".urlQueryEncoded)") == [])
        #expect(await names("/apis/events.k8s.io/v1/events?fieldSelector=\("reportingController=mlops.sextant.dev/sextant-controller".urlQueryEncoded)").count == 2)
        #expect(await names("/api/v1/events?fieldSelector=\("reportingComponent=mlops.sextant.dev/sextant-controller".urlQueryEncoded)").count == 2)
        #expect(await names("/api/v1/events?fieldSelector=\("source=legacy".urlQueryEncoded)").count == 2)
        let unsupported = await call(handler, "GET", "/api/v1/events?fieldSelector=\("note=x".urlQueryEncoded)")
        #expect(unsupported.status == 400)
    }

    @Test func patchesThroughEventsV1ChangeTheOneStoredEventAndCoreWatchersSeeIt() async throws {
        let handler = newHandler()
        let created = await call(handler, "POST", "/apis/events.k8s.io/v1/namespaces/default/events", Self.eventsV1)
        let rv = created.json?[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
        let watch = await call(handler, "GET", "/api/v1/namespaces/default/events?watch=true&resourceVersion=\(rv)")
        let patched = await call(handler, "PATCH", "/apis/events.k8s.io/v1/namespaces/default/events/fraud.17a",
                                 ["series": ["count": 5, "lastObservedTime": "2026-01-02T03:09:00.000000Z"], "note": "again"],
                                 contentType: "application/merge-patch+json")
        #expect(patched.status == 200)
        #expect(patched.json?[path: ["series", "count"]] == 5)
        #expect(patched.json?["note"] == "again")

        let lines = await events(watch, count: 1)
        let event = try #require(lines.first)
        #expect(event["type"] == "MODIFIED")
        #expect(event[path: ["object", "apiVersion"]] == "v1")
        #expect(event[path: ["object", "message"]] == "again")
        #expect(event[path: ["object", "series", "count"]] == 5)
        #expect(event[path: ["object", "note"]] == nil)

        // A JSON patch addresses the events.k8s.io field names.
        let jsonPatch = await call(handler, "PATCH", "/apis/events.k8s.io/v1/namespaces/default/events/fraud.17a",
                                   [["op": "test", "path": "/note", "value": "again"],
                                    ["op": "replace", "path": "/note", "value": "third"]],
                                   contentType: "application/json-patch+json")
        #expect(jsonPatch.status == 200, "\(String(decoding: jsonPatch.bytes, as: UTF8.self))")
        let core = await call(handler, "GET", "/api/v1/namespaces/default/events/fraud.17a").json
        #expect(core?["message"] == "third")

        // One object: deleting it through core removes it from events.k8s.io too.
        #expect(await call(handler, "DELETE", "/api/v1/namespaces/default/events/fraud.17a").status == 200)
        #expect(await call(handler, "GET", "/apis/events.k8s.io/v1/namespaces/default/events/fraud.17a").status == 404)
    }

    /// The "done when" of the first-hour issue: the real kubectl shows a CanaryRollout's Events,
    /// recorded through events.k8s.io/v1, in `kubectl describe` and `kubectl get events`.
    @Test func kubectlDescribeAndGetEventsShowEventsRecordedThroughEventsV1() async throws {
        let tool = try #require(requiredTool("kubectl"), "kubectl is required: install it with hack/install-deps.sh")
        let env = try await RunningServer.start()
        defer { Task { await env.stop() } }
        let base = ["--kubeconfig", env.kubeconfig, "--cache-dir", env.directory.appendingPathComponent("cache").path]
        @discardableResult
        func kubectl(_ args: String..., stdin: String? = nil) async throws -> ProcessResult {
            let result = try await run(tool, base + args, stdin: stdin)
            #expect(result.status == 0, "kubectl \(args.joined(separator: " ")): \(result.stderr)")
            return result
        }
        try await kubectl("apply", "-f", packageRoot.appendingPathComponent("crds").path)
        try await kubectl("apply", "-f", "-", stdin: """
            apiVersion: mlops.sextant.dev/v1alpha1
            kind: CanaryRollout
            metadata: {name: fraud, namespace: default}
            spec:
              modelName: fraud
              serving: {external: {stableDeployment: fraud-stable, canaryDeployment: fraud-canary}}
              routing: {virtualService: {name: fraud}, services: {stable: fraud-stable, canary: fraud-canary}}
              strategy: {canary: {stepWeight: 10}}
            """)
        let uid = try await kubectl("get", "cro", "fraud", "-o", "jsonpath={.metadata.uid}").stdout
        #expect(!uid.isEmpty)
        for (name, reason, note) in [("fraud.1", "RolloutStarted", "canary fraud-v2 started at 10%"),
                                     ("fraud.2", "StepAdvanced", "weight 20% after a passing analysis")] {
            try await kubectl("create", "-f", "-", stdin: """
                apiVersion: events.k8s.io/v1
                kind: Event
                metadata: {name: \(name), namespace: default}
                eventTime: "2026-01-02T03:04:05.000000Z"
                reportingController: mlops.sextant.dev/sextant-controller
                reportingInstance: sextant-controller-0
                action: Rollout
                reason: \(reason)
                type: Normal
                note: "\(note)"
                regarding: {apiVersion: mlops.sextant.dev/v1alpha1, kind: CanaryRollout, name: fraud, namespace: default, uid: \(uid)}
                """)
        }
        // An event about another object must not show up.
        try await kubectl("create", "-f", "-", stdin: """
            apiVersion: events.k8s.io/v1
            kind: Event
            metadata: {name: other.1, namespace: default}
            eventTime: "2026-01-02T03:04:05.000000Z"
            reportingController: mlops.sextant.dev/sextant-controller
            reportingInstance: sextant-controller-0
            action: Rollout
            reason: NotAboutFraud
            type: Warning
            note: unrelated
            regarding: {apiVersion: mlops.sextant.dev/v1alpha1, kind: CanaryRollout, name: other, namespace: default, uid: x}
            """)

        let described = try await kubectl("describe", "cro", "fraud").stdout
        let events = described.components(separatedBy: "Events:").last ?? ""
        #expect(described.contains("Events:") && !events.contains("<none>"), "\(described)")
        #expect(events.contains("RolloutStarted") && events.contains("canary fraud-v2 started at 10%"), "\(events)")
        #expect(events.contains("StepAdvanced"), "\(events)")
        #expect(events.contains("mlops.sextant.dev/sextant-controller"), "From column: \(events)")
        #expect(!events.contains("NotAboutFraud"), "\(events)")

        let listed = try await kubectl("get", "events").stdout
        #expect(listed.contains("RolloutStarted") && listed.contains("NotAboutFraud"), "\(listed)")
        let forFraud = try await kubectl("get", "events", "--field-selector", "involvedObject.name=fraud", "-o", "name").stdout
        #expect(forFraud.split(separator: "\n").sorted() == ["event/fraud.1", "event/fraud.2"], "\(forFraud)")
        let kubectlEvents = try await kubectl("events", "--for", "canaryrollout.mlops.sextant.dev/fraud").stdout
        #expect(kubectlEvents.contains("StepAdvanced") && !kubectlEvents.contains("NotAboutFraud"), "\(kubectlEvents)")
    }
}

/// The tool's path, or nil (the caller fails the test naming the tool: a missing peer is never a skip).
func requiredTool(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}

extension String {
    var urlQueryEncoded: String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+,/")
        return addingPercentEncoding(withAllowedCharacters: allowed) ?? self
    }
}
