import Foundation
import SextantKube
import SextantTestSupport
import Testing

@Suite("kubeconfig")
struct KubeconfigTests {
    static let first = """
        apiVersion: v1
        kind: Config
        current-context: dev
        clusters:
        - name: dev-cluster
          cluster:
            server: https://dev.example:6443
            certificate-authority: certs/ca.crt
            tls-server-name: api.dev.internal
            proxy-url: http://proxy.local:3128
        - name: shared
          cluster:
            server: https://first.example
        users:
        - name: dev-user
          user:
            client-certificate-data: Y2VydA==
            client-key-data: a2V5
        - name: token-user
          user:
            tokenFile: tokens/t
        contexts:
        - name: dev
          context: {cluster: dev-cluster, user: dev-user, namespace: ml}
        - name: shared
          context: {cluster: shared, user: token-user}
        """

    static let second = """
        current-context: prod
        clusters:
        - name: shared
          cluster:
            server: https://second.example
            insecure-skip-tls-verify: true
        - name: prod-cluster
          cluster:
            server: https://prod.example
            certificate-authority-data: Y2E=
        users:
        - name: prod-user
          user:
            exec:
              apiVersion: client.authentication.k8s.io/v1
              command: ./bin/get-token
              args: [--cluster, prod]
              env: [{name: REGION, value: eu}]
        contexts:
        - name: prod
          context: {cluster: prod-cluster, user: prod-user}
        """

    @Test func resolvesCurrentContextWithFilesRelativeToTheKubeconfig() throws {
        let config = try Kubeconfig.parse(Self.first, directory: "/home/u/.kube")
        let cluster = try ClusterConfig(kubeconfig: config)
        #expect(cluster.server == "https://dev.example:6443")
        #expect(cluster.namespace == "ml")
        #expect(cluster.tls.caFile == "/home/u/.kube/certs/ca.crt")
        #expect(cluster.tls.serverName == "api.dev.internal")
        #expect(cluster.tls.clientCertificateData == Data("cert".utf8))
        #expect(cluster.tls.clientKeyData == Data("key".utf8))
        #expect(cluster.proxy == "http://proxy.local:3128")

        let shared = try ClusterConfig(kubeconfig: config, context: "shared")
        #expect(shared.auth == .tokenFile("/home/u/.kube/tokens/t"))
        #expect(shared.namespace == "default")
    }

    @Test func mergesLikeKubectlFirstDefinitionWins() throws {
        let merged = Kubeconfig.merge([
            try Kubeconfig.parse(Self.first, directory: "/a"), try Kubeconfig.parse(Self.second, directory: "/b"),
        ])
        #expect(merged.currentContext == "dev")
        let shared = try ClusterConfig(kubeconfig: merged, context: "shared")
        #expect(shared.server == "https://first.example")
        #expect(shared.tls.insecureSkipVerify == false)
        let prod = try ClusterConfig(kubeconfig: merged, context: "prod")
        #expect(prod.tls.caData == Data("ca".utf8))
        guard case .exec(let exec) = prod.auth else {
            Issue.record("expected exec auth, got \(prod.auth)")
            return
        }
        #expect(exec.command == "/b/bin/get-token")
        #expect(exec.args == ["--cluster", "prod"])
        #expect(exec.env?.first?.value == "eu")

        let reversed = Kubeconfig.merge([
            try Kubeconfig.parse(Self.second), try Kubeconfig.parse(Self.first),
        ])
        #expect(reversed.currentContext == "prod")
        #expect(try ClusterConfig(kubeconfig: reversed, context: "shared").server == "https://second.example")
    }

    @Test func kubeconfigEnvironmentListIsMerged() throws {
        let dir = try TemporaryDirectory()
        try Self.second.write(toFile: dir.file("b"), atomically: true, encoding: .utf8)
        try Self.first.write(toFile: dir.file("a"), atomically: true, encoding: .utf8)
        let config = try ClusterConfig.load(
            environment: ["KUBECONFIG": "\(dir.file("b")):\(dir.file("missing")):\(dir.file("a"))", "HOME": dir.path])
        #expect(config.server == "https://prod.example")
    }

    @Test func errorsNameWhatIsMissing() throws {
        let config = try Kubeconfig.parse(Self.first)
        #expect(throws: KubeConfigError.self) { try ClusterConfig(kubeconfig: config, context: "nope") }
        do {
            _ = try ClusterConfig(kubeconfig: config, context: "nope")
        } catch {
            #expect("\(error)".contains("context \"nope\" not found"))
        }
        do {
            _ = try Kubeconfig.parse("clusters: {not: a list}", source: "bad.yaml")
            Issue.record("expected a parse error")
        } catch {
            #expect("\(error)".contains("bad.yaml"))
        }
        let badBase64 = """
            current-context: c
            clusters: [{name: x, cluster: {server: "https://x", certificate-authority-data: "%%%"}}]
            contexts: [{name: c, context: {cluster: x}}]
            """
        do {
            _ = try ClusterConfig(kubeconfig: try Kubeconfig.parse(badBase64))
            Issue.record("expected a base64 error")
        } catch {
            #expect("\(error)".contains("certificate-authority-data"))
        }
    }

    @Test func inClusterConfigReadsServiceAccountFiles() throws {
        let dir = try TemporaryDirectory()
        try "ml-team\n".write(toFile: dir.file("namespace"), atomically: true, encoding: .utf8)
        let config = try ClusterConfig.inCluster(
            environment: ["KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"],
            serviceAccountDirectory: dir.path)
        #expect(config.server == "https://10.0.0.1:443")
        #expect(config.namespace == "ml-team")
        #expect(config.tls.caFile == dir.file("ca.crt"))
        #expect(config.auth == .tokenFile(dir.file("token")))
        #expect(throws: KubeConfigError.self) { try ClusterConfig.inCluster(environment: [:]) }
    }
}
