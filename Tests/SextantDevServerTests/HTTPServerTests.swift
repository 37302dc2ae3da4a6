import Foundation
import SextantDevServer
import SextantJSON
import Testing

/// The server over real HTTP on loopback, driven by curl.
@Suite struct HTTPServerTests {
    func curl(_ tool: String, _ args: [String]) async throws -> ProcessResult {
        try await run(tool, ["-sS", "--max-time", "20"] + args)
    }

    @Test func tokenIsRequiredWhenConfigured() async throws {
        guard let tool = requireTool("curl") else { return }
        let env = try await RunningServer.start(DevServerConfiguration(token: "t0ken"))
        let base = env.server.baseURL
        let denied = try await curl(tool, ["-o", "/dev/null", "-w", "%{http_code}", base + "/api/v1/namespaces"])
        let allowed = try await curl(tool, ["-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer t0ken", base + "/api/v1/namespaces"])
        let wrong = try await curl(tool, ["-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer nope", base + "/api/v1/namespaces"])
        await env.stop()
        #expect(denied.stdout == "401")
        #expect(allowed.stdout == "200")
        #expect(wrong.stdout == "401")
        #expect(env.kubeconfig.isEmpty == false)
    }

    @Test func watchStreamsChunksAndEndsAtTimeoutSeconds() async throws {
        guard let tool = requireTool("curl") else { return }
        let env = try await RunningServer.start()
        let base = env.server.baseURL
        let clock = ContinuousClock()
        let start = clock.now
        let watcher = try BackgroundProcess(tool, ["-sS", "-N", "--max-time", "20", base + "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=2"])
        try await Task.sleep(for: .milliseconds(300))
        _ = await call(env.server.handler, "POST", cmPath, configMap("streamed"))
        #expect(await watcher.waitFor { $0.contains("\"streamed\"") }, "a chunk arrives before the watch ends: \(watcher.text)")
        while watcher.process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        let elapsed = clock.now - start
        await env.stop()
        #expect(watcher.process.terminationStatus == 0)
        #expect(elapsed >= .seconds(2) && elapsed < .seconds(10), "ended after \(elapsed)")
        #expect(await env.server.store.watcherCount == 0)
    }

    @Test func injectedFaults() async throws {
        guard let tool = requireTool("curl") else { return }
        let env = try await RunningServer.start()
        let base = env.server.baseURL
        let set = try await curl(tool, ["-X", "PUT", "-H", "Content-Type: application/json", "-d", #"{"failRate":1,"failCode":429}"#,
                                  base + "/sextant-dev/faults"])
        #expect(set.status == 0)
        let throttled = try await curl(tool, ["-i", base + "/api/v1/namespaces/default/configmaps"])
        #expect(throttled.stdout.hasPrefix("HTTP/1.1 429"))
        #expect(throttled.stdout.lowercased().contains("retry-after: 1"))
        _ = try await curl(tool, ["-X", "PUT", "-d", #"{"failRate":0,"delayMilliseconds":300}"#, base + "/sextant-dev/faults"])
        let clock = ContinuousClock()
        let start = clock.now
        let slow = try await curl(tool, ["-o", "/dev/null", "-w", "%{http_code}", base + "/api/v1/namespaces"])
        #expect(slow.stdout == "200")
        #expect(clock.now - start >= .milliseconds(300))
        let bad = try await curl(tool, ["-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "-d", #"{"failRate":2}"#, base + "/sextant-dev/faults"])
        #expect(bad.stdout == "400")
        await env.stop()
    }

    @Test func restartKeepsObjectsAndResourceVersions() async throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("sextant-dev-data-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        let first = try await RunningServer.start(DevServerConfiguration(dataDirectory: data))
        _ = await call(first.server.handler, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", widgetCRD)
        let created = try #require(await call(first.server.handler, "POST", widgets, widget("kept", spec: ["size": 2])).json)
        let revision = await first.server.store.currentRevision()
        await first.stop()

        let second = try await RunningServer.start(DevServerConfiguration(dataDirectory: data))
        let restored = await call(second.server.handler, "GET", widgets + "/kept")
        #expect(restored.status == 200, "the CRD's resource is served again after the restart")
        #expect(restored.json?[path: ["metadata", "uid"]] == created[path: ["metadata", "uid"]])
        #expect(restored.json?[path: ["metadata", "resourceVersion"]] == created[path: ["metadata", "resourceVersion"]])
        let next = try #require(await call(second.server.handler, "POST", cmPath, configMap("after")).json)
        let nextRV = Int64(next[path: ["metadata", "resourceVersion"]]?.stringValue ?? "") ?? 0
        #expect(nextRV > revision, "resourceVersions keep increasing across restarts")
        await second.stop()
    }
}
