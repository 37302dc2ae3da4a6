import Foundation
import SextantDevServer
import SextantJSON
import Testing

/// HTTPS (the default of `sextant dev apiserver`): real kubectl, the Python client and curl trust
/// the CA the kubeconfig carries; `kind: List` files apply as kubectl sends them.
@Suite(.serialized) struct TLSTests {
    static func tlsServer(token: String? = nil) async throws -> RunningServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sextant-tls-\(UUID().uuidString)").path
        return try await RunningServer.start(DevServerConfiguration(token: token, tlsDirectory: directory))
    }

    func kubectl(_ tool: String, _ env: RunningServer, _ args: String...) async throws -> ProcessResult {
        try await run(tool, ["--kubeconfig", env.kubeconfig, "--cache-dir", env.directory.appendingPathComponent("cache").path] + args)
    }

    @Test func kubectlOverHTTPSWithTheKubeconfigsCA() async throws {
        guard let tool = requireTool("kubectl") else { return }
        let env = try await Self.tlsServer()
        defer { Task { await env.stop() } }
        #expect(env.server.baseURL.hasPrefix("https://127.0.0.1:"))
        let kubeconfig = try String(contentsOfFile: env.kubeconfig, encoding: .utf8)
        #expect(kubeconfig.contains("certificate-authority-data: "))
        #expect(kubeconfig.contains("client-certificate-data: "))
        let namespaces = try await kubectl(tool, env, "get", "namespaces", "-o", "name")
        #expect(namespaces.status == 0, "\(namespaces.stderr)")
        #expect(namespaces.stdout.contains("namespace/default"))
        // kind: List is flattened by kubectl, after it validated the file against /openapi/v2.
        let list = env.directory.appendingPathComponent("list.yaml")
        try """
        apiVersion: v1
        kind: List
        items:
        - apiVersion: v1
          kind: ConfigMap
          metadata: {name: from-list, namespace: default}
          data: {a: "1"}
        - apiVersion: apps/v1
          kind: ReplicaSet
          metadata: {name: rs, namespace: default}
          spec:
            selector: {matchLabels: {app: rs}}
            template:
              metadata: {labels: {app: rs}}
              spec: {containers: [{name: c, image: busybox}]}
        - apiVersion: policy/v1
          kind: PodDisruptionBudget
          metadata: {name: pdb, namespace: default}
          spec: {minAvailable: 1, selector: {matchLabels: {app: rs}}}
        - apiVersion: rbac.authorization.k8s.io/v1
          kind: ClusterRole
          metadata: {name: reader}
          rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
        """.write(to: list, atomically: true, encoding: .utf8)
        let applied = try await kubectl(tool, env, "apply", "-f", list.path)
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.stdout.contains("configmap/from-list created"))
        #expect(applied.stdout.contains("clusterrole.rbac.authorization.k8s.io/reader created"))
        let again = try await kubectl(tool, env, "apply", "-f", list.path)
        #expect(again.stdout.contains("configmap/from-list unchanged"), "\(again.stdout) \(again.stderr)")
        let got = try await kubectl(tool, env, "get", "rs,pdb", "-o", "name")
        #expect(got.stdout.contains("replicaset.apps/rs") && got.stdout.contains("poddisruptionbudget.policy/pdb"), "\(got.stderr)")
        #expect(try await kubectl(tool, env, "delete", "-f", list.path).status == 0)
    }

    @Test func pythonClientAndCurlVerifyTheCertificate() async throws {
        guard let python = requireTool("python3"), let curl = requireTool("curl") else { return }
        let env = try await Self.tlsServer(token: "tls-token")
        defer { Task { await env.stop() } }
        let script = """
        import sys
        from kubernetes import client, config
        config.load_kube_config(config_file=sys.argv[1])
        print(",".join(sorted(n.metadata.name for n in client.CoreV1Api().list_namespace().items)))
        """
        let listed = try await run(python, ["-c", script, env.kubeconfig])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.contains("default,kube-node-lease,kube-public,kube-system"))
        let ca = try #require(env.server.certificates?.caFile)
        let verified = try await run(curl, ["-sS", "--cacert", ca, "-H", "Authorization: Bearer tls-token",
                                            env.server.baseURL + "/api/v1/namespaces/default"])
        #expect(verified.status == 0, "\(verified.stderr)")
        #expect(verified.stdout.contains("\"name\":\"default\""))
        // Without the CA the certificate is refused; plain HTTP to the TLS port gets nowhere, and
        // the server keeps serving afterwards.
        let unverified = try await run(curl, ["-sS", env.server.baseURL + "/version"])
        #expect(unverified.status != 0)
        let plain = try await run(curl, ["-sS", "--max-time", "5", "http://127.0.0.1:\(env.server.port)/version"])
        #expect(plain.status != 0 || !plain.stdout.contains("gitVersion"))
        let after = try await run(curl, ["-sS", "--cacert", ca, env.server.baseURL + "/healthz"])
        #expect(after.stdout == "ok")
    }
}
