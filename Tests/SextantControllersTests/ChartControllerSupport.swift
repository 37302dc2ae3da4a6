import Foundation
import SextantDevServer
import SextantJSON
import SextantKube
import SextantTestSupport

/// `sextant-controller` run the way `charts/sextant` runs it, against a development API server
/// with `--authorization-mode RBAC` over TLS: the chart rendered by Helm's own engine
/// (`hack/render-chart-controller.py`, helm-python-sdk as in `hack/check-chart.py`), its
/// ServiceAccount, Roles, ClusterRoles and bindings applied, a TokenRequest token of that
/// ServiceAccount in the controller's kubeconfig, and the Deployment's own args (only the metrics
/// and probe ports turned off). The server records every authorization decision, so a test can
/// name each request the chart's rules refused and each rule the controller never used.
struct ChartController {
    /// What the script rendered.
    struct Rendered {
        var namespace: String
        var serviceAccount: String
        var objects: [JSONValue]
        /// (kind, name, namespace, rules) of the roles bound to the ServiceAccount.
        var roles: [(kind: String, name: String, namespace: String, rules: [JSONValue])]
        var args: [String]

        var user: String { "system:serviceaccount:\(namespace):\(serviceAccount)" }
    }

    static func available() throws -> Bool {
        try Tooling.available("python3 with helm_python and yaml (hack/requirements-test.txt)",
                              Tooling.pythonHas(["helm_python", "yaml"]))
            && Tooling.available("sextant-controller next to the test bundle (swift build --build-tests)",
                                 CanaryEnvironment.controllerBinary != nil)
    }

    /// Renders the chart with `values` (JSON) into release namespace `namespace`.
    static func render(values: JSONValue, namespace: String = "sextant-system") async throws -> Rendered {
        let script = Repo.root + "/hack/render-chart-controller.py"
        let valuesText = String(decoding: values.serialized(), as: UTF8.self)
        let (code, output) = try await runCommandAsync("python3", [script, valuesText, namespace])
        guard code == 0, let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else {
            throw TestSetupError("hack/render-chart-controller.py failed (\(code)): \(output)")
        }
        let json = try JSONValue.parse(string: String(line))
        let roles = (json["rules"]?.arrayValue ?? []).map {
            (kind: $0["kind"]?.stringValue ?? "", name: $0["name"]?.stringValue ?? "", namespace: $0["namespace"]?.stringValue ?? "",
             rules: $0["rules"]?.arrayValue ?? [])
        }
        return Rendered(namespace: json["namespace"]?.stringValue ?? namespace,
                        serviceAccount: json["serviceAccount"]?.stringValue ?? "",
                        objects: json["rbac"]?.arrayValue ?? [], roles: roles,
                        args: json["args"]?.arrayValue?.compactMap(\.stringValue) ?? [])
    }

    /// Creates the release namespace (when missing) and the rendered RBAC objects with the admin client.
    static func apply(_ rendered: Rendered, admin: KubeClient) async throws {
        let namespace: JSONValue = ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(rendered.namespace)]]
        do {
            _ = try await admin.send(method: "POST", path: "/api/v1/namespaces", body: Data(namespace.serialized()),
                                     contentType: "application/json")
        } catch let error as KubeError where error.code == 409 {}
        for object in rendered.objects {
            let kind = object["kind"]?.stringValue ?? ""
            let ns = object[path: ["metadata", "namespace"]]?.stringValue ?? rendered.namespace
            let path: String
            switch kind {
            case "ServiceAccount": path = "/api/v1/namespaces/\(ns)/serviceaccounts"
            case "Role": path = "/apis/rbac.authorization.k8s.io/v1/namespaces/\(ns)/roles"
            case "RoleBinding": path = "/apis/rbac.authorization.k8s.io/v1/namespaces/\(ns)/rolebindings"
            case "ClusterRole": path = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
            case "ClusterRoleBinding": path = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
            default: throw TestSetupError("unexpected kind \(kind) among the chart's RBAC objects")
            }
            _ = try await admin.send(method: "POST", path: path, body: Data(object.serialized()), contentType: "application/json")
        }
    }

    /// A token of the chart's ServiceAccount from the TokenRequest subresource (`kubectl create token`).
    static func token(_ rendered: Rendered, admin: KubeClient) async throws -> String {
        let request: JSONValue = ["apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                  "spec": ["expirationSeconds": 7200]]
        let answer = try JSONValue.decode(try await admin.send(
            method: "POST", path: "/api/v1/namespaces/\(rendered.namespace)/serviceaccounts/\(rendered.serviceAccount)/token",
            body: Data(request.serialized()), contentType: "application/json"))
        guard let token = answer[path: ["status", "token"]]?.stringValue, !token.isEmpty else {
            throw TestSetupError("TokenRequest answered no token: \(answer)")
        }
        return token
    }

    /// The controller's kubeconfig: the server's CA, the ServiceAccount's token, the release
    /// namespace (where an in-cluster client's namespace would be, and the Lease lives).
    static func kubeconfig(server: DevServer, token: String, namespace: String) throws -> String {
        guard let ca = try server.certificates?.caData() else { throw TestSetupError("the server does not serve HTTPS") }
        return """
        apiVersion: v1
        kind: Config
        clusters:
        - name: sextant-dev
          cluster:
            server: \(server.baseURL)
            certificate-authority-data: \(ca)
        users:
        - name: sextant-controller
          user:
            token: "\(token)"
        contexts:
        - name: chart
          context:
            cluster: sextant-dev
            user: sextant-controller
            namespace: \(namespace)
        current-context: chart

        """
    }

    /// The rendered Deployment's args with the metrics and probe listeners off (tests run in
    /// parallel on one machine; the Pod's ports would collide).
    static func processArguments(_ rendered: Rendered, kubeconfig: String) -> [String] {
        let off = ["--metrics-bind-address", "--health-probe-bind-address"]
        return ["--kubeconfig", kubeconfig] + rendered.args.map { arg in
            off.contains { arg.hasPrefix($0 + "=") } ? (arg.split(separator: "=")[0] + "=0") : arg
        }.filter { $0 != "--json-logs" }
    }

    /// What the authorizer decided for the chart's ServiceAccount.
    static func decisions(_ server: DevServer, _ rendered: Rendered) -> [AuthorizationDecision] {
        server.handler.authorizationDecisions().map(\.decision).filter { $0.user == rendered.user }
    }

    /// Each refused request, as kube-apiserver's 403 names it.
    static func denials(_ server: DevServer, _ rendered: Rendered) -> [String] {
        decisions(server, rendered).filter { !$0.allowed }.map(describe)
    }

    static func describe(_ d: AuthorizationDecision) -> String {
        d.nonResourcePath.isEmpty
            ? "\(d.verb) \(d.ruleResource) in API group \"\(d.apiGroup)\"" + (d.namespace.isEmpty ? " at the cluster scope" : " in \(d.namespace)")
            : "\(d.verb) \(d.nonResourcePath)"
    }

    /// Each (role, apiGroup, resource, verb) the chart grants that no allowed request used.
    static func unusedRules(_ server: DevServer, _ rendered: Rendered) -> [String] {
        let allowed = decisions(server, rendered).filter(\.allowed)
        var unused: [String] = []
        for role in rendered.roles {
            for rule in role.rules {
                func list(_ key: String) -> [String] { rule[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
                for group in list("apiGroups") {
                    for resource in list("resources") {
                        for verb in list("verbs") where !allowed.contains(where: {
                            $0.apiGroup == group && $0.ruleResource == resource && $0.verb == verb
                                && (role.kind == "ClusterRole" || $0.namespace == role.namespace)
                        }) {
                            unused.append("\(role.kind) \(role.name): \(verb) \(group.isEmpty ? "" : group + "/")\(resource)")
                        }
                    }
                }
            }
        }
        return unused
    }

    /// Every allowed (verb, group, resource/subresource), one line each.
    static func used(_ server: DevServer, _ rendered: Rendered) -> [String] {
        Array(Set(decisions(server, rendered).filter(\.allowed).map { d in
            d.nonResourcePath.isEmpty ? "\(d.verb) \(d.apiGroup.isEmpty ? "" : d.apiGroup + "/")\(d.ruleResource)" : "\(d.verb) \(d.nonResourcePath)"
        })).sorted()
    }
}
