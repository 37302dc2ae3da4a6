import Foundation

/// Process-wide settings of `sextant-controller`, from its flags. Each reconciler reads only
/// what it needs; every field has the default the flag documents.
public struct ControllerSettings: Sendable {
    /// `--prometheus-url`: used when a resource names no Prometheus address of its own.
    public var prometheusAddress: String?
    /// `--trainer-image`: the `sextant-trainer` image of this release.
    public var trainerImage: String
    /// `--server-image`: the `sextant-server` image of this release.
    public var serverImage: String
    /// Timeout of one PromQL query when a resource sets none.
    public var prometheusTimeout: Duration
    /// `--prometheus-ca-file`: PEM CA bundle that verifies HTTPS Prometheus servers (besides the
    /// system's), for endpoints whose Secret has no `ca.crt` of its own.
    public var prometheusCAFile: String?
    /// `--prometheus-bearer-token-file`: bearer token for the `--prometheus-url` Prometheus, read
    /// before each query (a projected, rotated token keeps working).
    public var prometheusBearerTokenFile: String?
    /// The wall clock. Tests move it; every timer is computed from timestamps in status and this.
    public var now: @Sendable () -> Date
    /// `--mlflow-tracking-uri`: report finished training runs to this MLflow tracking server
    /// (docs/training.md#mlflow); nil turns reporting off.
    public var mlflowTrackingURI: String?
    /// Credentials for the MLflow server (`MLFLOW_TRACKING_TOKEN`, or `MLFLOW_TRACKING_USERNAME`
    /// and `MLFLOW_TRACKING_PASSWORD`, in the controller's environment).
    public var mlflowCredentials: MLflowCredentials?
    /// `--mlflow-ca-file`: PEM CA bundle that verifies an HTTPS MLflow server (besides the
    /// system's). Certificates are always verified.
    public var mlflowCAFile: String?
    /// `--webhook-ca-file`: PEM CA bundle that verifies https rollout webhooks and notification
    /// targets (besides the system's) whose Secret has no `ca.crt`. Certificates are always verified.
    public var webhookCAFile: String?
    /// How soon a report that failed (MLflow down) is tried again.
    public var mlflowRetryInterval: Duration
    /// Retries, backoff and rate limit of `spec.notifications` (docs/notifications.md).
    public var notificationDelivery = NotificationDeliveryPolicy()
    /// How often a running trainer's log is read for its progress (docs/training.md#progress).
    public var trainingProgressInterval: TimeInterval = 5
    /// `--mpi-jobs`: TrainingJobs with `spec.workers` > 1 run as Kubeflow MPIJobs (the MPI
    /// Operator's CRD must be installed; the controller watches `mpijobs.kubeflow.org`). Off: such
    /// TrainingJobs are `Invalid`, naming the flag.
    public var mpiJobs = false

    public init(prometheusAddress: String? = nil,
                trainerImage: String = "ghcr.io/sextant-dev/sextant-trainer:latest",
                serverImage: String = "ghcr.io/sextant-dev/sextant-server:latest",
                prometheusTimeout: Duration = .seconds(10),
                now: @escaping @Sendable () -> Date = { Date() },
                mlflowTrackingURI: String? = nil,
                mlflowCredentials: MLflowCredentials? = nil,
                mlflowRetryInterval: Duration = .seconds(30)) {
        self.prometheusAddress = prometheusAddress
        self.trainerImage = trainerImage
        self.serverImage = serverImage
        self.prometheusTimeout = prometheusTimeout
        self.now = now
        self.mlflowTrackingURI = mlflowTrackingURI
        self.mlflowCredentials = mlflowCredentials
        self.mlflowRetryInterval = mlflowRetryInterval
    }
}
