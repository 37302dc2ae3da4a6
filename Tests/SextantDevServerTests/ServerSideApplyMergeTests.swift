import Foundation
import SextantDevServer
import SextantJSON
import Testing

/// Server-side apply with real kubectl: fields an applier drops are removed unless another manager
/// owns them, and custom resources' lists merge as their schema's `x-kubernetes-list-type` says.
@Suite(.serialized) struct ServerSideApplyMergeTests {
    struct Kubectl {
        let tool: String
        let env: RunningServer

        func callAsFunction(_ args: [String], stdin: String? = nil) async throws -> ProcessResult {
            try await run(tool, ["--kubeconfig", env.kubeconfig, "--cache-dir", env.directory.appendingPathComponent("cache").path] + args,
                          stdin: stdin)
        }

        func apply(_ manager: String, _ yaml: String, force: Bool = false) async throws -> ProcessResult {
            try await self(["apply", "--server-side", "--field-manager", manager, "-f", "-"] + (force ? ["--force-conflicts"] : []),
                           stdin: yaml)
        }

        func object(_ resource: String, _ name: String) async throws -> JSONValue {
            let got = try await self(["get", resource, name, "-o", "json", "--show-managed-fields"])
            #expect(got.status == 0, "\(got.stderr)")
            return try JSONValue.parse(Array(got.stdout.utf8))
        }

        func fields(_ resource: String, _ name: String, manager: String) async throws -> JSONValue? {
            try await object(resource, name)[path: ["metadata", "managedFields"]]?.arrayValue?
                .first { $0["manager"]?.stringValue == manager }?["fieldsV1"]
        }
    }

    @Test func droppedFieldsAreRemovedUnlessAnotherManagerOwnsThem() async throws {
        guard let tool = requireTool("kubectl") else { return }
        let env = try await RunningServer.start()
        defer { Task { await env.stop() } }
        let kubectl = Kubectl(tool: tool, env: env)
        func configMap(_ data: String) -> String {
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: default, labels: {team: a}}\ndata: \(data)\n"
        }
        func data() async throws -> [String] {
            (try await kubectl.object("configmap", "cm")["data"]?.objectValue ?? [:]).keys.sorted()
        }

        #expect(try await kubectl.apply("alice", configMap(#"{a: "1", b: "1"}"#)).status == 0)
        let dropped = try await kubectl.apply("alice", configMap(#"{a: "1"}"#))
        #expect(dropped.status == 0, "\(dropped.stderr)")
        #expect(try await data() == ["a"], "b, dropped by its only owner, is removed")
        #expect(try await kubectl.fields("configmap", "cm", manager: "alice")?["f:data"] == ["f:a": [:]])

        // bob applies the same b: shared ownership; alice dropping b leaves it to bob.
        #expect(try await kubectl.apply("alice", configMap(#"{a: "1", b: "1"}"#)).status == 0)
        let shared = try await kubectl.apply("bob", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: default}\ndata: {b: \"1\"}\n")
        #expect(shared.status == 0, "\(shared.stderr)")
        #expect(try await kubectl.apply("alice", configMap(#"{a: "1"}"#)).status == 0)
        #expect(try await data() == ["a", "b"], "b is still owned by bob")
        #expect(try await kubectl.fields("configmap", "cm", manager: "alice")?["f:data"] == ["f:a": [:]])
        #expect(try await kubectl.fields("configmap", "cm", manager: "bob")?["f:data"] == ["f:b": [:]])

        // A field an updater (kubectl patch) also wrote is the updater's: dropping it from the
        // configuration keeps it.
        #expect(try await kubectl.apply("alice", configMap(#"{a: "1", c: "1"}"#)).status == 0)
        let patched = try await kubectl(["patch", "configmap", "cm", "-p", #"{"data":{"c":"2"}}"#])
        #expect(patched.status == 0, "\(patched.stderr)")
        #expect(try await kubectl.apply("alice", configMap(#"{a: "1"}"#)).status == 0)
        #expect(try await data() == ["a", "b", "c"])
        // Labels are fields like any other.
        let unlabelled = try await kubectl.apply("alice", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: default}\ndata: {a: \"1\"}\n")
        #expect(unlabelled.status == 0, "\(unlabelled.stderr)")
        #expect(try await kubectl.object("configmap", "cm")[path: ["metadata", "labels", "team"]] == nil)
    }

    @Test func droppedListEntriesAreRemovedByTheirKey() async throws {
        guard let tool = requireTool("kubectl") else { return }
        let env = try await RunningServer.start()
        defer { Task { await env.stop() } }
        let kubectl = Kubectl(tool: tool, env: env)
        func deployment(_ containers: [String]) -> String {
            """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: d, namespace: default}
            spec:
              selector: {matchLabels: {app: d}}
              template:
                metadata: {labels: {app: d}}
                spec:
                  containers:
            \(containers.map { "      - {name: \($0), image: \($0):1}" }.joined(separator: "\n"))

            """
        }
        func containers() async throws -> [String] {
            (try await kubectl.object("deployment", "d")[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? [])
                .compactMap { $0["name"]?.stringValue }
        }
        #expect(try await kubectl.apply("alice", deployment(["main", "sidecar"])).status == 0)
        let dropped = try await kubectl.apply("alice", deployment(["main"]))
        #expect(dropped.status == 0, "\(dropped.stderr)")
        #expect(try await containers() == ["main"])

        #expect(try await kubectl.apply("alice", deployment(["main", "sidecar"])).status == 0)
        // bob applies the sidecar with the same image: co-owned.
        let bob = """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: d, namespace: default}
            spec:
              template:
                spec:
                  containers:
                  - {name: sidecar, image: sidecar:1}

            """
        let shared = try await kubectl.apply("bob", bob)
        #expect(shared.status == 0, "\(shared.stderr)")
        #expect(try await kubectl.apply("alice", deployment(["main"])).status == 0)
        #expect(try await containers() == ["main", "sidecar"], "bob still owns the sidecar")
        let item = #"k:{"name":"sidecar"}"#
        #expect(try await kubectl.fields("deployment", "d", manager: "alice")?[path: ["f:spec", "f:template", "f:spec", "f:containers", item]] == nil)
        #expect(try await kubectl.fields("deployment", "d", manager: "bob")?[path: ["f:spec", "f:template", "f:spec", "f:containers", item, "f:image"]] != nil)
    }

    static let widgetCRD = """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: widgets.test.sextant.dev}
        spec:
          group: test.sextant.dev
          scope: Namespaced
          names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
          versions:
          - name: v1
            served: true
            storage: true
            schema:
              openAPIV3Schema:
                type: object
                properties:
                  spec:
                    type: object
                    properties:
                      ports:
                        type: array
                        x-kubernetes-list-type: map
                        x-kubernetes-list-map-keys: [name, protocol]
                        items:
                          type: object
                          required: [name, protocol]
                          properties:
                            name: {type: string}
                            protocol: {type: string}
                            port: {type: integer}
                      tags:
                        type: array
                        x-kubernetes-list-type: set
                        items: {type: string}
                      hosts:
                        type: array
                        items:
                          type: object
                          properties:
                            name: {type: string}

        """

    /// A CRD's `x-kubernetes-list-map-keys` key the items (two keys here), `set` lists merge as
    /// a union, lists without a list type are atomic, as kube-apiserver treats them.
    @Test func customResourceListsFollowTheirSchema() async throws {
        guard let tool = requireTool("kubectl") else { return }
        let env = try await RunningServer.start()
        defer { Task { await env.stop() } }
        let kubectl = Kubectl(tool: tool, env: env)
        let crd = try await kubectl.apply("installer", Self.widgetCRD)
        #expect(crd.status == 0, "\(crd.stderr)")
        func widget(_ spec: String) -> String {
            "apiVersion: test.sextant.dev/v1\nkind: Widget\nmetadata: {name: w, namespace: default}\nspec: \(spec)\n"
        }
        var ready = false
        for _ in 0..<60 where !ready {
            ready = try await kubectl(["get", "widgets"]).status == 0
            if !ready { try await Task.sleep(for: .milliseconds(500)) }
        }
        #expect(ready, "the Widget CRD is served")

        let alice = try await kubectl.apply("alice", widget("{ports: [{name: http, protocol: TCP, port: 80}], tags: [blue], hosts: [{name: a}]}"))
        #expect(alice.status == 0, "\(alice.stderr)")
        // Same name, other protocol: another entry of the map list, not alice's.
        let bob = try await kubectl.apply("bob", widget("{ports: [{name: http, protocol: UDP, port: 81}], tags: [green]}"))
        #expect(bob.status == 0, "\(bob.stderr)")
        var spec = try await kubectl.object("widget", "w")["spec"]
        #expect(spec?["ports"] == [["name": "http", "protocol": "TCP", "port": 80], ["name": "http", "protocol": "UDP", "port": 81]],
                "\(String(describing: spec))")
        #expect(spec?["tags"] == ["blue", "green"])
        let bobFields = try await kubectl.fields("widget", "w", manager: "bob")
        #expect(bobFields?[path: ["f:spec", "f:ports", #"k:{"name":"http","protocol":"UDP"}"#, "f:port"]] != nil, "\(String(describing: bobFields))")
        #expect(bobFields?[path: ["f:spec", "f:tags", #"v:"green""#]] != nil, "\(String(describing: bobFields))")

        // bob changing alice's entry conflicts on that entry's field, named by both keys.
        let conflicting = try await kubectl.apply("bob", widget("{ports: [{name: http, protocol: UDP, port: 81}, {name: http, protocol: TCP, port: 82}]}"))
        #expect(conflicting.status != 0)
        #expect(conflicting.stderr.contains(#"conflict with "alice": .spec.ports[name="http",protocol="TCP"].port"#), "\(conflicting.stderr)")
        // The atomic list is one field: another value conflicts, force replaces it whole.
        let hosts = try await kubectl.apply("bob", widget("{ports: [{name: http, protocol: UDP, port: 81}], tags: [green], hosts: [{name: b}]}"))
        #expect(hosts.stderr.contains(#"conflict with "alice": .spec.hosts"#), "\(hosts.stderr)")
        let forced = try await kubectl.apply("bob", widget("{ports: [{name: http, protocol: UDP, port: 81}], tags: [green], hosts: [{name: b}]}"), force: true)
        #expect(forced.status == 0, "\(forced.stderr)")
        spec = try await kubectl.object("widget", "w")["spec"]
        #expect(spec?["hosts"] == [["name": "b"]], "an atomic list is replaced, not merged: \(String(describing: spec))")

        // alice drops her entry and her tag: bob's stay.
        let dropped = try await kubectl.apply("alice", widget("{}"))
        #expect(dropped.status == 0, "\(dropped.stderr)")
        spec = try await kubectl.object("widget", "w")["spec"]
        #expect(spec?["ports"] == [["name": "http", "protocol": "UDP", "port": 81]], "\(String(describing: spec))")
        #expect(spec?["tags"] == ["green"])
        #expect(spec?["hosts"] == [["name": "b"]])
    }

    /// Sextant's own CRD: `spec.analysis.metrics` is a map list keyed by `name`, so a platform
    /// team and an application team can each own metrics of one CanaryRollout.
    @Test func canaryRolloutMetricsAreKeyedByName() async throws {
        guard let tool = requireTool("kubectl") else { return }
        let env = try await RunningServer.start()
        defer { Task { await env.stop() } }
        let kubectl = Kubectl(tool: tool, env: env)
        let crds = try await kubectl(["apply", "--server-side", "-f", packageRoot.appendingPathComponent("crds").path])
        #expect(crds.status == 0, "\(crds.stderr)")
        var ready = false
        for _ in 0..<60 where !ready {
            ready = try await kubectl(["get", "canaryrollouts"]).status == 0
            if !ready { try await Task.sleep(for: .milliseconds(500)) }
        }
        #expect(ready, "the CanaryRollout CRD is served")
        func rollout(_ metrics: String) -> String {
            """
            apiVersion: mlops.sextant.dev/v1alpha1
            kind: CanaryRollout
            metadata: {name: fraud, namespace: default}
            spec:
              modelName: fraud
              serving: {managed: {}}
              routing: {virtualService: {name: fraud}}
              strategy: {canary: {stepWeight: 25, maxWeight: 50}}
              analysis: {metrics: [\(metrics)]}

            """
        }
        let platform = try await kubectl.apply("platform", rollout("{name: success-rate, template: SuccessRate, thresholdRange: {min: 0.95}}"))
        #expect(platform.status == 0, "\(platform.stderr)")
        let app = try await kubectl.apply("app-team", rollout("{name: latency, template: LatencyP99, thresholdRange: {max: 0.5}}"))
        #expect(app.status == 0, "the other team's metric is another entry, not a conflict: \(app.stderr)")
        func metrics() async throws -> [String] {
            (try await kubectl.object("canaryrollout", "fraud")[path: ["spec", "analysis", "metrics"]]?.arrayValue ?? [])
                .compactMap { $0["name"]?.stringValue }
        }
        #expect(try await metrics() == ["success-rate", "latency"])
        let appFields = try await kubectl.fields("canaryrollout", "fraud", manager: "app-team")
        #expect(appFields?[path: ["f:spec", "f:analysis", "f:metrics", #"k:{"name":"latency"}"#, "f:thresholdRange", "f:max"]] != nil,
                "\(String(describing: appFields))")
        let conflicting = try await kubectl.apply("app-team", rollout("{name: success-rate, template: SuccessRate, thresholdRange: {min: 0.5}}"))
        #expect(conflicting.stderr.contains(#"conflict with "platform": .spec.analysis.metrics[name="success-rate"].thresholdRange.min"#),
                "\(conflicting.stderr)")
        // The platform team drops its metric: the app team's stays.
        let dropped = try await kubectl.apply("platform", rollout("{name: latency, template: LatencyP99, thresholdRange: {max: 0.5}}"))
        #expect(dropped.status == 0, "\(dropped.stderr)")
        #expect(try await metrics() == ["latency"])
    }
}
