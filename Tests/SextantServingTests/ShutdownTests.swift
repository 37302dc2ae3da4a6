import Foundation
import SextantTestSupport
import Testing

/// The built `sextant-server` binary: SIGTERM lets a request that is still uploading finish.
@Suite struct ShutdownTests {
    /// Beside the test bundle in the build directory (`swift build --build-tests` builds it).
    static var binary: String? {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("sextant-server").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    @Test func sigtermDrainsInFlightRequests() async throws {
        guard try Tooling.available("sextant-server binary (swift build --build-tests)", Self.binary != nil),
              try Tooling.available("curl", Tooling.find("curl") != nil), let binary = Self.binary else { return }
        let dir = try TemporaryDirectory()
        try Data(tinyXGBoostJSON.utf8).write(to: URL(fileURLWithPath: dir.file("model.json")))
        // ~600 KB body uploaded at 400 KB/s: still in flight when SIGTERM arrives.
        let rows = Array(repeating: "[0.1,0.2]", count: 60_000).joined(separator: ",")
        try Data(#"{"instances":[\#(rows)]}"#.utf8).write(to: URL(fileURLWithPath: dir.file("body.json")))
        let server = try TestProcess(binary, ["--model-uri", dir.file("model.json"), "--model-name", "tiny",
                                              "--listen", "127.0.0.1:0", "--max-body-bytes", "10000000"])
        defer { server.stop() }
        let address = try await server.waitForLine(prefix: "listening on ")
        let client = try TestProcess("curl", [
            "-s", "--noproxy", "*", "-o", dir.file("out.json"), "-w", "status=%{http_code}\n", "--limit-rate", "400K",
            "-XPOST", "-H", "Content-Type: application/json", "--data-binary", "@" + dir.file("body.json"),
            "http://\(address)/v1/models/tiny:predict",
        ])
        defer { client.stop() }
        try await Task.sleep(for: .milliseconds(500))
        #expect(client.process.isRunning, "upload finished before the signal; the test would prove nothing")
        kill(server.process.processIdentifier, SIGTERM)
        let status = try await client.waitForLine(prefix: "status=", timeout: .seconds(20))
        #expect(status == "200")
        let out = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("out.json")))) as? [String: Any]
        #expect((out?["predictions"] as? [Double])?.count == 60_000)
        let deadline = ContinuousClock.now + .seconds(10)
        while server.process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!server.process.isRunning)
        #expect(server.process.terminationStatus == 0, "\(server.text)")
    }
}
