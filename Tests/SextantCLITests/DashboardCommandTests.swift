import Foundation
import SextantTestSupport
import Testing

/// `sextant dashboard` against an API server that refuses the user (RBAC): the page shows the
/// API's 403 message with its status code, for one object and for a list; bad flags are errors.
@Suite("sextant dashboard errors", .serialized)
struct DashboardCommandTests {
    @Test func forbiddenReadsShowTheAPIMessage() async throws {
        guard try Tooling.available("curl", Tooling.find("curl") != nil) else { return }
        let api = try await FakeAPIServer()
        let directory = try TemporaryDirectory()
        let kubeconfig = directory.file("kubeconfig")
        try """
        apiVersion: v1
        kind: Config
        clusters: [{name: fake, cluster: {server: "\(api.url)"}}]
        users: [{name: ana, user: {token: t}}]
        contexts: [{name: fake, context: {cluster: fake, user: ana, namespace: forbidden}}]
        current-context: fake
        """.write(toFile: kubeconfig, atomically: true, encoding: .utf8)
        let dashboard = try TestProcess(GetCommandTests.binary, ["dashboard", "--port", "0", "--kubeconfig", kubeconfig])
        defer { dashboard.stop() }
        let base = try await dashboard.waitForLine(prefix: "Sextant dashboard: ", timeout: .seconds(30))
        for page in ["rollouts/forbidden/fraud", "rollouts?namespace=forbidden", "models/forbidden/fraud-v1",
                     "training?namespace=forbidden", "training/forbidden/churn", "training/forbidden/churn/runs/churn-1",
                     "drift?namespace=forbidden", "drift/forbidden/fraud"] {
            let result = try await runCommandAsync("/usr/bin/env", ["curl", "-s", "-w", "\n%{http_code}", base + page])
            #expect(result.output.hasSuffix("\n403"), "\(page): \(result.output)")
            #expect(result.output.contains("Error from server (Forbidden):"), "\(page): \(result.output)")
            #expect(result.output.contains("User &quot;ana&quot; cannot get resource"), "\(page): \(result.output)")
        }
        let badPort = try await runCommandAsync(GetCommandTests.binary, ["dashboard", "--port", "70000", "--kubeconfig", kubeconfig])
        #expect(badPort.code == 64 && badPort.output.contains("--port must be from 0 to 65535"), "\(badPort.output)")
        let badPrometheus = try await runCommandAsync(GetCommandTests.binary, ["dashboard", "--prometheus-url", "prometheus:9090",
                                                                               "--kubeconfig", kubeconfig])
        #expect(badPrometheus.code == 1 && badPrometheus.output.contains("--prometheus-url"), "\(badPrometheus.output)")
    }
}
