import Foundation
import SextantAPI
import SextantDashboard
import SextantDevServer
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantTestSupport
import Testing

/// `sextant dashboard` as users with limited rights (issue 19, bad input): the development API
/// server in RBAC mode, two ServiceAccounts with TokenRequest tokens (as `kubectl create token`),
/// one that may read CanaryRollouts only, one that may also patch `canaryrollouts/status`; real
/// headless Chromium (Tests/Browser/dashboard_rbac.py) checks the pages against the API server's
/// own 403 messages, read with the same token.
@Suite("sextant dashboard under RBAC", .serialized)
struct DashboardRBACTests {
    static let namespace = "team-a"

    @Test func forbiddenPagesShowTheAPIMessageAndButtonsFollowRBAC() async throws {
        guard try Tooling.available("chromium (Debian package chromium)", Tooling.find("chromium") != nil),
              try Tooling.available("chromedriver (Debian package chromium-driver)", Tooling.find("chromedriver") != nil),
              try Tooling.available("python3 with selenium (hack/requirements-test.txt)", Tooling.pythonHas(["selenium"])) else { return }
        let server = try await DevServer.start(DevServerConfiguration(authorization: .rbac))
        defer { Task { await server.stop() } }
        let directory = try TemporaryDirectory()
        let admin = try await Self.adminWithCRDs(server, directory)
        let ns = Self.namespace
        try await Self.post(admin, "/apis/mlops.sextant.dev/v1alpha1/namespaces/\(ns)/canaryrollouts", [
            "apiVersion": "mlops.sextant.dev/v1alpha1", "kind": "CanaryRollout", "metadata": ["name": "fraud"],
            "spec": ["modelName": "fraud", "modelVersion": "fraud-v2", "serving": ["managed": ["replicas": 1]],
                     "routing": ["virtualService": ["name": "fraud"], "services": ["stable": "s", "canary": "c"]],
                     "strategy": ["canary": ["steps": [["setWeight": 25], ["pause": [:]]]]]],
        ])
        try await Self.post(admin, "/apis/mlops.sextant.dev/v1alpha1/namespaces/\(ns)/modelversions", [
            "apiVersion": "mlops.sextant.dev/v1alpha1", "kind": "ModelVersion", "metadata": ["name": "fraud-v2"],
            "spec": ["modelName": "fraud", "version": 2, "artifact": ["uri": "s3://models/fraud/2/model.json"]],
        ])

        // Reading a rollout page needs the rollout, the namespace's Deployments and Events; the
        // operator may also send the manual requests (a merge patch of the status subresource).
        let read: [JSONValue] = [
            ["apiGroups": ["mlops.sextant.dev"], "resources": ["canaryrollouts"], "verbs": ["get", "list", "watch"]],
            ["apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]],
            ["apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["get", "list", "watch"]],
        ]
        let patch: JSONValue = ["apiGroups": ["mlops.sextant.dev"], "resources": ["canaryrollouts/status"], "verbs": ["patch"]]
        var kubeconfigs: [String: String] = [:]
        for (user, rules) in [("viewer", read), ("operator", read + [patch])] {
            kubeconfigs[user] = try await Self.serviceAccount(user, rules: rules, admin: admin, server: server, directory: directory)
        }
        let viewerConfig = try #require(kubeconfigs["viewer"]), operatorConfig = try #require(kubeconfigs["operator"])

        // The API server's own answers to the viewer, which the pages must show.
        let viewer = KubeClient(config: try ClusterConfig.load(kubeconfigPath: viewerConfig))
        let forbiddenVersion = await Self.forbidden { _ = try await viewer.get(ModelVersion.self, name: "fraud-v2", namespace: ns) }
        let forbiddenVersions = await Self.forbidden { _ = try await viewer.list(ModelVersion.self, namespace: ns, options: ListOptions(limit: 500)) }
        let forbiddenPatch = await Self.forbidden {
            try await StatusRequestVerb.promote.send(client: viewer, name: "fraud", namespace: ns, requestedBy: "viewer", reason: nil)
        }
        #expect(forbiddenVersion.contains(#"cannot get resource "modelversions""#), "\(forbiddenVersion)")
        #expect(forbiddenPatch.contains(#"cannot patch resource "canaryrollouts/status""#), "\(forbiddenPatch)")

        let viewerDashboard = try TestProcess(GetCommandTests.binary, ["dashboard", "--port", "0", "--kubeconfig", viewerConfig])
        defer { viewerDashboard.stop() }
        let operatorDashboard = try TestProcess(GetCommandTests.binary, ["dashboard", "--port", "0", "--kubeconfig", operatorConfig],
                                              environment: ["SEXTANT_USER": ""])  // requestedBy: the kubeconfig's user
        defer { operatorDashboard.stop() }
        let viewerURL = try await viewerDashboard.waitForLine(prefix: "Sextant dashboard: ", timeout: .seconds(30))
        let operatorURL = try await operatorDashboard.waitForLine(prefix: "Sextant dashboard: ", timeout: .seconds(30))
        let expected: JSONValue = ["namespace": .string(ns), "rollout": "fraud", "version": "fraud-v2",
                                   "forbiddenVersion": .string(forbiddenVersion), "forbiddenVersions": .string(forbiddenVersions),
                                   "forbiddenPatch": .string(forbiddenPatch)]
        let browser = try await runCommandAsync("/usr/bin/env", [
            "python3", Repo.root + "/Tests/Browser/dashboard_rbac.py", String(viewerURL.dropLast()), String(operatorURL.dropLast()),
            String(decoding: expected.serialized(), as: UTF8.self)])
        let report = browser.output.split(separator: "\n").last.map(String.init) ?? ""
        print("dashboard RBAC browser test: \(report)")
        #expect(browser.code == 0 && report.contains(#""failures": []"#),
                "browser checks failed: \(browser.output)\nviewer dashboard: \(viewerDashboard.text.suffix(1000))")

        // The operator's Promote reached the status, as that ServiceAccount.
        let rollout = try await admin.get(CanaryRollout.self, name: "fraud", namespace: ns)
        #expect(rollout.status?.requests?.promote?.requestedBy == "operator", "\(String(describing: rollout.status?.requests))")
    }

    /// The server's admin client (kubeconfig `admin` in `directory`) after Sextant's CRDs are
    /// served and namespace `namespace` exists.
    static func adminWithCRDs(_ server: DevServer, _ directory: TemporaryDirectory) async throws -> KubeClient {
        try server.writeKubeconfig(to: directory.file("admin"))
        let admin = KubeClient(config: try ClusterConfig.load(kubeconfigPath: directory.file("admin")))
        for plural in ["trainingjobs", "modelversions", "canaryrollouts"] {
            let yaml = try Data(contentsOf: URL(fileURLWithPath: Repo.root + "/crds/\(plural).yaml"))
            _ = try await admin.send(method: "POST", path: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                     body: yaml, contentType: "application/yaml")
        }
        try await post(admin, "/api/v1/namespaces", ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(namespace)]])
        try await waitForCRDs(admin)
        return admin
    }

    static func post(_ client: KubeClient, _ path: String, _ body: JSONValue) async throws {
        _ = try await client.send(method: "POST", path: path, body: Data(body.serialized()), contentType: "application/json")
    }

    /// The CRDs' resources are served shortly after they are created.
    static func waitForCRDs(_ client: KubeClient) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if (try? await client.list(CanaryRollout.self, namespace: namespace, options: ListOptions(limit: 1))) != nil,
               (try? await client.list(ModelVersion.self, namespace: namespace, options: ListOptions(limit: 1))) != nil { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestSetupError("the CRDs' resources were not served within 30 s")
    }

    /// A ServiceAccount bound to a Role with `rules`, and a kubeconfig with a TokenRequest token of it.
    static func serviceAccount(_ name: String, rules: [JSONValue], admin: KubeClient, server: DevServer,
                               directory: TemporaryDirectory) async throws -> String {
        let ns = namespace
        try await post(admin, "/api/v1/namespaces/\(ns)/serviceaccounts",
                       ["apiVersion": "v1", "kind": "ServiceAccount", "metadata": ["name": .string(name)]])
        try await post(admin, "/apis/rbac.authorization.k8s.io/v1/namespaces/\(ns)/roles",
                       ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": ["name": .string(name)],
                        "rules": .array(rules)])
        try await post(admin, "/apis/rbac.authorization.k8s.io/v1/namespaces/\(ns)/rolebindings", [
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": ["name": .string(name)],
            "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": .string(name)],
            "subjects": [["kind": "ServiceAccount", "name": .string(name), "namespace": .string(ns)]],
        ])
        let request: JSONValue = ["apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": ["expirationSeconds": 3600]]
        let answer = try JSONValue.decode(try await admin.send(
            method: "POST", path: "/api/v1/namespaces/\(ns)/serviceaccounts/\(name)/token",
            body: Data(request.serialized()), contentType: "application/json"))
        guard let token = answer[path: ["status", "token"]]?.stringValue, !token.isEmpty else {
            throw TestSetupError("TokenRequest answered no token: \(answer)")
        }
        let path = directory.file("\(name).kubeconfig")
        try """
        apiVersion: v1
        kind: Config
        clusters: [{name: dev, cluster: {server: "\(server.baseURL)"}}]
        users: [{name: \(name), user: {token: "\(token)"}}]
        contexts: [{name: dev, context: {cluster: dev, user: \(name), namespace: \(ns)}}]
        current-context: dev
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The message of the 403 that `body` must end in.
    static func forbidden(_ body: () async throws -> Void) async -> String {
        do {
            try await body()
            return "(allowed: expected a 403)"
        } catch let error as KubeError {
            return error.code == 403 ? error.status.message ?? "(403 without a message)" : "(\(error.code): \(error))"
        } catch {
            return "(\(error))"
        }
    }
}
