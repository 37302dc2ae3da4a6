// The server's Prometheus metrics (prefix `sextant_`). Names are used by the CanaryRollout and
// TrainingJob examples: sextant_requests_total, sextant_predictions_total{class},
// sextant_feature_psi, sextant_model_accuracy, sextant_model_rmse.
import Foundation
import Prometheus
import Synchronization

func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
}

public final class ServingMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let model: String
    let version: String
    let inFlight: Gauge
    let loaded: Gauge
    let classes: [Counter]
    let scores: ValueHistogram
    /// Created on the first scrape that has labels to compute them from: until then the series is
    /// absent (no sample), so a canary analysis or retrain query sees "no data", not a real 0.
    private let quality = Mutex<QualityGauges>(QualityGauges())
    struct QualityGauges { var accuracy, auc, rmse, mae: Gauge? }
    let labelled: Gauge
    let driftRows: Gauge
    let feedbackMatched: Counter
    let feedbackUnknown: Counter
    let feedbackDuplicate: Counter
    let feedbackRejected: Counter
    /// Per (protocol, code) counters and per-protocol histograms, created on first use: the registry
    /// lookup takes its lock and hashes the labels, too slow for every request.
    private let requests = Mutex<[String: Counter]>([:])
    private let latencies = Mutex<[String: DurationHistogram]>([:])

    static let latencyBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5),
    ]

    public init(model: String, version: String, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.model = model
        self.version = version
        let mv = [("model", model), ("version", version)]
        inFlight = registry.makeGauge(descriptor: descriptor("sextant_requests_in_flight", "Inference requests being served."), labels: mv)
        loaded = registry.makeGauge(descriptor: descriptor("sextant_model_loaded", "1 once the model is loaded and the server is ready."), labels: mv)
        classes = ["0", "1"].map {
            registry.makeCounter(descriptor: descriptor("sextant_predictions_total",
                                                        "Predicted rows by class at the model's decision threshold."),
                                 labels: mv + [("class", $0)])
        }
        scores = registry.makeValueHistogram(
            descriptor: descriptor("sextant_prediction_score", "Distribution of predicted probabilities."),
            labels: mv, buckets: stride(from: 0.1, through: 1.0, by: 0.1).map { ($0 * 10).rounded() / 10 })
        labelled = registry.makeGauge(descriptor: descriptor("sextant_feedback_window_rows",
                                                             "Labelled rows behind sextant_model_accuracy, sextant_model_auc, sextant_model_rmse and sextant_model_mae."), labels: mv)
        driftRows = registry.makeGauge(descriptor: descriptor("sextant_drift_window_rows",
                                                              "Live rows behind sextant_feature_psi and sextant_feature_ks."), labels: mv)
        // One registration per result, each naming the metric (hack/check-monitoring.py reads the
        // exported names and labels from these calls).
        let feedbackHelp = "Feedback labels (one per row) received, by result."
        feedbackMatched = registry.makeCounter(descriptor: descriptor("sextant_feedback_total", feedbackHelp),
                                               labels: mv + [("result", "matched")])
        feedbackUnknown = registry.makeCounter(descriptor: descriptor("sextant_feedback_total", feedbackHelp),
                                               labels: mv + [("result", "unknown_id")])
        feedbackDuplicate = registry.makeCounter(descriptor: descriptor("sextant_feedback_total", feedbackHelp),
                                                 labels: mv + [("result", "duplicate")])
        feedbackRejected = registry.makeCounter(descriptor: descriptor("sextant_feedback_total", feedbackHelp),
                                                labels: mv + [("result", "rejected")])
    }

    func request(protocol proto: String, code: Int, duration: Duration) {
        let key = "\(proto)|\(code)"
        let counter = requests.withLock { cache in
            if let c = cache[key] { return c }
            let c = registry.makeCounter(
                descriptor: descriptor("sextant_requests_total", "Inference requests by protocol and HTTP status code."),
                labels: [("model", model), ("version", version), ("protocol", proto), ("code", String(code))])
            cache[key] = c
            return c
        }
        counter.increment()
        let histogram = latencies.withLock { cache in
            if let h = cache[proto] { return h }
            let h = registry.makeDurationHistogram(
                descriptor: descriptor("sextant_request_duration_seconds", "Inference request latency, reading the body to writing the response."),
                labels: [("model", model), ("version", version), ("protocol", proto)], buckets: Self.latencyBuckets)
            cache[proto] = h
            return h
        }
        histogram.record(duration)
    }

    func predictions(_ probabilities: [Double], threshold: Double) {
        var positives = 0
        for p in probabilities {
            scores.record(p)
            if p >= threshold { positives += 1 }
        }
        if positives > 0 { classes[1].increment(by: Int64(positives)) }
        if positives < probabilities.count { classes[0].increment(by: Int64(probabilities.count - positives)) }
    }

    /// Counts one feedback post, in labels (rows) for every result.
    func feedback(_ result: FeedbackStore.Result) {
        if result.matched > 0 { feedbackMatched.increment(by: Int64(result.matched)) }
        if result.unknownLabels > 0 { feedbackUnknown.increment(by: Int64(result.unknownLabels)) }
        if result.duplicate > 0 { feedbackDuplicate.increment(by: Int64(result.duplicate)) }
        if result.rejectedLabels > 0 { feedbackRejected.increment(by: Int64(result.rejectedLabels)) }
    }

    /// Drift gauges by feature (created on the first scrape that has data).
    private let drift = Mutex<[String: (Gauge, Gauge?)]>([:])

    /// Recomputes the gauges that are derived from windows; called on every scrape.
    func refresh(drift monitor: DriftMonitor?, feedback: FeedbackStore?) {
        if let monitor {
            driftRows.set(to: Double(monitor.rowCount))
            for d in monitor.snapshot() {
                let (psi, ks) = drift.withLock { cache in
                    if let g = cache[d.feature] { return g }
                    let labels = [("model", model), ("version", version), ("feature", d.feature)]
                    let psi = registry.makeGauge(descriptor: descriptor("sextant_feature_psi",
                        "Population stability index of the feature over the live window against the training reference."), labels: labels)
                    let ks = d.ks == nil ? nil : registry.makeGauge(descriptor: descriptor("sextant_feature_ks",
                        "Kolmogorov-Smirnov statistic of the feature over the live window against the training reference."), labels: labels)
                    cache[d.feature] = (psi, ks)
                    return (psi, ks)
                }
                psi.set(to: d.psi)
                if let v = d.ks { ks?.set(to: v) }
            }
        }
        guard let q = feedback?.quality() else { labelled.set(to: 0); return }
        labelled.set(to: Double(q.rows))
        let mv = [("model", model), ("version", version)]
        // Each gauge is made when its figure first exists (AUC needs both classes among the labels).
        func gauge(_ slot: WritableKeyPath<QualityGauges, Gauge?>, _ value: Double?, _ make: () -> Gauge) {
            guard let value else { return }
            let g = quality.withLock { g in
                if g[keyPath: slot] == nil { g[keyPath: slot] = make() }
                return g[keyPath: slot]
            }
            g?.set(to: value)
        }
        gauge(\.accuracy, q.accuracy) { registry.makeGauge(descriptor: descriptor("sextant_model_accuracy",
            "Accuracy over the most recent rows with feedback labels (classifiers; absent until a label arrives)."), labels: mv) }
        gauge(\.auc, q.auc) { registry.makeGauge(descriptor: descriptor("sextant_model_auc",
            "ROC AUC over the most recent rows with feedback labels (binary classifiers; absent until both classes were seen)."), labels: mv) }
        gauge(\.rmse, q.rmse) { registry.makeGauge(descriptor: descriptor("sextant_model_rmse",
            "Root mean squared error over the most recent rows with feedback labels (regression; absent until a label arrives)."), labels: mv) }
        gauge(\.mae, q.mae) { registry.makeGauge(descriptor: descriptor("sextant_model_mae",
            "Mean absolute error over the most recent rows with feedback labels (regression; absent until a label arrives)."), labels: mv) }
    }
}
