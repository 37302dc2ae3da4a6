// The HAProxy 2.6 configuration of the local data plane: one frontend per VirtualService (its
// host's local address), one backend per HTTP route. Pure: MeshProxy.swift writes it and reloads.

public enum HAProxyConfig {
    /// The backend answering requests no route matches (Istio answers 404 too).
    static let noRouteBackend = "mesh-no-route"

    /// The frontend name of a VirtualService.
    public static func frontend(namespace: String, name: String) -> String { "vs:\(namespace):\(name)" }

    /// A literal as an HAProxy log-format string (`%` starts a variable there).
    static func logFormat(_ text: String) -> String { text.replacingOccurrences(of: "%", with: "%%") }

    /// The whole configuration. `listen` is the address of each plan (`namespace/name` → host:port);
    /// `socket` the runtime API socket (weights change through it; `expose-fd listeners` hands the
    /// listening sockets to the new process on a reload, so no connection is refused meanwhile).
    public static func render(plans: [MeshPlan], listen: [String: String], socket: String) -> String {
        var lines = [
            "# Written by the Sextant local node (development data plane); regenerated on every change.",
            "global",
            "    stats socket \(socket) mode 600 level admin expose-fd listeners",
            "    stats timeout 1m",
            "    maxconn 4096",
            "defaults",
            "    mode http",
            "    timeout connect 2s",
            "    timeout client 60s",
            "    timeout server 60s",
            "    timeout http-request 10s",
            "    timeout http-keep-alive 10s",
            // A Pod that just went away (deleted, restarted) must not fail a request: try another.
            "    retries 3",
            "    option redispatch 1",
            "    retry-on conn-failure empty-response",
            "backend \(noRouteBackend)",
            "    http-request return status 404 content-type text/plain string \"no route of the VirtualService matches\"",
        ]
        for plan in plans.sorted(by: { ($0.namespace, $0.name) < ($1.namespace, $1.name) }) {
            guard let address = listen["\(plan.namespace)/\(plan.name)"] else { continue }
            lines.append("frontend \(frontend(namespace: plan.namespace, name: plan.name))")
            lines.append("    bind \(address)")
            for route in plan.routes {
                if route.matchBlocks.isEmpty || route.matchBlocks.contains(where: \.isEmpty) {
                    lines.append("    use_backend \(route.backend)")
                } else {
                    let condition = route.matchBlocks.map { $0.joined(separator: " ") }.joined(separator: " || ")
                    lines.append("    use_backend \(route.backend) if \(condition)")
                }
            }
            lines.append("    default_backend \(noRouteBackend)")
            for route in plan.routes {
                lines.append("backend \(route.backend)")
                lines.append("    balance roundrobin")
                for header in route.responseHeaders {
                    // Servers are named `d<destination>-<pod>`: the rule applies to that destination's answers.
                    let condition = "if { srv_name -m beg d\(header.destination)- }"
                    switch header.action {
                    case .add, .set:
                        let verb = header.action == .add ? "add-header" : "set-header"
                        lines.append("    http-response \(verb) \(header.name) \(MeshTranslator.quoted(logFormat(header.value))) \(condition)")
                    case .remove:
                        lines.append("    http-response del-header \(header.name) \(condition)")
                    }
                }
                for server in route.servers {
                    lines.append("    server \(server.name) \(server.address) weight \(server.weight)")
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
