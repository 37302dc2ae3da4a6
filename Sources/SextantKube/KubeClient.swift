import Foundation
import Logging
import Metrics
import SextantTransport

/// A client for one Kubernetes API server.
public struct KubeClient: Sendable {
    public struct Options: Sendable {
        /// Client-side limit on requests per second, with bursts up to `burst` (like client-go).
        public var qps: Double = 50
        public var burst: Int = 100
        /// Attempts for idempotent requests that fail with 429, 5xx or a dropped connection.
        public var maxAttempts: Int = 5
        public var retryBaseDelay: Duration = .milliseconds(200)
        public var retryMaxDelay: Duration = .seconds(10)
        public var timeouts = HTTPTimeouts(connect: .seconds(10), idle: .seconds(30), total: .seconds(60))
        public var userAgent = "sextant/0.1"
        public init() {}
    }

    public let config: ClusterConfig
    public let options: Options
    let credentials: CredentialProvider
    let limiter: RateLimiter
    let logger: Logger

    public init(config: ClusterConfig, options: Options = Options(), logger: Logger = Logger(label: "sextant.kube")) {
        self.config = config
        self.options = options
        self.credentials = CredentialProvider(auth: config.auth, server: config.server)
        self.limiter = RateLimiter(qps: options.qps, burst: options.burst)
        self.logger = logger
    }

    /// The namespace of the kubeconfig context (or the Pod's own namespace in a cluster).
    public var defaultNamespace: String { config.namespace }

    // MARK: Requests

    /// Builds the transport request with auth and TLS applied.
    func makeRequest(method: String, path: String, query: [URLQueryItem], body: Data?, contentType: String?,
                     accept: String, timeouts: HTTPTimeouts) async throws -> HTTPRequest {
        let creds = try await credentials.credentials()
        var url = config.server
        while url.hasSuffix("/") { url.removeLast() }
        url += path
        if !query.isEmpty {
            var components = URLComponents()
            components.queryItems = query
            // `+` is literal in a URL query, but Go's server reads it as a space.
            url += "?" + (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
        }
        var headers = [HTTPHeader("Accept", accept), HTTPHeader("User-Agent", options.userAgent)]
        if let contentType { headers.append(HTTPHeader("Content-Type", contentType)) }
        headers += creds.headers
        var tls = config.tls
        if let cert = creds.clientCertificateData { tls.clientCertificateData = cert }
        if let key = creds.clientKeyData { tls.clientKeyData = key }
        return HTTPRequest(method: method, url: url, headers: headers, body: body, tls: tls, timeouts: timeouts,
                           basicAuth: creds.basicAuth, proxy: config.proxy)
    }

    /// Sends a request and returns the body of a 2xx answer; other answers throw `KubeError`.
    /// Idempotent verbs are retried on 429, 5xx and dropped connections with backoff and jitter,
    /// honouring `Retry-After`; others only when the server cannot have acted (429, no connection).
    public func send(method: String, path: String, query: [URLQueryItem] = [], body: Data? = nil,
                     contentType: String? = nil, accept: String = "application/json") async throws -> Data {
        let idempotent = ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"].contains(method)
        var attempt = 0
        var refreshedCredentials = false
        while true {
            attempt += 1
            try await limiter.acquire()
            let request = try await makeRequest(method: method, path: path, query: query, body: body,
                                                contentType: contentType, accept: accept, timeouts: options.timeouts)
            let start = ContinuousClock.now
            let outcome: Result<HTTPResponse, any Error>
            do {
                outcome = .success(try await HTTPClient.shared.send(request))
            } catch {
                outcome = .failure(error)
            }
            let elapsed = ContinuousClock.now - start
            switch outcome {
            case .success(let response):
                record(verb: method, code: String(response.status), elapsed: elapsed)
                if (200..<300).contains(response.status) { return response.body }
                let error = KubeError.from(code: response.status, body: response.body, verb: method, path: path)
                if response.status == 401, !refreshedCredentials, case .exec = config.auth {
                    refreshedCredentials = true
                    await credentials.invalidate()
                    continue
                }
                let retryable = response.status == 429 || (idempotent && [500, 502, 503, 504].contains(response.status))
                guard retryable, attempt < options.maxAttempts else { throw error }
                let retryAfter = response.headers["Retry-After"].flatMap(Int.init).map { Duration.seconds($0) }
                let delay = retryAfter.map { min($0, options.retryMaxDelay) } ?? backoff(attempt: attempt)
                logger.debug("retrying", metadata: ["verb": "\(method)", "path": "\(path)",
                                                    "code": "\(response.status)", "attempt": "\(attempt)"])
                try await Task.sleep(for: delay)
            case .failure(let error):
                if error is CancellationError { throw error }
                record(verb: method, code: "error", elapsed: elapsed)
                guard let transport = error as? TransportError else { throw error }
                let retryable = transport.kind == .couldNotConnect || (idempotent && transport.isRetryable)
                guard retryable, attempt < options.maxAttempts else { throw transport }
                try await Task.sleep(for: backoff(attempt: attempt))
            }
        }
    }

    /// Exponential backoff with full jitter.
    func backoff(attempt: Int) -> Duration {
        Backoff(initial: options.retryBaseDelay, maximum: options.retryMaxDelay, jitter: 1)
            .delay(afterFailures: attempt)
    }

    private func record(verb: String, code: String, elapsed: Duration) {
        Counter(label: "sextant_kube_requests_total", dimensions: [("verb", verb), ("code", code)]).increment()
        Metrics.Timer(label: "sextant_kube_request_duration_seconds", dimensions: [("verb", verb)])
            .recordNanoseconds(Int64(elapsed.milliseconds) * 1_000_000)
    }
}

/// A token bucket shared by every request of a client.
actor RateLimiter {
    private let qps: Double
    private let burst: Double
    private var tokens: Double
    private var last = ContinuousClock.now

    init(qps: Double, burst: Int) {
        self.qps = max(qps, 0.001)
        self.burst = Double(max(burst, 1))
        self.tokens = Double(max(burst, 1))
    }

    func acquire() async throws {
        let now = ContinuousClock.now
        tokens = min(burst, tokens + Double((now - last).milliseconds) / 1000 * qps)
        last = now
        tokens -= 1
        if tokens < 0 {
            // Reserve the token now and wait for it; later callers queue behind.
            try await Task.sleep(for: .milliseconds(Int(-tokens / qps * 1000)))
        }
    }
}
