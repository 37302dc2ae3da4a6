import Foundation
import SextantDevServer
import SextantJSON
import Testing

/// Server-side apply field ownership with real kubectl and two field managers: a field another
/// applier owns is a 409 naming the manager and field unless `--force-conflicts`, which takes it over.
@Suite(.serialized) struct ServerSideApplyConflictTests {
    @Test func twoFieldManagersConflictAndForceTakesOwnership() async throws {
        guard let tool = requireTool("kubectl") else { return }
        let env = try await RunningServer.start()
        defer { Task { await env.stop() } }
        func kubectl(_ args: [String], stdin: String? = nil) async throws -> ProcessResult {
            try await run(tool, ["--kubeconfig", env.kubeconfig, "--cache-dir", env.directory.appendingPathComponent("cache").path] + args,
                          stdin: stdin)
        }
        func apply(_ manager: String, _ data: String, force: Bool = false) async throws -> ProcessResult {
            try await kubectl(["apply", "--server-side", "--field-manager", manager, "-f", "-"] + (force ? ["--force-conflicts"] : []),
                              stdin: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared, namespace: default}\ndata: \(data)\n")
        }
        func owned(_ manager: String) async throws -> [String: JSONValue] {
            let got = try await kubectl(["get", "configmap", "shared", "-o", "json", "--show-managed-fields"])
            let object = try JSONValue.parse(Array(got.stdout.utf8))
            let entry = object[path: ["metadata", "managedFields"]]?.arrayValue?.first { $0["manager"]?.stringValue == manager }
            return entry?[path: ["fieldsV1", "f:data"]]?.objectValue ?? [:]
        }

        let created = try await apply("alice", #"{x: "1", w: "1"}"#)
        #expect(created.status == 0, "\(created.stderr)")
        let conflicting = try await apply("bob", #"{x: "2"}"#)
        #expect(conflicting.status != 0)
        #expect(conflicting.stderr.contains(#"Apply failed with 1 conflict: conflict with "alice": .data.x"#), "\(conflicting.stderr)")
        let shared = try await apply("bob", #"{x: "1", z: "1"}"#)
        #expect(shared.status == 0, "the same value is shared ownership, not a conflict: \(shared.stderr)")
        let forced = try await apply("bob", #"{x: "2", z: "1"}"#, force: true)
        #expect(forced.status == 0, "\(forced.stderr)")
        let value = try await kubectl(["get", "configmap", "shared", "-o", "jsonpath={.data.x}"])
        #expect(value.stdout == "2")
        let all = try await kubectl(["get", "configmap", "shared", "-o", "jsonpath={.metadata.managedFields}", "--show-managed-fields"])
        #expect(try await owned("alice").keys.sorted() == ["f:w"], "alice lost .data.x to bob: \(all.stdout)")
        #expect(try await owned("bob").keys.sorted() == ["f:x", "f:z"])
        let back = try await apply("alice", #"{x: "1", w: "1"}"#)
        #expect(back.status != 0 && back.stderr.contains(#"conflict with "bob": .data.x"#), "\(back.stderr)")
    }

    /// Ordinary writers get `Update` entries (manager from `--field-manager`, kubectl's defaults
    /// `kubectl-create`, `kubectl-patch`, `kubectl-edit`), and an apply that changes their field
    /// is a 409 naming them as kube-apiserver does (`"kubectl-create" using v1`); force takes it.
    @Test func updatersOwnFieldsAndConflictWithAppliers() async throws {
        guard let tool = requireTool("kubectl") else { return }
        let env = try await RunningServer.start()
        defer { Task { await env.stop() } }
        func kubectl(_ args: [String], stdin: String? = nil, environment: [String: String] = [:]) async throws -> ProcessResult {
            try await run(tool, ["--kubeconfig", env.kubeconfig, "--cache-dir", env.directory.appendingPathComponent("cache").path] + args,
                          environment: environment, stdin: stdin)
        }
        func apply(_ data: String, force: Bool = false) async throws -> ProcessResult {
            try await kubectl(["apply", "--server-side", "--field-manager", "alice", "-f", "-"] + (force ? ["--force-conflicts"] : []),
                              stdin: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: default}\ndata: \(data)\n")
        }
        func entries() async throws -> [JSONValue] {
            let got = try await kubectl(["get", "configmap", "cm", "-o", "json", "--show-managed-fields"])
            return try JSONValue.parse(Array(got.stdout.utf8))[path: ["metadata", "managedFields"]]?.arrayValue ?? []
        }
        func owned(_ manager: String) async throws -> [String] {
            let entry = try await entries().first { $0["manager"]?.stringValue == manager }
            return (entry?[path: ["fieldsV1", "f:data"]]?.objectValue ?? [:]).keys.sorted()
        }

        let created = try await kubectl(["create", "configmap", "cm", "--from-literal=x=1"])
        #expect(created.status == 0, "\(created.stderr)")
        let first = try #require(try await entries().first)
        #expect(first["manager"] == "kubectl-create" && first["operation"] == "Update" && first["apiVersion"] == "v1"
                && first["fieldsType"] == "FieldsV1", "\(first)")
        let time = first["time"]?.stringValue ?? ""
        #expect(time.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/) != nil, "time as kube-apiserver writes it: \(time)")
        #expect(try await owned("kubectl-create") == ["f:x"])

        let conflicting = try await apply(#"{x: "2"}"#)
        #expect(conflicting.status != 0)
        #expect(conflicting.stderr.contains(#"Apply failed with 1 conflict: conflict with "kubectl-create" using v1: .data.x"#),
                "\(conflicting.stderr)")
        let shared = try await apply(#"{x: "1"}"#)
        #expect(shared.status == 0, "the same value is shared, not a conflict: \(shared.stderr)")

        let patched = try await kubectl(["patch", "configmap", "cm", "-p", #"{"data":{"w":"1"}}"#])
        #expect(patched.status == 0, "\(patched.stderr)")
        #expect(try await owned("kubectl-patch") == ["f:w"])
        let overY = try await apply(#"{x: "1", w: "2"}"#)
        #expect(overY.stderr.contains(#"conflict with "kubectl-patch" using v1: .data.w"#), "\(overY.stderr)")
        let forced = try await apply(#"{x: "1", w: "2"}"#, force: true)
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try await owned("alice") == ["f:w", "f:x"])
        #expect(try await owned("kubectl-patch") == [], "the forced field left kubectl-patch (an empty entry goes)")
        let afterForce = try await entries()
        #expect(afterForce.contains { $0["manager"] == "kubectl-patch" } == false, "\(afterForce)")

        // kubectl edit, non-interactive: an update takes the field from the applier without asking.
        let editor = env.directory.appendingPathComponent("editor.sh")
        try "#!/bin/sh\nsed -i 's/^  w: \"2\"/  w: \"3\"/' \"$1\"\n".write(to: editor, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: editor.path)
        let edited = try await kubectl(["edit", "configmap", "cm"], environment: ["KUBE_EDITOR": editor.path, "EDITOR": editor.path])
        #expect(edited.status == 0, "\(edited.stderr)")
        #expect(try await owned("kubectl-edit") == ["f:w"])
        #expect(try await owned("alice") == ["f:x"])
        let back = try await apply(#"{x: "1", w: "2"}"#)
        #expect(back.stderr.contains(#"conflict with "kubectl-edit" using v1: .data.w"#), "\(back.stderr)")

        // A field an update removes leaves every manager.
        let removed = try await kubectl(["patch", "configmap", "cm", "--type=json", "-p", #"[{"op":"remove","path":"/data/x"}]"#])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(try await owned("alice") == [], "alice no longer owns the removed .data.x")
    }

    /// Without `fieldManager` the manager is the User-Agent's program name; a status write is an
    /// entry of its own with `subresource: status`, and owns only status fields.
    @Test func userAgentNamesTheManagerAndStatusHasItsOwnEntry() async throws {
        let handler = newHandler()
        func request(_ method: String, _ target: String, _ body: JSONValue, agent: String,
                     contentType: String = "application/json") async -> APIResponse {
            await handler.handle(APIRequest(method: method, target: target,
                                            headers: ["content-type": contentType, "user-agent": agent], body: body.serialized()))
        }
        let deployment: JSONValue = [
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "d"],
            "spec": ["selector": ["matchLabels": ["app": "d"]],
                     "template": ["metadata": ["labels": ["app": "d"]], "spec": ["containers": [["name": "c", "image": "i"]]]]],
        ]
        let created = await request("POST", "/apis/apps/v1/namespaces/default/deployments", deployment,
                                    agent: "deployer/1.2.3 (linux/amd64)")
        #expect(created.status == 201)
        let status = await request("PATCH", "/apis/apps/v1/namespaces/default/deployments/d/status",
                                   ["status": ["observedGeneration": 1]], agent: "my-controller/v0",
                                   contentType: "application/merge-patch+json")
        #expect(status.status == 200)
        let object = try JSONValue.parse(await call(handler, "GET", "/apis/apps/v1/namespaces/default/deployments/d").bodyBytes)
        let entries = object[path: ["metadata", "managedFields"]]?.arrayValue ?? []
        let creator = try #require(entries.first { $0["manager"] == "deployer" }, "\(entries)")
        #expect(creator["operation"] == "Update" && creator["apiVersion"] == "apps/v1" && creator["subresource"] == nil)
        #expect(creator[path: ["fieldsV1", "f:spec", "f:template", "f:spec", "f:containers", #"k:{"name":"c"}"#, "f:image"]] != nil,
                "\(creator)")
        #expect(creator[path: ["fieldsV1", "f:status"]] == nil)
        let controller = try #require(entries.first { $0["manager"] == "my-controller" }, "\(entries)")
        #expect(controller["subresource"] == "status" && controller["operation"] == "Update")
        #expect(controller["fieldsV1"] == ["f:status": ["f:observedGeneration": [:]]])
        // An apply changing the status field conflicts with the status writer, named with its subresource.
        let apply = await handler.handle(APIRequest(
            method: "PATCH", path: "/apis/apps/v1/namespaces/default/deployments/d/status", query: ["fieldManager": "gitops"],
            headers: ["content-type": "application/apply-patch+yaml"],
            body: Array("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nstatus: {observedGeneration: 2}\n".utf8)))
        #expect(apply.status == 409)
        let message = try JSONValue.parse(apply.bodyBytes)["message"]?.stringValue ?? ""
        #expect(message == #"Apply failed with 1 conflict: conflict with "my-controller" with subresource "status" using apps/v1: .status.observedGeneration"#,
                "\(message)")
    }
}

extension APIResponse {
    /// The body of a non-streaming response.
    var bodyBytes: [UInt8] {
        if case .bytes(let bytes) = body { return bytes }
        return []
    }
}
