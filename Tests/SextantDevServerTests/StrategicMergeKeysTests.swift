import Foundation
import SextantDevServer
import SextantJSON
import Testing

/// Strategic merge patches of built-in kinds (kubectl patch's default) merge a list only where the
/// Go type says `patchStrategy:"merge"`, by its `patchMergeKey` (`KubeFieldShapes.patchMergeKeys`),
/// as kube-apiserver does: a Service's ports by `port` even when they are named, a RoleBinding's
/// subjects (no strategy) replaced.
@Suite(.serialized) struct StrategicMergeKeysTests {
    @Test func listsMergeByTheirPatchMergeKey() async throws {
        guard let tool = requireTool("kubectl") else { return }
        let env = try await RunningServer.start()
        defer { Task { await env.stop() } }
        let kubectl = ServerSideApplyMergeTests.Kubectl(tool: tool, env: env)
        let service = try await kubectl(["apply", "-f", "-"], stdin: """
            apiVersion: v1
            kind: Service
            metadata: {name: web, namespace: default}
            spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}, {name: metrics, port: 9090}]}

            """)
        #expect(service.status == 0, "\(service.stderr)")
        let renamed = try await kubectl(["patch", "service", "web", "-p", #"{"spec":{"ports":[{"port":80,"name":"web","targetPort":8081}]}}"#])
        #expect(renamed.status == 0, "\(renamed.stderr)")
        let ports = try await kubectl.object("service", "web")[path: ["spec", "ports"]]?.arrayValue ?? []
        #expect(ports.map { [$0["name"], $0["port"], $0["targetPort"]] } == [["web", 80, 8081], ["metrics", 9090, 9090]],
                "the item with port 80 is patched, not a third port added: \(ports)")

        let binding = try await kubectl(["create", "rolebinding", "rb", "--clusterrole=view", "--user=a"])
        #expect(binding.status == 0, "\(binding.stderr)")
        let patched = try await kubectl(["patch", "rolebinding", "rb", "-p", #"{"subjects":[{"kind":"User","name":"b"}]}"#])
        #expect(patched.status == 0, "\(patched.stderr)")
        let subjects = try await kubectl.object("rolebinding", "rb")["subjects"]?.arrayValue ?? []
        #expect(subjects.compactMap { $0["name"]?.stringValue } == ["b"], "subjects have no merge strategy: replaced, \(subjects)")
    }
}
