import Foundation
@testable import SextantDevServer
import SextantJSON
import Testing

/// Server-side apply of built-in kinds with real kubectl, keyed as kube-apiserver keys them: by the
/// Go types' `+listType`/`+listMapKey` markers (`KubeFieldShapes`, generated from the .proto files),
/// a list-map key an item leaves out taking its `+default`.
@Suite(.serialized) struct ServerSideApplyBuiltinTests {
    typealias Kubectl = ServerSideApplyMergeTests.Kubectl

    @Test func servicePortsAreKeyedByPortAndProtocol() async throws {
        guard let tool = requireTool("kubectl") else { return }
        let env = try await RunningServer.start()
        defer { Task { await env.stop() } }
        let kubectl = Kubectl(tool: tool, env: env)
        func service(_ ports: String) -> String {
            "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\nspec: {selector: {app: web}, ports: [\(ports)]}\n"
        }
        let alice = try await kubectl.apply("alice", service("{name: http, port: 80, targetPort: 8080}"))
        #expect(alice.status == 0, "\(alice.stderr)")
        // Same port, other protocol: another item, co-existing with alice's.
        let bob = try await kubectl.apply("bob", service("{name: dns, port: 80, protocol: UDP, targetPort: 53}"))
        #expect(bob.status == 0, "\(bob.stderr)")
        let ports = try await kubectl.object("service", "web")[path: ["spec", "ports"]]?.arrayValue ?? []
        #expect(ports.map { [$0["port"], $0["protocol"], $0["targetPort"]] } == [[80, "TCP", 8080], [80, "UDP", 53]], "\(ports)")
        let aliceFields = try await kubectl.fields("service", "web", manager: "alice")
        let tcp = #"k:{"port":80,"protocol":"TCP"}"#
        #expect(aliceFields?[path: ["f:spec", "f:ports", tcp, "f:targetPort"]] != nil, "protocol defaults to TCP in the key: \(String(describing: aliceFields))")
        #expect(aliceFields?[path: ["f:spec", "f:ports", tcp, "f:protocol"]] == nil, "alice did not apply the protocol")
        #expect(aliceFields?[path: ["f:spec", "f:selector"]] == [:], "a Service selector is an atomic map")
        let bobFields = try await kubectl.fields("service", "web", manager: "bob")
        #expect(bobFields?[path: ["f:spec", "f:ports", #"k:{"port":80,"protocol":"UDP"}"#, "f:targetPort"]] != nil, "\(String(describing: bobFields))")

        // bob applying port 80 (TCP by default) with another target conflicts on alice's item,
        // named as kube-apiserver names it.
        let conflicting = try await kubectl.apply("bob", service("{name: dns, port: 80, protocol: UDP, targetPort: 53}, {name: http, port: 80, targetPort: 9090}"))
        #expect(conflicting.status != 0)
        #expect(conflicting.stderr.contains(#"conflict with "alice": .spec.ports[port=80,protocol="TCP"].targetPort"#), "\(conflicting.stderr)")
        // alice drops her port: bob's UDP port stays.
        let dropped = try await kubectl.apply("alice", "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\nspec: {selector: {app: web}}\n")
        #expect(dropped.status == 0, "\(dropped.stderr)")
        let left = try await kubectl.object("service", "web")[path: ["spec", "ports"]]?.arrayValue ?? []
        #expect(left.map { [$0["port"], $0["protocol"]] } == [[80, "UDP"]], "\(left)")
    }

    @Test func podTemplateListsFollowTheirListTypes() async throws {
        guard let tool = requireTool("kubectl") else { return }
        let env = try await RunningServer.start()
        defer { Task { await env.stop() } }
        let kubectl = Kubectl(tool: tool, env: env)
        func deployment(_ container: String, tolerations: String) -> String {
            """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: d, namespace: default}
            spec:
              selector: {matchLabels: {app: d}}
              template:
                metadata: {labels: {app: d}}
                spec:
                  tolerations: [\(tolerations)]
                  containers:
                  - \(container)

            """
        }
        let alice = try await kubectl.apply("alice", deployment(
            "{name: main, image: main:1, ports: [{containerPort: 8080}], env: [{name: A, value: '1'}]}", tolerations: "{key: a, operator: Exists}"))
        #expect(alice.status == 0, "\(alice.stderr)")
        // bob adds a UDP port on the same number and another variable to alice's container.
        let bob = try await kubectl.apply("bob", deployment(
            "{name: main, ports: [{containerPort: 8080, protocol: UDP}], env: [{name: B, value: '2'}]}", tolerations: "{key: a, operator: Exists}"))
        #expect(bob.status == 0, "\(bob.stderr)")
        let object = try await kubectl.object("deployment", "d")
        let container = object[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first
        #expect(container?["ports"]?.arrayValue?.map { [$0["containerPort"], $0["protocol"]] } == [[8080, "TCP"], [8080, "UDP"]], "\(String(describing: container))")
        #expect(container?["env"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["A", "B"])
        let aliceFields = try await kubectl.fields("deployment", "d", manager: "alice")
        let spec = ["f:spec", "f:template", "f:spec"]
        #expect(aliceFields?[path: spec + ["f:containers", #"k:{"name":"main"}"#, "f:ports", #"k:{"containerPort":8080,"protocol":"TCP"}"#, "f:containerPort"]] != nil,
                "\(String(describing: aliceFields))")
        #expect(aliceFields?[path: spec + ["f:tolerations"]] == [:], "tolerations are an atomic list")
        #expect(aliceFields?[path: ["f:spec", "f:selector"]] == [:], "a LabelSelector is an atomic struct")
        // The atomic list is one field: another value from bob conflicts on the whole list.
        let tolerations = try await kubectl.apply("bob", deployment("{name: main}", tolerations: "{key: b, operator: Exists}"))
        #expect(tolerations.status != 0)
        #expect(tolerations.stderr.contains(#"conflict with "alice": .spec.template.spec.tolerations"#), "\(tolerations.stderr)")
    }
}

/// Defaulting runs on the merged object after apply, as in kube-apiserver: a field with a default
/// that its only applier drops comes back as the default, owned by nobody.
@Suite(.serialized) struct ServerSideApplyDefaultingTests {
    typealias Kubectl = ServerSideApplyMergeTests.Kubectl

    @Test func droppedFieldsGetTheirDefaultsBack() async throws {
        guard let tool = requireTool("kubectl") else { return }
        let env = try await RunningServer.start()
        defer { Task { await env.stop() } }
        let kubectl = Kubectl(tool: tool, env: env)
        func deployment(_ spec: String) -> String {
            """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: d, namespace: default}
            spec:
              \(spec)
              selector: {matchLabels: {app: d}}
              template:
                metadata: {labels: {app: d}}
                spec: {containers: [{name: main, image: main:1}]}

            """
        }
        let scaled = try await kubectl.apply("alice", deployment("replicas: 3\n  revisionHistoryLimit: 4"))
        #expect(scaled.status == 0, "\(scaled.stderr)")
        #expect(try await kubectl.object("deployment", "d")[path: ["spec", "replicas"]] == 3)
        let dropped = try await kubectl.apply("alice", deployment("minReadySeconds: 0"))
        #expect(dropped.status == 0, "\(dropped.stderr)")
        let object = try await kubectl.object("deployment", "d")
        #expect(object[path: ["spec", "replicas"]] == 1, "dropped replicas are defaulted again: \(object)")
        #expect(object[path: ["spec", "revisionHistoryLimit"]] == 10)
        let owners = (object[path: ["metadata", "managedFields"]]?.arrayValue ?? []).filter {
            $0[path: ["fieldsV1", "f:spec", "f:replicas"]] != nil
        }
        #expect(owners.isEmpty, "a defaulted field has no manager: \(owners)")

        // A custom resource's schema default comes back the same way.
        let sized = ServerSideApplyMergeTests.widgetCRD.replacingOccurrences(
            of: "              tags:\n", with: "              size: {type: integer, default: 2}\n              tags:\n")
        #expect(sized.contains("size: {type: integer"))
        let crd = try await kubectl.apply("installer", sized)
        #expect(crd.status == 0, "\(crd.stderr)")
        var ready = false
        for _ in 0..<60 where !ready {
            ready = try await kubectl(["get", "widgets"]).status == 0
            if !ready { try await Task.sleep(for: .milliseconds(500)) }
        }
        #expect(ready, "the Widget CRD is served")
        func widget(_ spec: String) -> String {
            "apiVersion: test.sextant.dev/v1\nkind: Widget\nmetadata: {name: w, namespace: default}\nspec: \(spec)\n"
        }
        #expect(try await kubectl.apply("alice", widget("{size: 5, tags: [a]}")).status == 0)
        #expect(try await kubectl.object("widget", "w")[path: ["spec", "size"]] == 5)
        let droppedSize = try await kubectl.apply("alice", widget("{tags: [a]}"))
        #expect(droppedSize.status == 0, "\(droppedSize.stderr)")
        #expect(try await kubectl.object("widget", "w")[path: ["spec", "size"]] == 2, "the schema default")
    }
}

/// `kubectl scale` writes through the `scale` subresource own `.spec.replicas` in an `Update` entry
/// with `subresource: scale` and the parent's apiVersion (kube-apiserver's ScaleHandler), taking
/// it from the applier, so a later apply of another replicas value conflicts.
@Suite(.serialized) struct ScaleOwnershipTests {
    typealias Kubectl = ServerSideApplyMergeTests.Kubectl

    @Test func scaleWritesOwnReplicas() async throws {
        guard let tool = requireTool("kubectl") else { return }
        let env = try await RunningServer.start()
        defer { Task { await env.stop() } }
        let kubectl = Kubectl(tool: tool, env: env)
        func deployment(_ replicas: String) -> String {
            """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: d, namespace: default}
            spec:
              \(replicas)
              selector: {matchLabels: {app: d}}
              template:
                metadata: {labels: {app: d}}
                spec: {containers: [{name: main, image: main:1}]}

            """
        }
        #expect(try await kubectl.apply("alice", deployment("replicas: 2")).status == 0)
        let scaled = try await kubectl(["scale", "deployment", "d", "--replicas=5"])
        #expect(scaled.status == 0, "\(scaled.stderr)")
        var object = try await kubectl.object("deployment", "d")
        #expect(object[path: ["spec", "replicas"]] == 5)
        let entries = object[path: ["metadata", "managedFields"]]?.arrayValue ?? []
        let scaler = try #require(entries.first { $0["subresource"] == "scale" }, "\(entries)")
        // kubectl scale sends no fieldManager: the manager is the User-Agent's program name.
        #expect(scaler["manager"] == "kubectl" && scaler["operation"] == "Update" && scaler["apiVersion"] == "apps/v1"
                && scaler["fieldsV1"] == ["f:spec": ["f:replicas": [:]]], "\(scaler)")
        #expect(try await kubectl.fields("deployment", "d", manager: "alice")?[path: ["f:spec", "f:replicas"]] == nil,
                "the scale write took replicas from alice")

        let conflicting = try await kubectl.apply("alice", deployment("replicas: 2"))
        #expect(conflicting.status != 0)
        #expect(conflicting.stderr.contains(#"conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas"#),
                "\(conflicting.stderr)")
        // Leaving replicas out keeps the scaled value; forcing takes it back.
        let without = try await kubectl.apply("alice", deployment("minReadySeconds: 0"))
        #expect(without.status == 0, "\(without.stderr)")
        #expect(try await kubectl.object("deployment", "d")[path: ["spec", "replicas"]] == 5)
        let forced = try await kubectl.apply("alice", deployment("replicas: 3"), force: true)
        #expect(forced.status == 0, "\(forced.stderr)")
        object = try await kubectl.object("deployment", "d")
        #expect(object[path: ["spec", "replicas"]] == 3)
        #expect(!(object[path: ["metadata", "managedFields"]]?.arrayValue ?? []).contains { $0["subresource"] == "scale" },
                "the emptied scale entry is removed")
    }
}

/// `KubeFieldShapes.swift` is what `hack/gen-kube-field-shapes.py` makes of the upstream .proto
/// files (where they are beside the repository, as in CI), and its names exist in the descriptor set.
struct KubeFieldShapesTests {
    @Test func everyShapeNamesAFieldOfTheDescriptorSet() {
        let messages = ProtoSchema.kubernetes.messages
        for key in Array(KubeFieldShapes.lists.keys) + Array(KubeFieldShapes.defaults.keys) {
            let (message, field) = (String(key[..<(key.lastIndex(of: ".") ?? key.endIndex)]), String(key.split(separator: ".").last ?? ""))
            #expect(messages[message]?.fieldsByName[field] != nil, "\(key)")
        }
        for key in KubeFieldShapes.atomic {
            let message = String(key[..<(key.lastIndex(of: ".") ?? key.endIndex)])
            #expect(messages[key] != nil || messages[message]?.fieldsByName[String(key.split(separator: ".").last ?? "")] != nil, "\(key)")
        }
        #expect(KubeFieldShapes.lists["k8s.io.api.core.v1.ServiceSpec.ports"] == .map(["port", "protocol"]))
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: UpstreamProto.directory.path),
                   "the upstream Kubernetes .proto files are not beside the repository"))
    func committedShapesMatchTheProtoFiles() async throws {
        guard let python = requireTool("python3") else { return }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("kube-field-shapes-\(UUID().uuidString).swift")
        defer { try? FileManager.default.removeItem(at: output) }
        let result = try await run(python, [packageRoot.appendingPathComponent("hack/gen-kube-field-shapes.py").path,
                                            UpstreamProto.directory.path, output.path])
        #expect(result.status == 0, "\(result.stderr)")
        let generated = try String(contentsOf: output, encoding: .utf8)
        let committed = try String(contentsOf: packageRoot.appendingPathComponent("Sources/SextantDevServer/KubeFieldShapes.swift"), encoding: .utf8)
        #expect(generated == committed, "Sources/SextantDevServer/KubeFieldShapes.swift is stale: run hack/gen-kube-field-shapes.py")
    }
}
