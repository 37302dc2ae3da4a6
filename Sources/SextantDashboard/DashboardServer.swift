import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SextantAPI
import SextantKube
import SextantKubeTypes
import SextantPrometheus
import Synchronization

/// `sextant dashboard`: a local web UI on Hummingbird. Pages are rendered on the server from
/// the cluster (the user's kubeconfig); each page keeps a server-sent event stream open, fed by
/// watches of the objects it shows, and swaps in a fresh copy of itself on every change.
/// Actions are the CLI's status requests, sent as POST with a per-process CSRF token.
public final class Dashboard: Sendable {
    public struct Options: Sendable {
        public var host = "127.0.0.1"
        public var port = 3100
        /// The namespace the navigation starts in (nil: all namespaces).
        public var namespace: String?
        public init() {}
    }

    let source: ClusterSource
    let prometheus: PrometheusClient?
    let options: Options
    let requestedBy: String
    /// Random per process; every action form carries it, and a POST without it is refused.
    let csrf: String
    let boundPort = Mutex<Int?>(nil)

    public init(client: KubeClient, prometheus: PrometheusClient?, options: Options, requestedBy: String) {
        self.source = ClusterSource(client: client)
        self.prometheus = prometheus
        self.options = options
        self.requestedBy = requestedBy
        var generator = SystemRandomNumberGenerator()
        self.csrf = (0..<4).map { _ in String(format: "%016llx", generator.next() as UInt64) }.joined()
    }

    /// Serves until cancelled; `listening` gets the bound port (useful with port 0).
    public func run(listening: @escaping @Sendable (Int) -> Void) async throws {
        var log = Logger(label: "sextant.dashboard")
        log.logLevel = .critical
        let app = Application(
            responder: DashboardResponder(dashboard: self),
            configuration: ApplicationConfiguration(address: .hostname(options.host, port: options.port), serverName: "sextant-dashboard"),
            onServerRunning: { [self] channel in
                let port = channel.localAddress?.port ?? options.port
                boundPort.withLock { $0 = port }
                listening(port)
            },
            logger: log)
        try await app.run()
    }

    /// Loopback binds answer only requests addressed to loopback names, so a web page elsewhere
    /// cannot reach the dashboard through DNS rebinding.
    func hostAllowed(_ host: String?) -> Bool {
        guard ["127.0.0.1", "localhost", "::1"].contains(options.host) else { return true }
        guard let host, let port = boundPort.withLock({ $0 }) else { return false }
        return ["127.0.0.1:\(port)", "localhost:\(port)", "[::1]:\(port)"].contains(host.lowercased())
    }
}

struct DashboardResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let dashboard: Dashboard

    func respond(to request: Request, context: Context) async throws -> Response {
        guard dashboard.hostAllowed(request.head.authority) else {
            return text(.forbidden, "forbidden: the dashboard answers only requests to its loopback address")
        }
        let parts = request.uri.path.split(separator: "/").map { String($0).removingPercentEncoding ?? String($0) }
        let query = Query(request.uri.query)
        do {
            switch (request.method, parts.first) {
            case (.get, nil):
                return redirect("/rollouts" + (dashboard.options.namespace.map { "?namespace=\(Html.component($0))" } ?? ""))
            case (.get, "healthz"):
                return text(.ok, "ok")
            case (.get, "stream"):
                return try stream(Array(parts.dropFirst()), query: query)
            case (.post, "actions"):
                return try await action(parts, request: request)
            case (.get, _):
                return try await page(parts, query: query)
            default:
                return text(.methodNotAllowed, "method not allowed")
            }
        } catch let error as KubeError {
            return errorPage(error)
        }
    }

    // MARK: Pages

    func page(_ parts: [String], query: Query) async throws -> Response {
        let namespace = query["namespace"].flatMap { $0.isEmpty ? nil : $0 }
        let selector = query["selector"].flatMap { $0.isEmpty ? nil : $0 }
        let token = query["continue"]
        let source = dashboard.source
        let csrf = dashboard.csrf
        let title: String
        var body: String
        var problems: [String] = []
        switch (parts.first, parts.count) {
        case ("rollouts", 1):
            let page = try await source.page(CanaryRollout.self, namespace: namespace, selector: selector, continue: token)
            problems = page.problems
            title = "Rollouts"
            body = RolloutPages.list(page.items, namespace: namespace, selector: selector, next: page.next)
        case ("rollouts", 3):
            async let access = source.statusRequestAccess(ClusterSource.canaryRollouts, namespace: parts[1], name: parts[2])
            let rollout = try await source.get(CanaryRollout.self, namespace: parts[1], name: parts[2])
            let around = try await source.surroundings(of: rollout)
            let now = Date()
            var series: RolloutPages.Series?
            if let prometheus = dashboard.prometheus { series = await ClusterSource.series(for: rollout, prometheus: prometheus, now: now) }
            title = "Rollout \(parts[2])"
            body = RolloutPages.detail(rollout, deployments: around.deployments, events: around.events, series: series, csrf: csrf,
                                       access: await access, now: now)
        case ("models", 1):
            let page = try await source.page(ModelVersion.self, namespace: namespace, selector: selector, continue: token)
            problems = page.problems
            title = "Models"
            body = ModelPages.list(page.items, namespace: namespace, selector: selector, next: page.next)
        case ("models", 3):
            async let access = source.statusRequestAccess(ClusterSource.modelVersions, namespace: parts[1], name: parts[2])
            let version = try await source.get(ModelVersion.self, namespace: parts[1], name: parts[2])
            let traffic = await source.rollouts(for: version)
            problems = traffic.problems
            title = "ModelVersion \(parts[2])"
            let periods = traffic.items.map { ModelTraffic.of(version, rollouts: $0) }
            var weights: [ModelTraffic.WeightSeries]?
            if let prometheus = dashboard.prometheus, case .success(let t) = periods, case .success(let all) = traffic.items {
                let served = Set(t.periods.map(\.rollout))
                weights = await ClusterSource.canaryWeights(all.filter { served.contains($0.metadata.name ?? "") }, prometheus: prometheus, now: Date())
            }
            body = ModelPages.version(version, csrf: csrf, access: await access, traffic: periods, weights: weights)
        case ("training", 1):
            let page = try await source.page(TrainingJob.self, namespace: namespace, selector: selector, continue: token)
            problems = page.problems
            title = "Training"
            body = TrainingPages.list(page.items, namespace: namespace, selector: selector, next: page.next)
        case ("training", 3):
            async let access = source.statusRequestAccess(ClusterSource.trainingJobs, namespace: parts[1], name: parts[2])
            let job = try await source.get(TrainingJob.self, namespace: parts[1], name: parts[2])
            title = "TrainingJob \(parts[2])"
            body = TrainingPages.job(job, csrf: csrf, access: await access)
        case ("training", 5) where parts[3] == "runs":
            let job = try await source.get(TrainingJob.self, namespace: parts[1], name: parts[2])
            guard let run = job.status?.runs?.first(where: { $0.name == parts[4] }) else {
                return html(.notFound, Layout.page(title: "Not found", active: "training", stream: nil, csrf: csrf, namespace: parts[1],
                    body: "<h1>Not found</h1><p class=\"error\" id=\"api-error\">run \(Html.escape(parts[4])) is not in the status of "
                        + "TrainingJob \(Html.escape(parts[1]))/\(Html.escape(parts[2])) (it keeps the latest runHistoryLimit runs)</p>"))
            }
            title = "Run \(parts[4])"
            body = TrainingPages.run(job, run: run)
        case ("drift", 1):
            let page = try await source.page(CanaryRollout.self, namespace: namespace, selector: selector, continue: token)
            problems = page.problems
            title = "Drift"
            body = DriftPages.list(page.items, namespace: namespace, selector: selector, next: page.next, prometheus: dashboard.prometheus != nil)
        case ("drift", 3):
            let rollout = try await source.get(CanaryRollout.self, namespace: parts[1], name: parts[2])
            // Thresholds of retrain conditions; a user who may not list TrainingJobs still sees the drift.
            let jobs = (try? await source.client.listAll(ClusterSource.trainingJobs, namespace: parts[1], options: ListOptions(),
                                                         as: TrainingJob.self))?.items ?? []
            var drift: (series: [DriftPages.Series], errors: [String])?
            let now = Date()
            let window = ClusterSource.driftWindow(since: rollout.metadata.creationTimestamp.flatMap(KubeTime.parse), now: now)
            if let prometheus = dashboard.prometheus {
                drift = await ClusterSource.drift(model: rollout.spec.modelName, versions: DriftPages.liveVersions(rollout).map(\.name),
                                                  namespace: parts[1], window: window, prometheus: prometheus, now: now)
            }
            title = "Drift \(parts[2])"
            body = DriftPages.detail(rollout, jobs: jobs, series: drift?.series, errors: drift?.errors ?? [], window: "\(window / 60) minutes")
        default:
            return text(.notFound, "not found: /\(parts.joined(separator: "/"))")
        }
        if !problems.isEmpty {
            body = "<div class=\"error\">" + problems.map(Html.escape).joined(separator: "<br>") + "</div>" + body
        }
        if query["fragment"] == "1" { return html(.ok, body) }
        let stream = "/stream/" + parts.map(Html.component).joined(separator: "/") + (namespace.map { "?namespace=\(Html.component($0))" } ?? "")
        return html(.ok, Layout.page(title: title, active: parts.first ?? "", stream: stream, csrf: csrf,
                                     namespace: namespace ?? (parts.count == 3 ? parts[1] : dashboard.options.namespace), body: body))
    }

    func errorPage(_ error: KubeError) -> Response {
        let message = "Error from server (\(error.status.reason ?? "\(error.code)")): \(error.status.message ?? error.description)"
        let status = HTTPResponse.Status(code: (400...599).contains(error.code) ? error.code : 502)
        return html(status, Layout.page(title: "Error", active: "", stream: nil, csrf: dashboard.csrf, namespace: nil,
                                        body: "<h1>Error</h1><p class=\"error\" id=\"api-error\">\(Html.escape(message))</p>"))
    }

    // MARK: Live updates

    /// `/stream/<page path>`: an event `change` whenever an object the page shows changes.
    func stream(_ parts: [String], query: Query) throws -> Response {
        let namespace = query["namespace"].flatMap { $0.isEmpty ? nil : $0 }
        var watches: [(ResourceDescriptor, String?, ListOptions)] = []
        switch (parts.first, parts.count) {
        case ("rollouts", 1): watches = [(ClusterSource.canaryRollouts, namespace, ListOptions())]
        case ("rollouts", 3):
            watches = [(ClusterSource.canaryRollouts, parts[1], ListOptions(fieldSelector: "metadata.name=\(parts[2])")),
                       (ClusterSource.deployments, parts[1], ListOptions()), (ClusterSource.events, parts[1], ListOptions())]
        case ("models", 1): watches = [(ClusterSource.modelVersions, namespace, ListOptions())]
        case ("models", 3):
            // The Traffic section derives from the namespace's rollouts.
            watches = [(ClusterSource.modelVersions, parts[1], ListOptions(fieldSelector: "metadata.name=\(parts[2])")),
                       (ClusterSource.canaryRollouts, parts[1], ListOptions())]
        case ("training", 1): watches = [(ClusterSource.trainingJobs, namespace, ListOptions())]
        case ("drift", 1): watches = [(ClusterSource.canaryRollouts, namespace, ListOptions())]
        case ("drift", 3): watches = [(ClusterSource.canaryRollouts, parts[1], ListOptions(fieldSelector: "metadata.name=\(parts[2])"))]
        case ("training", 3), ("training", 5): watches = [(ClusterSource.trainingJobs, parts[1], ListOptions(fieldSelector: "metadata.name=\(parts[2])"))]
        default: return text(.notFound, "no stream for /\(parts.joined(separator: "/"))")
        }
        let client = dashboard.source.client
        let watched = watches
        // Drift comes from Prometheus, not from a watched object: its page is refreshed every 30 s too.
        let resample: Duration? = parts.first == "drift" && parts.count == 3 && dashboard.prometheus != nil ? .seconds(30) : nil
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            let (ticks, tick) = AsyncStream<StreamTick>.makeStream(bufferingPolicy: .bufferingNewest(2))
            let tasks = watched.map { descriptor, ns, options in
                ChangeSignals.watch(client, descriptor, namespace: ns, options: options) { tick.yield(.change) }
            }
            // A comment every 15 s finds closed connections (the write fails) and keeps proxies open.
            let heartbeat = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(15))
                    tick.yield(.ping)
                }
            }
            let sampler = resample.map { period in
                Task {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: period)
                        tick.yield(.change)
                    }
                }
            }
            defer {
                tasks.forEach { $0.cancel() }
                heartbeat.cancel()
                sampler?.cancel()
            }
            try await writer.write(ByteBuffer(string: "retry: 1000\n: connected\n\n"))
            for await t in ticks {
                try await writer.write(ByteBuffer(string: t == .change ? "event: change\ndata: {}\n\n" : ": ping\n\n"))
            }
            try await writer.finish(nil)
        })
    }

    // MARK: Actions

    /// `POST /actions/<verb>/<namespace>/<name>`: the CLI's status request, as the kubeconfig's user.
    func action(_ parts: [String], request: Request) async throws -> Response {
        guard parts.count == 4, let verb = StatusRequestVerb.all.first(where: { $0.verb == parts[1] }) else {
            return text(.notFound, "no such action: /\(parts.joined(separator: "/"))")
        }
        var request = request
        let body = try await request.collectBody(upTo: 64 << 10)
        let form = Query(String(buffer: body))
        let token = request.headers[.csrfToken] ?? form["csrf"]
        // Cross-site form posts carry neither the token nor a same-origin fetch marker.
        guard let token, constantTimeEqual(token, dashboard.csrf),
              request.headers[.secFetchSite].map({ $0 == "same-origin" || $0 == "none" }) ?? true else {
            return text(.forbidden, "forbidden: missing or wrong CSRF token")
        }
        let (namespace, name) = (parts[2], parts[3])
        do {
            try await verb.send(client: dashboard.source.client, name: name, namespace: namespace,
                                requestedBy: dashboard.requestedBy, reason: form["reason"].flatMap { $0.isEmpty ? nil : $0 } ?? "from the dashboard")
        } catch let error as KubeError {
            return text(HTTPResponse.Status(code: (400...599).contains(error.code) ? error.code : 502),
                        "Error from server (\(error.status.reason ?? "\(error.code)")): \(error.status.message ?? error.description)")
        }
        let message = "\(verb.singular).\(verb.descriptor.group)/\(name) \(verb.verb) requested"
        // A plain form post (no script) comes back to the page; a fetch gets the message.
        if request.headers[.csrfToken] == nil {
            let page = verb.descriptor.plural == "canaryrollouts" ? "rollouts" : verb.descriptor.plural == "modelversions" ? "models" : "training"
            return redirect("/\(page)/\(Html.component(namespace))/\(Html.component(name))")
        }
        return text(.ok, message)
    }

    func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    // MARK: Responses

    func html(_ status: HTTPResponse.Status, _ body: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        // Scripts and styles are inline and our own; nothing is loaded from elsewhere.
        headers[.contentSecurityPolicy] = "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"
        headers[.contentTypeOptions] = "nosniff"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    func text(_ status: HTTPResponse.Status, _ body: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body + "\n")))
    }

    func redirect(_ location: String) -> Response {
        var headers = HTTPFields()
        headers[.location] = location
        return Response(status: .seeOther, headers: headers)
    }
}

enum StreamTick: Sendable { case change, ping }

extension HTTPField.Name {
    static let csrfToken = HTTPField.Name("X-CSRF-Token") ?? .cookie
    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site") ?? .cookie
    static let contentSecurityPolicy = HTTPField.Name("Content-Security-Policy") ?? .cookie
    static let contentTypeOptions = HTTPField.Name("X-Content-Type-Options") ?? .cookie
}

/// A URL query or form body, decoded (`+` is a space, as forms encode it).
struct Query {
    var values: [String: String] = [:]
    init(_ text: String?) {
        for pair in (text ?? "").split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ") }
            guard let key = kv.first?.removingPercentEncoding else { continue }
            values[key] = kv.count > 1 ? kv[1].removingPercentEncoding ?? "" : ""
        }
    }
    subscript(_ key: String) -> String? { values[key] }
}
