import ArgumentParser
import Foundation
import SextantDashboard
import SextantPrometheus

/// `sextant dashboard` (also `kubectl sextant dashboard`): the local web UI, see docs/dashboard.md.
struct DashboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "Serve a local web UI of rollouts, model versions and training jobs (live, with the promote/abort/retry/approve actions).")

    @OptionGroup var cluster: ClusterOptions

    @Option(help: "Address to listen on; the default answers only this machine.")
    var address = "127.0.0.1"

    @Option(help: "Port to listen on (0: any free port).")
    var port = 3100

    @Option(name: .customLong("prometheus-url"), help: "Prometheus base URL for the analysis charts, e.g. http://localhost:9090.")
    var prometheusURL: String?

    @Flag(name: [.customShort("A"), .long], help: "Start on every namespace instead of the context's.")
    var allNamespaces = false

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535, got \(port)") }
    }

    func run() async throws {
        let client = try cluster.client()
        var prometheus: PrometheusClient?
        if let prometheusURL {
            do {
                prometheus = try PrometheusClient(address: prometheusURL, timeout: .seconds(5))
            } catch {
                throw CLIFailure("error: --prometheus-url: \(error)")
            }
        }
        var options = Dashboard.Options()
        options.host = address
        options.port = port
        options.namespace = allNamespaces ? nil : cluster.namespace(for: client)
        let dashboard = Dashboard(client: client, prometheus: prometheus, options: options,
                                  requestedBy: StatusRequestVerb.requester(kubeconfigUser: client.config.userName))
        let host = address.contains(":") ? "[\(address)]" : address
        try await dashboard.run { port in
            emit("Sextant dashboard: http://\(host):\(port)/")
        }
    }
}
