import Foundation
import SextantDevServer
import Testing

/// Mixed faults (Sources/SextantDevServer/FaultMix.swift) over real HTTP with curl: several codes
/// at once, jittered delays, and faults aimed at one client by its User-Agent.
@Suite struct FaultMixTests {
    func curl(_ tool: String, _ args: [String]) async throws -> ProcessResult {
        try await run(tool, ["-sS", "--max-time", "20"] + args)
    }

    @Test func mixedCodesAimedAtOneUserAgent() async throws {
        guard let tool = requireTool("curl") else { return }
        let env = try await RunningServer.start()
        let base = env.server.baseURL
        let set = try await curl(tool, ["-X", "PUT", "-d", #"{"failRate":1,"failCodes":[500,503,429],"userAgentPrefix":"victim/"}"#,
                                        base + "/sextant-dev/faults"])
        #expect(set.status == 0 && set.stdout.contains(#""userAgentPrefix":"victim/""#), "\(set.stdout)")
        var codes: Set<String> = []
        for _ in 0..<40 {
            let answer = try await curl(tool, ["-o", "/dev/null", "-w", "%{http_code}", "-A", "victim/1.0", base + "/api/v1/namespaces"])
            codes.insert(answer.stdout)
        }
        #expect(codes == ["500", "503", "429"], "every listed code is drawn, nothing else: \(codes)")
        let bystander = try await curl(tool, ["-o", "/dev/null", "-w", "%{http_code}", "-A", "harness/1.0", base + "/api/v1/namespaces"])
        #expect(bystander.stdout == "200", "another User-Agent is not faulted")

        _ = try await curl(tool, ["-X", "PUT", "-d", #"{"failRate":0,"delayMilliseconds":100,"delayJitterMilliseconds":200}"#,
                                  base + "/sextant-dev/faults"])
        let clock = ContinuousClock()
        var slowest: Duration = .zero
        for _ in 0..<6 {
            let start = clock.now
            let slow = try await curl(tool, ["-o", "/dev/null", "-w", "%{http_code}", base + "/api/v1/namespaces"])
            #expect(slow.stdout == "200")
            let took = clock.now - start
            #expect(took >= .milliseconds(100), "at least the fixed delay: \(took)")
            slowest = max(slowest, took)
        }
        #expect(slowest < .seconds(10))

        for bad in [#"{"failCodes":[404]}"#, #"{"failCodes":"500"}"#, #"{"delayJitterMilliseconds":-1}"#, #"{"userAgentPrefix":3}"#] {
            let answer = try await curl(tool, ["-X", "PUT", "-d", bad, base + "/sextant-dev/faults"])
            let field = bad.split(separator: "\"")[1]
            #expect(answer.stdout.contains("\(field):") && answer.stdout.contains("\"code\":400"), "\(bad) → \(answer.stdout)")
        }
        await env.stop()
    }
}
