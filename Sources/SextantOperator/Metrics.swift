import Metrics
import Prometheus

/// The operator's Prometheus registry, shared by controllers, leader election and `/metrics`.
/// Names follow controller-runtime's (with the `sextant_` prefix) so existing dashboards map over.
public final class OperatorMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let leader: Prometheus.Gauge

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
                version: String = "0.1.0", commit: String = "unknown") {
        self.registry = registry
        registry.makeGauge(descriptor: metric("sextant_build_info", "Build information; the value is always 1."),
                           labels: [("version", version), ("commit", commit), ("component", "sextant-controller")])
            .set(to: 1.0)
        leader = registry.makeGauge(descriptor: metric("sextant_leader_election_master_status",
                                                       "1 while this instance holds the leader lease, 0 otherwise."),
                                    labels: [])
    }

    /// Routes swift-metrics (the Kubernetes client's `sextant_kube_requests_total` and
    /// `sextant_kube_request_duration_seconds`) into this registry. Call once per process.
    public func bootstrapSwiftMetrics() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = ControllerMetrics.durationBuckets
        MetricsSystem.bootstrap(factory)
    }

    /// The registry in Prometheus text format.
    public func render() -> String { registry.emitToString() }
}

/// Metrics of one controller and its work queue.
struct ControllerMetrics: Sendable {
    enum Result: String { case success, error, requeue, requeueAfter = "requeue_after" }

    static let durationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
        .seconds(10), .seconds(30), .seconds(60),
    ]

    let results: [Result: Prometheus.Counter]
    let errors: Prometheus.Counter
    let duration: DurationHistogram
    let depth: Prometheus.Gauge
    let adds: Prometheus.Counter
    let retries: Prometheus.Counter
    let queueWait: DurationHistogram

    init(registry metrics: OperatorMetrics, controller: String) {
        let r = metrics.registry
        let c = [("controller", controller)]
        var results: [Result: Prometheus.Counter] = [:]
        for result in [Result.success, .error, .requeue, .requeueAfter] {
            results[result] = r.makeCounter(descriptor: metric("sextant_reconcile_total", "Reconciles per controller and result."),
                                            labels: c + [("result", result.rawValue)])
        }
        self.results = results
        errors = r.makeCounter(descriptor: metric("sextant_reconcile_errors_total", "Reconciles that returned an error."),
                               labels: c)
        duration = r.makeDurationHistogram(descriptor: metric("sextant_reconcile_time_seconds", "Time per reconcile."),
                                           labels: c, buckets: Self.durationBuckets)
        let q = [("name", controller)]
        depth = r.makeGauge(descriptor: metric("sextant_workqueue_depth", "Keys waiting in the work queue."), labels: q)
        adds = r.makeCounter(descriptor: metric("sextant_workqueue_adds_total", "Keys added to the work queue."), labels: q)
        retries = r.makeCounter(descriptor: metric("sextant_workqueue_retries_total",
                                                   "Keys re-added after a failed reconcile."), labels: q)
        queueWait = r.makeDurationHistogram(
            descriptor: metric("sextant_workqueue_queue_duration_seconds",
                               "Time a key waits in the queue before a worker takes it."),
            labels: q, buckets: Self.durationBuckets)
    }

    func result(_ result: Result) {
        results[result]?.increment()
        if result == .error { errors.increment() }
    }
}

/// A descriptor whose name is used as given (the unit is part of the name already).
func metric(_ name: String, _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
}
