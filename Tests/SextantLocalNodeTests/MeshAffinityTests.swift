import Foundation
import Logging
import SextantJSON
import SextantTestSupport
import SextantTransport
import Testing
@testable import SextantLocalNode

/// Session affinity through the real HAProxy of the local data plane: the canary destination's
/// `Set-Cookie` reaches only the canary's answers, and the cookie route sends requests carrying it
/// to the canary whatever the weights (docs/routing.md#session-affinity).
@Suite struct MeshAffinityTests {
    @Test func canaryAnswersSetTheCookieAndTheCookieRouteKeepsTheUserOnTheCanary() async throws {
        guard try Tooling.available("haproxy (Debian package haproxy)", LocalNodeOptions.installedHAProxy != nil),
              let haproxy = LocalNodeOptions.installedHAProxy else { return }
        let work = try TemporaryDirectory()
        // Two Python servers: /who answers "stable" or "canary".
        var servers: [TestProcess] = []
        defer { servers.forEach { $0.stop() } }
        var ports: [String: Int] = [:]
        for name in ["stable", "canary"] {
            let dir = work.file(name)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try Data(name.utf8).write(to: URL(fileURLWithPath: dir + "/who"))
            let port = MeshDataPlane.freePort()
            ports[name] = port
            let server = try TestProcess("python3", ["-u", "-m", "http.server", "--bind", "127.0.0.1", String(port)], directory: dir)
            servers.append(server)
            _ = try await server.waitForLine(prefix: "Serving HTTP")
        }
        let setCookie = "fraud-canary=sextant_fraud_v2; Max-Age=600"
        let cookieRoute: JSONValue = [
            "name": "sextant-ab-fraud",
            "match": [["headers": ["cookie": ["regex": "^(.*?;\\s*)?(fraud-canary=sextant_fraud_v2)(;.*)?$"]]]],
            "route": [["destination": ["host": "fraud", "subset": "canary"], "weight": 100]],
        ]
        let vs = try MeshTranslationTests.virtualService(canary: 50, extraRoutes: [cookieRoute]).applyingJSONPatch([
            ["op": "add", "path": "/spec/http/1/route/1/headers", "value": ["response": ["add": ["Set-Cookie": .string(setCookie)]]]],
        ])
        let pods = [MeshTranslationTests.pod("stable-a", labels: ["app": "fraud", "v": "1"], port: ports["stable"] ?? 0),
                    MeshTranslationTests.pod("canary-a", labels: ["app": "fraud", "v": "2"], port: ports["canary"] ?? 0)]
        let plan = try MeshTranslationTests.plan(vs, pods: pods)
        let proxy = MeshProxy(executable: haproxy, directory: work.path, logger: Logger(label: "mesh-affinity-test"))
        let address = "127.0.0.1:\(MeshDataPlane.freePort())"
        do {
            try await proxy.apply([plan], listen: ["ml/fraud": address])
            try await Self.check(address: address, setCookie: setCookie)
        } catch {
            await proxy.stop()
            throw error
        }
        await proxy.stop()
    }

    static func check(address: String, setCookie: String) async throws {
        func get(cookie: String?) async throws -> (who: String, setCookie: String?) {
            let request = HTTPRequest(url: "http://\(address)/who", headers: cookie.map { [HTTPHeader("Cookie", $0)] } ?? [],
                                      timeouts: HTTPTimeouts(total: .seconds(10)))
            let response = try await HTTPClient.shared.send(request)
            return (String(decoding: response.body, as: UTF8.self), response.headers["Set-Cookie"])
        }
        // 50/50 without the cookie: both answer, only the canary sets it.
        var seen: [String: Int] = [:]
        for _ in 0..<10 {
            let answer = try await get(cookie: nil)
            seen[answer.who, default: 0] += 1
            #expect(answer.setCookie == (answer.who == "canary" ? setCookie : nil), "\(answer)")
        }
        #expect(seen["stable"] == 5 && seen["canary"] == 5, "\(seen)")
        // With the cookie (among others): always the canary.
        for _ in 0..<10 {
            #expect(try await get(cookie: "theme=dark; fraud-canary=sextant_fraud_v2").who == "canary")
        }
        // Another candidate's cookie matches nothing: the weights decide again.
        var other: Set<String> = []
        for _ in 0..<4 { other.insert(try await get(cookie: "fraud-canary=sextant_fraud_v1").who) }
        #expect(other == ["stable", "canary"])
    }
}
