// sextant-controller: the operator — TrainingJob, ModelVersion and CanaryRollout controllers.
import ArgumentParser
import CMimalloc
import Foundation
import Logging
import SextantControllers
import SextantKube
import SextantOperator
import SextantRevision
import SextantVersion
import ServiceLifecycle

sextant_mimalloc_return_freed_pages_at_once()

// A top-level `await X.main()` picks ParsableCommand's synchronous overload; go through a generic.
func runAsync<Command: AsyncParsableCommand>(_ command: Command.Type) async { await command.main() }
await runAsync(SextantController.self)

struct SextantController: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sextant-controller",
        abstract: "Run Sextant's controllers (TrainingJob, ModelVersion, CanaryRollout).",
        discussion: "Flags follow kubebuilder's names. See docs/controller.md.",
        version: SextantVersion.description)

    @Option(help: "Path to a kubeconfig (default: $KUBECONFIG, ~/.kube/config, then in-cluster).")
    var kubeconfig: String?
    @Option(help: "kubeconfig context to use.")
    var context: String?
    @Option(help: "Only watch this namespace (default: all namespaces).")
    var namespace: String = ""
    @Option(help: "Enable leader election (true/false); run several replicas with it on.")
    var leaderElect: Bool = true
    @Option(help: "Name of the leader election Lease.")
    var leaderElectionId: String = "sextant-controller-leader"
    @Option(help: "Namespace of the leader election Lease (default: the client's namespace).")
    var leaderElectionNamespace: String?
    @Option(help: "Address of /metrics, HOST:PORT or :PORT; 0 turns it off.")
    var metricsBindAddress: String = ":8443"
    @Option(help: "Serve /metrics over HTTPS to authenticated, authorized clients only (TokenReview and SubjectAccessReview, nonResourceURL /metrics, verb get); false serves plain HTTP to anyone.")
    var metricsSecure: Bool = true
    @Option(help: "Directory with the metrics serving certificate and key (default: a self-signed certificate made at start).")
    var metricsCertDir: String?
    @Option(help: "File name of the metrics certificate in --metrics-cert-dir.")
    var metricsCertName: String = "tls.crt"
    @Option(help: "File name of the metrics key in --metrics-cert-dir.")
    var metricsCertKey: String = "tls.key"
    @Option(help: "Address of /healthz and /readyz; 0 turns it off.")
    var healthProbeBindAddress: String = ":8081"
    @Option(help: "Prometheus base URL for analysis and retrain conditions that name none.")
    var prometheusUrl: String?
    @Option(help: "Timeout of one Prometheus query when a resource sets none, in seconds.")
    var prometheusTimeoutSeconds: Double = 10
    @Option(help: "PEM CA bundle that verifies HTTPS Prometheus servers (besides the system's), for endpoints whose secretRef has no ca.crt.")
    var prometheusCaFile: String?
    @Option(help: "File with a bearer token for --prometheus-url, read before each query (e.g. a projected ServiceAccount token).")
    var prometheusBearerTokenFile: String?
    @Option(help: "The sextant-trainer image for TrainingJobs that name none.")
    var trainerImage: String = "ghcr.io/sextant-dev/sextant-trainer:latest"
    @Option(help: "The sextant-server image for managed serving that names none.")
    var serverImage: String = "ghcr.io/sextant-dev/sextant-server:latest"
    @Option(help: "MLflow tracking server to report training runs to (e.g. http://mlflow:5000); credentials from MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD.")
    var mlflowTrackingUri: String?
    @Option(help: "PEM CA bundle that verifies an HTTPS --mlflow-tracking-uri (besides the system's); certificates are always verified.")
    var mlflowCaFile: String?
    @Option(help: "PEM CA bundle that verifies https rollout webhooks and notification targets (besides the system's) whose Secret has no ca.crt.")
    var webhookCaFile: String?
    @Flag(help: "Run TrainingJobs with spec.workers > 1 as Kubeflow MPIJobs (kubeflow.org/v2beta1; needs the MPI Operator installed).")
    var mpiJobs = false
    @Option(help: "This replica's shard, 0..<--shard-count: it reconciles only the objects whose namespace/name hash to it.")
    var shardIndex: Int = 0
    @Option(help: "Number of shards splitting the objects (1: no sharding). Each shard elects its leader on its own Lease.")
    var shardCount: Int = 1
    @Option(help: "Client-side limit of API requests per second (client-go's --kube-api-qps).")
    var kubeApiQps: Double = 50
    @Option(help: "Burst of API requests above --kube-api-qps.")
    var kubeApiBurst: Int = 100
    @Option(help: "Parallel reconciles per controller.")
    var concurrency: Int = 2
    @Flag(help: "Log one JSON object per line.")
    var jsonLogs = false
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard kubeApiQps > 0, kubeApiBurst >= 1 else {
            throw ValidationError("--kube-api-qps must be positive and --kube-api-burst at least 1")
        }
        guard shardCount >= 1 else { throw ValidationError("--shard-count must be at least 1") }
        guard Shard(index: shardIndex, count: shardCount) != nil else {
            throw ValidationError("--shard-index \(shardIndex) must be between 0 and --shard-count - 1 (\(shardCount - 1))")
        }
        guard prometheusTimeoutSeconds > 0 else { throw ValidationError("--prometheus-timeout-seconds must be positive") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level '\(logLevel)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        if !metricsSecure, metricsCertDir != nil {
            throw ValidationError("--metrics-cert-dir needs --metrics-secure=true (plain HTTP uses no certificate)")
        }
        for (flag, file) in [("--prometheus-ca-file", prometheusCaFile), ("--prometheus-bearer-token-file", prometheusBearerTokenFile),
                             ("--mlflow-ca-file", mlflowCaFile), ("--webhook-ca-file", webhookCaFile)] {
            if let file, !FileManager.default.isReadableFile(atPath: file) {
                throw ValidationError("\(flag) \(file) cannot be read")
            }
        }
        if let prometheusUrl, !(prometheusUrl.hasPrefix("http://") || prometheusUrl.hasPrefix("https://")) {
            throw ValidationError("--prometheus-url '\(prometheusUrl)' must start with http:// or https://")
        }
    }

    func run() async throws {
        OperatorLogging.bootstrap(json: jsonLogs, level: Logger.Level(rawValue: logLevel) ?? .info)
        let logger = Logger(label: "sextant-controller")
        let metrics = OperatorMetrics()
        metrics.bootstrapSwiftMetrics()

        let config = try ClusterConfig.load(kubeconfigPath: kubeconfig, context: context)
        var clientOptions = KubeClient.Options()
        clientOptions.qps = kubeApiQps
        clientOptions.burst = kubeApiBurst
        let client = KubeClient(config: config, options: clientOptions)
        var options = ManagerOptions()
        options.leaderElect = leaderElect
        options.leaderElectionID = leaderElectionId
        options.leaderElectionNamespace = leaderElectionNamespace
        options.metricsBindAddress = metricsBindAddress
        if metricsSecure {
            var secure = SecureMetricsOptions(certDirectory: metricsCertDir)
            secure.certName = metricsCertName
            secure.keyName = metricsCertKey
            options.secureMetrics = secure
        }
        options.healthProbeBindAddress = healthProbeBindAddress
        options.namespace = namespace
        options.jsonLogs = jsonLogs
        options.shard = Shard(index: shardIndex, count: shardCount)
        let manager = Manager(client: client, options: options, metrics: metrics)

        var settings = ControllerSettings(prometheusAddress: prometheusUrl, trainerImage: trainerImage, serverImage: serverImage,
                                          prometheusTimeout: .milliseconds(Int64(prometheusTimeoutSeconds * 1000)),
                                          mlflowTrackingURI: mlflowTrackingUri, mlflowCredentials: .fromEnvironment())
        settings.mpiJobs = mpiJobs
        settings.prometheusCAFile = prometheusCaFile
        settings.prometheusBearerTokenFile = prometheusBearerTokenFile
        settings.mlflowCAFile = mlflowCaFile
        settings.webhookCAFile = webhookCaFile
        addTrainingControllers(to: manager, settings: settings, concurrency: concurrency)
        addCanaryRolloutController(to: manager, settings: settings, concurrency: concurrency)
        logger.info("starting", metadata: ["server": "\(config.server)", "namespace": "\(namespace.isEmpty ? "(all)" : namespace)",
                                           "leaderElect": "\(leaderElect)", "lease": "\(manager.leaseName)",
                                           "shard": "\(shardIndex)/\(shardCount)", "allocator": "\(allocatorDescription())"])
        let group = ServiceGroup(configuration: .init(services: [manager], gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        try await group.run()
    }
}

/// Which malloc serves the process, for the start-up log line.
func allocatorDescription() -> String {
    let delay = sextant_mimalloc_decommit_delay()
    return delay < 0 ? "glibc" : "mimalloc, decommit delay \(delay) ms"
}
