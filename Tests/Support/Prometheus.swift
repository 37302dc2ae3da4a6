import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Debian's `/usr/bin/prometheus`, started on 127.0.0.1 with its own config and storage in a
/// temporary directory. See docs/prometheus.md.
public final class PrometheusServer: @unchecked Sendable {
    public let process: TestProcess
    public let port: Int
    public var address: String { "http://127.0.0.1:\(port)" }
    private let directory: TemporaryDirectory
    private let scrapeInterval: String
    private let extraScrapeConfigs: String
    private let lock = NSLock()
    private var targets: [String]

    public static var isInstalled: Bool { Tooling.find("prometheus") != nil }

    /// Prometheus scraping model servers (or stand-ins for them) at `targets` every second as job
    /// `model-servers` with the `namespace` label Kubernetes discovery would add, once all are up.
    public static func scrapingModelServers(_ targets: [String], namespace: String) async throws -> PrometheusServer {
        let list = targets.map { "'\($0)'" }.joined(separator: ", ")
        let prometheus = try await start(scrapeTargets: [], scrapeInterval: "1s", extraScrapeConfigs: """
              - job_name: model-servers
                static_configs:
                  - targets: [\(list)]
                    labels:
                      namespace: \(namespace)
            """)
        do { try await prometheus.waitForTargetsUp(targets) } catch { prometheus.stop(); throw error }
        return prometheus
    }

    /// Starts Prometheus scraping `scrapeTargets` (`host:port`, job `sextant`) every
    /// `scrapeInterval` and returns once `/-/ready` answers 200. `extraScrapeConfigs` is YAML
    /// appended under `scrape_configs:` (list items indented by two spaces).
    public static func start(scrapeTargets: [String], scrapeInterval: String = "1s",
                             extraScrapeConfigs: String = "") async throws -> PrometheusServer {
        guard let binary = Tooling.find("prometheus") else {
            throw TestSetupError("prometheus is not installed (apt-get install prometheus)")
        }
        // Another process may take the port between our probe and Prometheus binding it.
        var lastError: any Error = TestSetupError("prometheus did not start")
        for _ in 0..<3 {
            let directory = try TemporaryDirectory()
            let port = try LocalHTTP.freePort()
            let server = try PrometheusServer(binary: binary, directory: directory, port: port,
                                              targets: scrapeTargets, scrapeInterval: scrapeInterval,
                                              extraScrapeConfigs: extraScrapeConfigs)
            do {
                try await server.waitReady(timeout: .seconds(30))
                return server
            } catch {
                server.stop()
                lastError = error
                guard server.process.text.contains("address already in use") else { throw error }
            }
        }
        throw lastError
    }

    private init(binary: String, directory: TemporaryDirectory, port: Int, targets: [String],
                 scrapeInterval: String, extraScrapeConfigs: String) throws {
        self.directory = directory
        self.port = port
        self.targets = targets
        self.scrapeInterval = scrapeInterval
        self.extraScrapeConfigs = extraScrapeConfigs
        try Self.config(targets: targets, interval: scrapeInterval, extra: extraScrapeConfigs)
            .write(toFile: directory.file("prometheus.yml"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: directory.file("data"), withIntermediateDirectories: true)
        process = try TestProcess(binary, [
            "--config.file=\(directory.file("prometheus.yml"))",
            "--storage.tsdb.path=\(directory.file("data"))",
            "--web.listen-address=127.0.0.1:\(port)",
            "--web.enable-lifecycle",
            "--log.level=warn",
        ])
    }

    static func config(targets: [String], interval: String, extra: String) -> String {
        let list = targets.map { "'\($0)'" }.joined(separator: ", ")
        return """
            global:
              scrape_interval: \(interval)
              scrape_timeout: \(interval)
              evaluation_interval: \(interval)
            scrape_configs:
              - job_name: sextant
                static_configs:
                  - targets: [\(list)]
            \(extra)
            """
    }

    private func waitReady(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !process.process.isRunning { throw TestSetupError("prometheus exited: \(process.text)") }
            if let answer = try? await LocalHTTP.requestAsync("GET", port: port, path: "/-/ready"), answer.status == 200 {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestSetupError("prometheus did not become ready within \(timeout): \(process.text)")
    }

    /// The scrape targets in the current config.
    public var scrapeTargets: [String] { lock.withLock { targets } }

    /// Rewrites the config with new targets and reloads it (`POST /-/reload`).
    public func setScrapeTargets(_ newTargets: [String]) throws {
        try lock.withLock {
            try Self.config(targets: newTargets, interval: scrapeInterval, extra: extraScrapeConfigs)
                .write(toFile: directory.file("prometheus.yml"), atomically: true, encoding: .utf8)
            targets = newTargets
        }
        let answer = try LocalHTTP.request("POST", port: port, path: "/-/reload")
        guard answer.status == 200 else {
            throw TestSetupError("prometheus reload answered \(answer.status): \(answer.text)")
        }
    }

    /// Polls `/api/v1/targets` until every configured target (or every one of `instances`, for
    /// targets given in `extraScrapeConfigs`) was scraped and is healthy.
    public func waitForTargetsUp(_ instances: [String]? = nil, timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        var last = ""
        while ContinuousClock.now < deadline {
            if let answer = try? await LocalHTTP.requestAsync("GET", port: port, path: "/api/v1/targets?state=active"),
               answer.status == 200 {
                last = answer.text
                let expected = Set(instances ?? scrapeTargets)
                let root = try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any]
                let active = (root?["data"] as? [String: Any])?["activeTargets"] as? [[String: Any]] ?? []
                let up = Set(active.compactMap { target -> String? in
                    guard target["health"] as? String == "up" else { return nil }
                    return (target["labels"] as? [String: String])?["instance"]
                })
                if !expected.isEmpty && expected.isSubset(of: up) { return }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw TestSetupError("prometheus targets not all up within \(timeout): \(last.prefix(2000))")
    }

    /// The single value of an instant query (`/api/v1/query`) now: nil when the result is empty;
    /// throws when Prometheus does not answer 200 or answers more than one series.
    public func query(_ promql: String) throws -> Double? {
        let encoded = promql.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? promql
        let answer = try LocalHTTP.request("GET", port: port, path: "/api/v1/query?query=" + encoded, timeoutSeconds: 2)
        guard answer.status == 200 else { throw TestSetupError("prometheus answered \(answer.status): \(answer.text)") }
        let root = try JSONSerialization.jsonObject(with: answer.body) as? [String: Any]
        let result = (root?["data"] as? [String: Any])?["result"] as? [[String: Any]] ?? []
        guard result.count <= 1 else { throw TestSetupError("\(result.count) series for \(promql)") }
        guard let value = result.first?["value"] as? [Any], value.count == 2, let text = value[1] as? String else { return nil }
        return Double(text)
    }

    public func stop() { process.stop() }

    deinit { process.stop() }
}

/// `hack/testservers/metrics_exporter.py`: synthetic sextant-server metrics (same names and
/// labels) whose rates and latencies are set by the test.
public final class MetricsExporter: @unchecked Sendable {
    public let process: TestProcess
    public let port: Int
    /// `127.0.0.1:PORT`, as a Prometheus scrape target.
    public var target: String { "127.0.0.1:\(port)" }

    public static var isAvailable: Bool { Tooling.find("python3") != nil }

    public static func start(model: String = "churn", version: String = "v1", successRate: Double = 1,
                             latencySeconds: Double = 0.01, accuracy: Double = 0.9,
                             rps: Double = 50) async throws -> MetricsExporter {
        let process = try TestProcess("python3", [
            Repo.root + "/hack/testservers/metrics_exporter.py", "--port", "0",
            "--model", model, "--version", version, "--success-rate", "\(successRate)",
            "--latency-seconds", "\(latencySeconds)", "--accuracy", "\(accuracy)", "--rps", "\(rps)",
        ])
        let line = try await process.waitForLine(prefix: "listening on 127.0.0.1:")
        guard let port = Int(line) else {
            process.stop()
            throw TestSetupError("metrics exporter printed no port: \(process.text)")
        }
        return MetricsExporter(process: process, port: port)
    }

    private init(process: TestProcess, port: Int) {
        self.process = process
        self.port = port
    }

    /// Changes the synthetic traffic from now on; counters keep growing from where they are.
    public func configure(successRate: Double? = nil, latencySeconds: Double? = nil, accuracy: Double? = nil,
                          rps: Double? = nil) async throws {
        var changes: [String: Double] = [:]
        if let successRate { changes["successRate"] = successRate }
        if let latencySeconds { changes["latencySeconds"] = latencySeconds }
        if let accuracy { changes["accuracy"] = accuracy }
        if let rps { changes["rps"] = rps }
        let body = try JSONSerialization.data(withJSONObject: changes)
        let answer = try await LocalHTTP.requestAsync("POST", port: port, path: "/config", body: body)
        guard answer.status == 200 else {
            throw TestSetupError("metrics exporter /config answered \(answer.status): \(answer.text)")
        }
    }

    /// The current `/metrics` text.
    public func metrics() throws -> String {
        try LocalHTTP.request("GET", port: port, path: "/metrics").text
    }

    public func stop() { process.stop() }

    deinit { process.stop() }
}

/// A minimal HTTP/1.0 client over a plain socket for harness housekeeping on 127.0.0.1, so that
/// the setup never goes through the client under test (and needs no FoundationNetworking).
public enum LocalHTTP {
    public struct Answer: Sendable {
        public var status: Int
        public var body: Data
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// A port nobody listens on right now (bound to port 0, then released).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSetupError("socket() failed: errno \(errno)") }
        defer { close(fd) }
        var addr = loopback(port: 0)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw TestSetupError("bind() failed: errno \(errno)") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard named == 0 else { throw TestSetupError("getsockname() failed: errno \(errno)") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Sends one request and reads the answer to the end (the server closes an HTTP/1.0 exchange).
    public static func request(_ method: String, port: Int, path: String, body: Data? = nil,
                               timeoutSeconds: Int = 5) throws -> Answer {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSetupError("socket() failed: errno \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var addr = loopback(port: port)
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw TestSetupError("cannot connect to 127.0.0.1:\(port): errno \(errno)") }

        var head = "\(method) \(path) HTTP/1.0\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        var out = Data((head + "\r\n").utf8)
        if let body { out.append(body) }
        try out.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                guard let base = raw.baseAddress else { return }
                let n = send(fd, base + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                guard n > 0 else { throw TestSetupError("send to 127.0.0.1:\(port) failed: errno \(errno)") }
                sent += n
            }
        }

        var received = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            guard n > 0 else { throw TestSetupError("reading from 127.0.0.1:\(port) failed: errno \(errno)") }
            received.append(contentsOf: buffer[0..<n])
        }
        guard let split = received.range(of: Data("\r\n\r\n".utf8)) else {
            throw TestSetupError("no HTTP answer from 127.0.0.1:\(port)\(path)")
        }
        let statusLine = String(decoding: received[..<split.lowerBound], as: UTF8.self)
            .split(separator: "\r\n").first ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else {
            throw TestSetupError("bad status line from 127.0.0.1:\(port): \(statusLine)")
        }
        return Answer(status: status, body: Data(received[split.upperBound...]))
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return addr
    }
}
