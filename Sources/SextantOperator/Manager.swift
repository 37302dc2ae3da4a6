import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import SextantKube
import SextantKubeTypes
import ServiceLifecycle
import Synchronization

/// Settings users know from kubebuilder-made operators; the `sextant-controller` executable maps
/// its flags onto these.
public struct ManagerOptions: Sendable {
    /// `--leader-elect`: only the holder of the Lease reconciles.
    public var leaderElect = true
    public var leaderElectionID = "sextant-controller-leader"
    /// nil: the client's namespace (the Pod's own namespace in a cluster).
    public var leaderElectionNamespace: String?
    public var leaseDuration: Duration = .seconds(15)
    public var renewDeadline: Duration = .seconds(10)
    public var retryPeriod: Duration = .seconds(2)
    /// `--metrics-bind-address`, `0` disables.
    public var metricsBindAddress = ":8080"
    /// `--metrics-secure`: HTTPS with TokenReview/SubjectAccessReview ([SecureMetricsOptions]);
    /// nil serves plain HTTP to anyone.
    public var secureMetrics: SecureMetricsOptions?
    /// `--health-probe-bind-address`, `0` disables.
    public var healthProbeBindAddress = ":8081"
    /// `--namespace`: watch only this namespace (empty = all).
    public var namespace = ""
    /// Structured JSON log lines instead of text.
    public var jsonLogs = false
    /// Leader-election identity; nil: host name plus a random suffix.
    public var identity: String?
    /// `--shard-index`/`--shard-count`: this replica reconciles only its shard's objects and
    /// elects its leader on the shard's own Lease (`<leaderElectionID>-shard-<index>`).
    public var shard: Shard?

    public init() {}
}

/// Runs informers, controllers, leader election and the metrics/probe endpoints as one
/// swift-service-lifecycle `Service`. Informers run on every replica (so a standby is warm
/// and ready); controllers only while this replica leads.
public final class Manager: Service, Sendable {
    public let client: KubeClient
    public let options: ManagerOptions
    public let metrics: OperatorMetrics
    public let identity: String
    let logger: Logger
    private let informers = Mutex<[String: any InformerRunnable]>([:])
    private let controllers = Mutex<[Controller]>([])
    private let boundPorts = PortTable()
    private let leader = Mutex<LeaderElector?>(nil)

    public init(client: KubeClient, options: ManagerOptions = ManagerOptions(), metrics: OperatorMetrics = OperatorMetrics(),
                logger: Logger = Logger(label: "sextant.operator")) {
        self.client = client
        self.options = options
        self.metrics = metrics
        self.logger = logger
        let host = ProcessInfo.processInfo.hostName
        self.identity = options.identity ?? "\(host)_\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// The namespace informers watch (nil = all).
    public var watchNamespace: String? { options.namespace.isEmpty ? nil : options.namespace }

    /// The shared informer of a type (one per type and label selector, whatever the number of controllers).
    public func informer<T: KubernetesResource>(_ type: T.Type, labelSelector: String? = nil) -> Informer<T> {
        informer(resource: ResourceDescriptor(T.self), labelSelector: labelSelector, as: T.self)
    }

    /// The shared informer of any resource (e.g. `DynamicObject` for Istio VirtualServices).
    public func informer<T: KubernetesObject>(resource: ResourceDescriptor, labelSelector: String? = nil,
                                              as type: T.Type) -> Informer<T> {
        let key = "\(resource)|\(labelSelector ?? "")|\(T.self)"
        return informers.withLock { all in
            if let existing = all[key] as? Informer<T> { return existing }
            let made = Informer<T>(client: client, resource: resource, namespace: watchNamespace,
                                   labelSelector: labelSelector, logger: logger)
            all[key] = made
            return made
        }
    }

    public func add(_ controller: Controller) { controllers.withLock { $0.append(controller) } }

    /// A recorder reporting as this manager's instance.
    public func eventRecorder(controllerName: String = "mlops.sextant.dev/sextant-controller") -> EventRecorder {
        EventRecorder(client: client, controllerName: controllerName, instance: identity, logger: logger)
    }

    /// Ready once every informer has its first complete list.
    public var isReady: Bool { informers.withLock { Array($0.values) }.allSatisfy(\.hasSynced) }

    /// The Lease this replica elects its leader on (one per shard).
    public var leaseName: String { options.shard?.leaseName(base: options.leaderElectionID) ?? options.leaderElectionID }

    /// For `ControllerOptions.keyFilter`: the keys of this replica's shard (nil: all keys).
    public var shardKeyFilter: (@Sendable (ObjectKey) -> Bool)? {
        guard let shard = options.shard, shard.count > 1 else { return nil }
        return { shard.owns($0) }
    }

    public var isLeader: Bool { options.leaderElect ? (leader.withLock { $0 }?.isLeader ?? false) : true }

    /// The port an endpoint ("metrics" or "health") bound to, once it listens (port 0 in tests).
    public func boundPort(_ endpoint: String, timeout: Duration = .seconds(10)) async -> Int? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let port = boundPorts.ports.withLock({ $0[endpoint] }) { return port }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// Runs until cancelled or until graceful shutdown (SIGTERM in a ServiceGroup). Throws
    /// `LeaderElectionError.lost` when leadership is lost: the process should exit and restart.
    public func run() async throws {
        let metricsAddress = try BindAddress.parse(options.metricsBindAddress)
        let healthAddress = try BindAddress.parse(options.healthProbeBindAddress)
        var elector: LeaderElector?
        if options.leaderElect {
            var config = LeaderElectionConfig(leaseName: leaseName,
                                              namespace: options.leaderElectionNamespace ?? client.defaultNamespace,
                                              identity: identity)
            config.leaseDuration = options.leaseDuration
            config.renewDeadline = options.renewDeadline
            config.retryPeriod = options.retryPeriod
            elector = try LeaderElector(client: client, config: config, metrics: metrics, logger: logger)
        } else {
            metrics.leader.set(to: 1.0)
        }
        leader.withLock { [elector] in $0 = elector }
        let activeElector = elector
        let responder = ProbeResponder(metrics: metrics) { [self] in
            let pending = informers.withLock { Array($0.values) }.filter { !$0.hasSynced }.map(\.name)
            return pending.isEmpty ? (true, "ok") : (false, "caches not synced: " + pending.sorted().joined(separator: ", "))
        }
        // Made before anything runs, so a missing certificate file ends the start with its name.
        let secure = try metricsAddress == nil ? nil : options.secureMetrics.map { try secureServing($0) }
        // Graceful shutdown becomes cancellation: controllers stop, then the lease is released.
        try await cancelWhenGracefulShutdown {
            try await withThrowingTaskGroup(of: Void.self) { group in
                var endpoints: [(String, BindAddress)] = []
                if let metricsAddress { endpoints.append(("metrics", metricsAddress)) }
                if let healthAddress {
                    if healthAddress == metricsAddress, healthAddress.port != 0 {
                        self.boundPorts.ports.withLock { $0["health"] = healthAddress.port }
                    } else {
                        endpoints.append(("health", healthAddress))
                    }
                }
                for (name, address) in endpoints {
                    if name == "metrics", let secure {
                        let gated = GatedResponder(inner: responder, gate: secure.gate)
                        let tls = secure.certificate.tlsConfiguration(logger: self.logger)
                        group.addTask { try await self.serve(name, at: address, responder: gated, server: try HTTPServerBuilder.tls(.http1(), tlsConfiguration: tls)) }
                    } else {
                        group.addTask { try await self.serve(name, at: address, responder: responder) }
                    }
                }
                for informer in self.informers.withLock({ Array($0.values) }) {
                    group.addTask { await informer.run() }
                }
                let controllers = self.controllers.withLock { $0 }
                group.addTask {
                    let runControllers: @Sendable () async throws -> Void = {
                        await withTaskGroup(of: Void.self) { inner in
                            for controller in controllers { inner.addTask { await controller.run() } }
                        }
                    }
                    if let elector = activeElector {
                        try await elector.run(whileLeading: runControllers)
                    } else {
                        try await runControllers()
                    }
                }
                // Any part ending (an error, or leadership lost) ends the manager.
                defer { group.cancelAll() }
                while let _ = try await group.next() {
                    if Task.isCancelled { break }
                }
            }
        }
    }

    /// The certificate and the access gate of secure metrics serving.
    private func secureServing(_ secure: SecureMetricsOptions) throws -> (certificate: ServingCertificate, gate: MetricsAccessGate) {
        let certificate: ServingCertificate
        if let directory = secure.certDirectory {
            certificate = try ServingCertificate(certificateFile: directory + "/" + secure.certName,
                                                 keyFile: directory + "/" + secure.keyName)
        } else {
            certificate = try ServingCertificate(selfSignedFor: ProcessInfo.processInfo.hostName)
        }
        let reviewer: any AccessReviewer
        if let given = secure.reviewer {
            reviewer = given
        } else {
            // Reviews have their own rate limit, so scrapes (or a flood of made-up tokens) never
            // take the reconcilers' share of the API budget.
            var reviewOptions = client.options
            reviewOptions.qps = 10
            reviewOptions.burst = 20
            reviewOptions.maxAttempts = 3
            reviewer = CachingAccessReviewer(KubeAccessReviewer(client: KubeClient(config: client.config, options: reviewOptions,
                                                                                    logger: logger),
                                                                 metrics: metrics))
        }
        logger.info("metrics served over HTTPS with TokenReview and SubjectAccessReview",
                    metadata: ["certificate": "\(certificate.description)"])
        return (certificate, MetricsAccessGate(reviewer: reviewer, logger: logger))
    }

    private func serve<Responder: HTTPResponder>(_ name: String, at address: BindAddress, responder: Responder,
                                                 server: HTTPServerBuilder = .http1()) async throws
    where Responder.Context == BasicRequestContext {
        var log = logger
        // Hummingbird reports the cancellation that ends it as an error; that is our shutdown.
        log.logLevel = .critical
        let app = Application(
            responder: responder,
            server: server,
            configuration: ApplicationConfiguration(address: .hostname(address.host, port: address.port),
                                                    serverName: "sextant-\(name)"),
            onServerRunning: { [boundPorts, logger] channel in
                let port = channel.localAddress?.port ?? address.port
                boundPorts.ports.withLock { $0[name] = port }
                logger.info("serving \(name)", metadata: ["address": "\(address.host):\(port)"])
            },
            logger: log)
        try await app.run()
    }
}

/// An informer as the manager runs it, whatever its object type.
protocol InformerRunnable: SyncWaitable {
    func run() async
}

extension Informer: InformerRunnable {}

/// Ports the endpoints bound to, filled in when each server starts listening.
final class PortTable: Sendable {
    let ports = Mutex<[String: Int]>([:])
}
