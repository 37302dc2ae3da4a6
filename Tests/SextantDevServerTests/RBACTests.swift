import Foundation
@testable import SextantDevServer
import SextantJSON
import Testing

/// RBAC semantics of the authorizer, with kube-apiserver's 403 wording.
struct RBACPolicyTests {
    static let account = UserInfo.serviceAccount(namespace: "sys", name: "ctl", uid: "u1")

    func attributes(_ method: String, _ path: String, _ query: [String: String] = [:]) -> RequestAttributes {
        RequestAttributes(method: method, path: path, query: query)
    }

    @Test func requestAttributesFollowTheURL() {
        let named = attributes("GET", "/apis/apps/v1/namespaces/ns/deployments/web/scale")
        #expect(named.verb == "get" && named.apiGroup == "apps" && named.namespace == "ns" && named.resource == "deployments"
                && named.name == "web" && named.subresource == "scale")
        #expect(attributes("GET", "/api/v1/pods", ["watch": "true"]).verb == "watch")
        #expect(attributes("DELETE", "/api/v1/namespaces/ns/configmaps").verb == "deletecollection")
        let namespace = attributes("PUT", "/api/v1/namespaces/ns/status")
        #expect(namespace.resource == "namespaces" && namespace.name == "ns" && namespace.subresource == "status" && namespace.namespace == "ns")
        #expect(!attributes("GET", "/apis/apps/v1").isResourceRequest)
        #expect(!attributes("GET", "/version").isResourceRequest)
    }

    @Test func rulesBindingsAndMessages() {
        let policy = RBACPolicy(
            roles: [["metadata": ["name": "reader", "namespace": "ml"], "rules": [
                ["apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["only"]],
                ["apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["patch"]]]]],
            clusterRoles: [["metadata": ["name": "jobs"], "rules": [["apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["list", "watch"]],
                                                                   ["nonResourceURLs": ["/metrics"], "verbs": ["get"]]]]],
            roleBindings: [["metadata": ["name": "rb", "namespace": "ml"], "roleRef": ["kind": "Role", "name": "reader"],
                            "subjects": [["kind": "ServiceAccount", "name": "ctl", "namespace": "sys"]]],
                           ["metadata": ["name": "rb2", "namespace": "ml"], "roleRef": ["kind": "ClusterRole", "name": "jobs"],
                            "subjects": [["kind": "Group", "name": "system:serviceaccounts:sys"]]]],
            clusterRoleBindings: [["metadata": ["name": "crb"], "roleRef": ["kind": "ClusterRole", "name": "jobs"],
                                   "subjects": [["kind": "User", "name": "alice"]]]])
        let sa = Self.account
        #expect(policy.allows(sa, attributes("GET", "/api/v1/namespaces/ml/configmaps/only")).allowed)
        #expect(!policy.allows(sa, attributes("GET", "/api/v1/namespaces/ml/configmaps/other")).allowed)
        #expect(!policy.allows(sa, attributes("GET", "/api/v1/namespaces/ml/configmaps")).allowed, "resourceNames never allow a list")
        #expect(policy.allows(sa, attributes("PATCH", "/apis/apps/v1/namespaces/ml/deployments/web/scale")).allowed)
        #expect(!policy.allows(sa, attributes("PATCH", "/apis/apps/v1/namespaces/ml/deployments/web")).allowed, "a subresource rule is not the resource")
        #expect(policy.allows(sa, attributes("GET", "/apis/batch/v1/namespaces/ml/jobs")).allowed, "the group binding")
        #expect(!policy.allows(sa, attributes("GET", "/apis/batch/v1/namespaces/other/jobs")).allowed, "a RoleBinding is one namespace")
        #expect(!policy.allows(sa, attributes("GET", "/apis/batch/v1/jobs")).allowed)
        let alice = UserInfo(name: "alice", groups: ["system:authenticated"])
        #expect(policy.allows(alice, attributes("GET", "/apis/batch/v1/jobs")).allowed)
        #expect(policy.allows(alice, attributes("GET", "/metrics")).allowed)
        #expect(policy.allows(alice, attributes("GET", "/apis/apps/v1")).allowed, "discovery for every authenticated user")
        #expect(!policy.allows(UserInfo(name: "bob", groups: []), attributes("GET", "/apis/apps/v1")).allowed)
        #expect(policy.allows(.admin, attributes("DELETE", "/api/v1/nodes/n")).allowed, "system:masters")

        let named = RBACPolicy.forbidden(sa, attributes("GET", "/api/v1/namespaces/ml/configmaps/other"))
        #expect(named.code == 403 && named.reason == "Forbidden")
        #expect(named.message == #"configmaps "other" is forbidden: User "system:serviceaccount:sys:ctl" cannot get resource "configmaps" in API group "" in the namespace "ml""#)
        let cluster = RBACPolicy.forbidden(sa, attributes("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles"))
        #expect(cluster.message == #"clusterroles.rbac.authorization.k8s.io is forbidden: User "system:serviceaccount:sys:ctl" cannot create resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope"#)
        let path = RBACPolicy.forbidden(sa, attributes("GET", "/metrics"))
        #expect(path.message == #"forbidden: User "system:serviceaccount:sys:ctl" cannot get path "/metrics""#)
    }

    @Test func serviceAccountTokensAreSignedExpireAndNameTheirAccount() {
        let tokens = ServiceAccountTokens(key: Array(repeating: 7, count: 32))
        let claims = ServiceAccountTokens.Claims(namespace: "ns", name: "sa", uid: "u", expires: 2000, audiences: ["api"])
        let token = tokens.issue(claims, now: 1000)
        #expect(tokens.verify(token, now: 1500) == claims)
        #expect(tokens.verify(token, now: 2000) == nil, "expired")
        #expect(ServiceAccountTokens(key: Array(repeating: 8, count: 32)).verify(token, now: 1500) == nil, "another server's key")
        var tampered = Array(token)
        let dot = tampered.firstIndex(of: ".") ?? 0
        tampered[dot + 3] = tampered[dot + 3] == "A" ? "B" : "A"
        #expect(tokens.verify(String(tampered), now: 1500) == nil, "a changed payload")
        #expect(tokens.verify("not-a-token", now: 1500) == nil)
    }
}

/// `--authorization-mode RBAC` with real kubectl over TLS: the chart's rendered RBAC (Helm's Go
/// engine through helm-python-sdk) applied, a token for the controller's ServiceAccount from
/// `kubectl create token`, and `kubectl auth can-i` / real requests with that token.
@Suite(.serialized) struct RBACEnforcementTests {
    func kubectl(_ tool: String, _ env: RunningServer, _ args: [String]) async throws -> ProcessResult {
        try await run(tool, ["--kubeconfig", env.kubeconfig, "--cache-dir", env.directory.appendingPathComponent("cache").path] + args)
    }

    static func renderChartRBAC(_ python: String, into file: URL, values: String) async throws -> ProcessResult {
        let script = """
        import json, sys, yaml
        import helm_python as helm
        with helm.Chart.load(sys.argv[1]) as c:
            files = c.render(json.loads(sys.argv[3]), name="sextant", namespace="sextant-system", is_install=True)
        kinds = {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
        objs = [o for p, t in sorted(files.items()) if p.endswith(".yaml") for o in yaml.safe_load_all(t) if o and o.get("kind") in kinds]
        yaml.safe_dump_all(objs, open(sys.argv[2], "w"))
        print(next(o["metadata"]["name"] for o in objs if o["kind"] == "ServiceAccount"))
        """
        return try await run(python, ["-c", script, packageRoot.appendingPathComponent("charts/sextant").path, file.path, values])
    }

    @Test func chartRBACAllowsTheControllerAndRefusesTheRest() async throws {
        guard let tool = requireTool("kubectl"), let python = requireTool("python3") else { return }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sextant-rbac-\(UUID().uuidString)").path
        let env = try await RunningServer.start(DevServerConfiguration(tlsDirectory: directory, authorization: .rbac))
        defer { Task { await env.stop(); try? FileManager.default.removeItem(atPath: directory) } }
        let rendered = env.directory.appendingPathComponent("rbac.yaml")
        let render = try await Self.renderChartRBAC(python, into: rendered, values: "{}")
        #expect(render.status == 0, "\(render.stderr)")
        for args in [["apply", "-f", packageRoot.appendingPathComponent("crds").path], ["apply", "-f", localCRDs.path],
                     ["create", "namespace", "sextant-system"],
                     ["create", "namespace", "ml"], ["apply", "-f", rendered.path]] {
            let result = try await kubectl(tool, env, args)
            #expect(result.status == 0, "kubectl \(args): \(result.stderr)")
        }
        // MPIJob rules only with mpiJobs.enabled (issue 20): absent by default, present when enabled.
        #expect(!(try String(contentsOf: rendered, encoding: .utf8)).contains("mpijobs"))
        let withMPI = env.directory.appendingPathComponent("rbac-mpi.yaml")
        let renderMPI = try await Self.renderChartRBAC(python, into: withMPI, values: #"{"mpiJobs": {"enabled": true}}"#)
        #expect(renderMPI.status == 0, "\(renderMPI.stderr)")
        let mpiRules = try String(contentsOf: withMPI, encoding: .utf8)
        #expect(mpiRules.contains("kubeflow.org") && mpiRules.contains("mpijobs"), "\(mpiRules)")
        let account = render.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(account == "sextant-controller")
        let user = "system:serviceaccount:sextant-system:\(account)"
        let created = try await kubectl(tool, env, ["-n", "sextant-system", "create", "token", account])
        #expect(created.status == 0, "kubectl create token: \(created.stderr)")
        let token = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(token.split(separator: ".").count == 3, "no token: \(created.stdout)")

        let whoami = try await kubectl(tool, env, ["auth", "whoami", "--token", token, "-o", "jsonpath={.status.userInfo.username}"])
        #expect(whoami.stdout == user, "\(whoami.stderr)")

        // What the controller does (the chart's controller and leader-election rules), and what it must not.
        let allowed: [[String]] = [
            ["list", "trainingjobs.mlops.sextant.dev", "-A"], ["watch", "canaryrollouts.mlops.sextant.dev", "-n", "ml"],
            ["patch", "modelversions.mlops.sextant.dev", "--subresource=status", "-n", "ml"],
            ["create", "jobs.batch", "-n", "ml"], ["delete", "jobs.batch", "-n", "ml"], ["patch", "deployments.apps", "-n", "ml"],
            ["create", "events.events.k8s.io", "-n", "ml"], ["get", "virtualservices.networking.istio.io", "-n", "ml"],
            ["update", "leases.coordination.k8s.io", "-n", "sextant-system"],
            ["get", "secrets", "-n", "ml"],  // a notification target's secretRef, read by name
            // (create tokenreviews/subjectaccessreviews for secure metrics: kubectl auth can-i cannot ask, the
            // development server lists no review kinds in discovery; SecureMetricsTests makes the real calls.)
        ]
        let refused: [[String]] = [
            ["delete", "trainingjobs.mlops.sextant.dev", "-n", "ml"], ["list", "secrets", "-n", "ml"],
            ["create", "clusterroles.rbac.authorization.k8s.io"], ["update", "leases.coordination.k8s.io", "-n", "ml"],
            ["delete", "deployments.apps", "-n", "ml"], ["patch", "services", "--subresource=status", "-n", "ml"],
            ["get", "/metrics"],  // the metrics reader's right, not the controller's
        ]
        for (args, expected) in allowed.map({ ($0, "yes") }) + refused.map({ ($0, "no") }) {
            let answer = try await kubectl(tool, env, ["auth", "can-i", "--token", token] + args)
            #expect(answer.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == expected, "can-i \(args): \(answer.stdout) \(answer.stderr)")
            // The admin, impersonating the account, gets the same answer.
            let impersonated = try await kubectl(tool, env, ["auth", "can-i", "--as", user] + args)
            #expect(impersonated.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == expected, "can-i --as \(args): \(impersonated.stderr)")
        }

        // Real requests with the token: allowed ones succeed, others get kube-apiserver's 403.
        let listed = try await kubectl(tool, env, ["get", "trainingjobs", "-A", "--token", token])
        #expect(listed.status == 0, "\(listed.stderr)")
        let createdConfigMap = try await kubectl(tool, env, ["-n", "ml", "create", "configmap", "x", "--from-literal=a=b", "--token", token])
        #expect(createdConfigMap.status == 0, "configmaps create is in the chart's rules: \(createdConfigMap.stderr)")
        let secret = try await kubectl(tool, env, ["-n", "ml", "get", "secrets", "--token", token])
        #expect(secret.status != 0)
        #expect(secret.stderr.contains(#"secrets is forbidden: User ""# + user + #"" cannot list resource "secrets" in API group "" in the namespace "ml""#),
                "\(secret.stderr)")
        // No token, or a token of a deleted account: 401.
        let bad = try await kubectl(tool, env, ["get", "pods", "--token", token + "x"])
        #expect(bad.stderr.contains("Unauthorized") || bad.stderr.contains("provide credentials"), "\(bad.stderr)")
        #expect(try await kubectl(tool, env, ["-n", "sextant-system", "delete", "serviceaccount", account]).status == 0)
        let revoked = try await kubectl(tool, env, ["get", "trainingjobs", "-A", "--token", token])
        #expect(revoked.status != 0 && (revoked.stderr.contains("Unauthorized") || revoked.stderr.contains("provide credentials")), "\(revoked.stderr)")
    }
}
