import Foundation
import SextantDevServer
import SextantJSON
import Testing

/// The official Python client's own dynamic-client tests (`kubernetes/dynamic/test_client.py`,
/// `test_discovery.py` and their asyncio twins from the `kubernetes` sdist on PyPI, the version
/// pinned in hack/requirements-test.txt), run by hack/python-client-e2e.sh against this server.
@Suite struct PythonDynamicClientTests {
    @Test(.timeLimit(.minutes(5))) func theClientsOwnDynamicTestsPass() async throws {
        guard let python = requireTool("python3"), let bash = requireTool("bash") else { return }
        guard try await run(python, ["-c", "import kubernetes, aiohttp"]).status == 0 else {
            Issue.record("the Python packages kubernetes and aiohttp are required (pip install -r hack/requirements-test.txt)")
            return
        }
        let env = try await RunningServer.start(DevServerConfiguration(token: "dyn-token"))
        let result = try await run(bash, [packageRoot.appendingPathComponent("hack/python-client-e2e.sh").path, env.kubeconfig])
        await env.stop()
        let line = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        guard let summary = try? JSONValue.parse(string: line) else {
            Issue.record("no summary from hack/python-client-e2e.sh (exit \(result.status)): \(result.stderr.suffix(3000))")
            return
        }
        let failures = summary["failures"]?.arrayValue ?? []
        for failure in failures {
            Issue.record("\(failure["test"]?.stringValue ?? "?"): \(failure["trace"]?.stringValue ?? "")")
        }
        let ran = summary["ran"]?.intValue ?? 0
        print("python dynamic-client tests: ran \(ran), passed \(summary["passed"]?.intValue ?? 0), excluded \(summary["excluded"]?.objectValue?.count ?? 0)")
        // kubernetes 37.0.1 ships 28 such tests (sync and asyncio); 2 are excluded (see the script).
        #expect(ran >= 26, "only \(ran) tests ran: \(summary["tests"] ?? .null)")
        #expect(failures.isEmpty)
    }
}
