import Foundation
import SextantTestSupport
import SextantTransport
import Testing

@Suite("libcurl transport", .serialized)
struct TransportTests {
    let client = HTTPClient.shared

    @Test func buffersBodyAndSendsMethodHeadersAndBody() async throws {
        let server = try await FakeAPIServer()
        let body = Data(#"{"a":1}"#.utf8)
        let response = try await client.send(HTTPRequest(
            method: "PATCH", url: server.url + "/echo?x=1",
            headers: [HTTPHeader("Content-Type", "application/merge-patch+json")], body: body))
        #expect(response.status == 200)
        #expect(response.headers["content-type"] == "application/json")
        let echo = try JSONSerialization.jsonObject(with: response.body) as? [String: Any]
        #expect(echo?["method"] as? String == "PATCH")
        #expect(echo?["contentType"] as? String == "application/merge-patch+json")
        #expect(echo?["body"] as? String == #"{"a":1}"#)
    }

    @Test func streamsLinesThatSpanChunks() async throws {
        let server = try await FakeAPIServer()
        let response = try await client.stream(HTTPRequest(
            url: server.url + "/api/v1/namespaces/default/configmaps?watch=1"))
        #expect(response.status == 200)
        var types: [String] = []
        for try await line in response.body.lines {
            let event = try JSONSerialization.jsonObject(with: line) as? [String: Any]
            types.append(event?["type"] as? String ?? "?")
        }
        #expect(types == ["ADDED", "MODIFIED", "BOOKMARK", "DELETED"])
    }

    @Test func refusedConnectionIsRetryableCouldNotConnect() async throws {
        await #expect(throws: TransportError.self) {
            try await client.send(HTTPRequest(url: "http://127.0.0.1:1/"))
        }
        do {
            _ = try await client.send(HTTPRequest(url: "http://127.0.0.1:1/"))
        } catch let error as TransportError {
            #expect(error.kind == .couldNotConnect)
            #expect(error.isRetryable)
        }
    }

    @Test func totalTimeoutStopsAStalledServer() async throws {
        let server = try await FakeAPIServer()
        let start = ContinuousClock.now
        do {
            _ = try await client.send(HTTPRequest(
                url: server.url + "/stall?seconds=10", timeouts: HTTPTimeouts(total: .milliseconds(700))))
            Issue.record("expected a timeout")
        } catch let error as TransportError {
            #expect(error.kind == .timedOut)
        }
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test func idleLimitStopsASilentStream() async throws {
        let server = try await FakeAPIServer()
        let start = ContinuousClock.now
        let response = try await client.stream(HTTPRequest(
            url: server.url + "/api/v1/namespaces/default/configmaps?watch=1&hold=1",
            timeouts: HTTPTimeouts(idle: .seconds(2))))
        var lines = 0
        do {
            for try await _ in response.body.lines { lines += 1 }
            Issue.record("expected the idle limit to end the stream")
        } catch let error as TransportError {
            #expect(error.kind == .timedOut)
        }
        #expect(lines == 4)
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    @Test func cancellingTheReaderStopsTheTransfer() async throws {
        let server = try await FakeAPIServer()
        let client = self.client
        let url = server.url + "/api/v1/namespaces/default/configmaps?watch=1&hold=1"
        let task = Task {
            var count = 0
            let response = try await client.stream(HTTPRequest(url: url, timeouts: HTTPTimeouts(idle: nil)))
            for try await _ in response.body.lines { count += 1 }
            return count
        }
        try await Task.sleep(for: .milliseconds(500))
        let start = ContinuousClock.now
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(ContinuousClock.now - start < .seconds(2))
    }

    @Test func mutualTLSWithFilesAndInMemoryData() async throws {
        guard try Tooling.available("openssl", Tooling.find("openssl") != nil) else { return }
        let dir = try TemporaryDirectory()
        let certs = try TestCertificates(directory: dir.path)
        let server = try await FakeAPIServer(certificates: certs, requireClientCertificate: true)
        let url = server.url + "/api/v1/namespaces/default/configmaps/x"

        var files = TLSOptions()
        files.caFile = certs.caCert
        files.clientCertificateFile = certs.clientCert
        files.clientKeyFile = certs.clientKey
        #expect(try await client.send(HTTPRequest(url: url, tls: files)).status == 200)

        var memory = TLSOptions()
        memory.caData = try Data(contentsOf: URL(fileURLWithPath: certs.caCert))
        memory.clientCertificateData = try Data(contentsOf: URL(fileURLWithPath: certs.clientCert))
        memory.clientKeyData = try Data(contentsOf: URL(fileURLWithPath: certs.clientKey))
        #expect(try await client.send(HTTPRequest(url: url, tls: memory)).status == 200)

        // Verified against another name the certificate carries, while connecting to 127.0.0.1.
        var renamed = memory
        renamed.serverName = "alt.sextant.test"
        #expect(try await client.send(HTTPRequest(url: url, tls: renamed)).status == 200)

        var wrongName = memory
        wrongName.serverName = "other.sextant.test"
        await #expect(throws: TransportError.self) { try await client.send(HTTPRequest(url: url, tls: wrongName)) }

        var noClientCert = TLSOptions()
        noClientCert.caFile = certs.caCert
        await #expect(throws: TransportError.self) { try await client.send(HTTPRequest(url: url, tls: noClientCert)) }

        // Without the CA the server is not trusted, unless verification is explicitly skipped.
        var untrusted = files
        untrusted.caFile = nil
        do {
            _ = try await client.send(HTTPRequest(url: url, tls: untrusted))
            Issue.record("an unknown CA must be refused")
        } catch let error as TransportError {
            #expect(error.kind == .tls)
        }
        untrusted.insecureSkipVerify = true
        #expect(try await client.send(HTTPRequest(url: url, tls: untrusted)).status == 200)
    }

    @Test func manyConcurrentRequestsShareTheEngine() async throws {
        let server = try await FakeAPIServer()
        let client = self.client
        let url = server.url + "/api/v1/namespaces/default/configmaps/c"
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<50 { group.addTask { try await client.send(HTTPRequest(url: url)).status } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.count == 50)
        #expect(statuses.allSatisfy { $0 == 200 })
    }

    @Test func responseLimitIsEnforced() async throws {
        let server = try await FakeAPIServer()
        do {
            _ = try await client.send(HTTPRequest(url: server.url + "/api/v1/namespaces/default/configmaps",
                                                  maxResponseBytes: 64))
            Issue.record("expected responseTooLarge")
        } catch let error as TransportError {
            #expect(error.kind == .responseTooLarge)
        }
    }
}
