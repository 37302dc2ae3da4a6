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
}
