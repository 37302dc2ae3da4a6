import Foundation
import SextantAPI

/// What Prometheus (or a Rollout webhook) answered for one metric.
public enum MetricAnswer: Sendable, Hashable {
    case value(Double)
    case noData
    /// The query could not be answered (Prometheus down, bad PromQL, more than one series, ...).
    case error(String)
}

/// The values substituted into analysis queries.
public struct AnalysisVariables: Sendable, Hashable {
    public var namespace: String
    /// The CanaryRollout's name (`{{ name }}`).
    public var name: String
    public var model: String
    public var stable: String
    public var canary: String
    /// The analysis interval (`{{ interval }}` when the metric sets none), as written (`1m`).
    public var interval: String

    public init(namespace: String, name: String, model: String, stable: String, canary: String, interval: String) {
        self.namespace = namespace
        self.name = name
        self.model = model
        self.stable = stable
        self.canary = canary
        self.interval = interval
    }
}

public enum AnalysisQueries {
    /// Built-in queries over the metrics `sextant-server` exports (docs/model-server.md). They
    /// measure the candidate only (`version="{{ canary }}"`), so the canary's share of traffic
    /// changes the volume, not the value.
    public static func builtIn(_ template: MetricTemplate) -> String {
        let selector = #"namespace="{{ namespace }}", model="{{ model }}", version="{{ canary }}""#
        switch template {
        case .successRate:
            return "sum(rate(sextant_requests_total{\(selector), code!~\"5..\"}[{{ interval }}]))"
                + " / sum(rate(sextant_requests_total{\(selector)}[{{ interval }}]))"
        case .latencyP99:
            return "histogram_quantile(0.99, sum by (le) (rate(sextant_request_duration_seconds_bucket{\(selector)}[{{ interval }}])))"
        case .modelAccuracy:
            return "avg(avg_over_time(sextant_model_accuracy{\(selector)}[{{ interval }}]))"
        case .modelRMSE:
            return "avg(avg_over_time(sextant_model_rmse{\(selector)}[{{ interval }}]))"
        }
    }

    /// The query as sent: the metric's own query or its template, with every variable resolved.
    public static func resolve(_ metric: AnalysisMetric, _ variables: AnalysisVariables) throws -> String {
        let text = metric.query ?? metric.template.map(builtIn) ?? ""
        return try PromQLTemplate.render(text, variables: [
            "namespace": variables.namespace,
            "name": variables.name,
            "model": variables.model,
            "stable": variables.stable,
            "canary": variables.canary,
            "interval": metric.interval ?? variables.interval,
        ])
    }
}

public enum AnalysisEvaluation {
    /// One metric's answer judged against its `thresholdRange` and `noDataPolicy`.
    public static func measure(_ metric: AnalysisMetric, query: String?, answer: MetricAnswer, time: String) -> SextantAPI.Measurement {
        var m = SextantAPI.Measurement(metric: metric.name, outcome: .pass, time: time)
        m.query = query
        switch answer {
        case .error(let message):
            m.outcome = .error
            m.message = message
        case .noData:
            m.outcome = .noData
            m.message = "no data; \(policyText(metric.noDataPolicy ?? .fail))"
        case .value(let v) where v.isNaN:
            m.outcome = .noData
            m.message = "NaN; \(policyText(metric.noDataPolicy ?? .fail))"
        case .value(let v):
            m.value = v
            let range = metric.thresholdRange
            if let min = range.min, v < min {
                m.outcome = .fail
                m.message = "\(format(v)) is below the minimum \(format(min))"
            } else if let max = range.max, v > max {
                m.outcome = .fail
                m.message = "\(format(v)) is above the maximum \(format(max))"
            } else {
                m.message = "within \(rangeText(range))"
            }
        }
        return m
    }

    /// How a measurement counts toward the rollout's counters.
    public enum Effect: Sendable, Hashable { case pass, fail, error, ignore }

    public static func effect(of measurement: SextantAPI.Measurement, policy: NoDataPolicy?) -> Effect {
        switch measurement.outcome {
        case .pass: return .pass
        case .fail: return .fail
        case .error: return .error
        case .noData:
            switch policy ?? .fail {
            case .fail: return .fail
            case .pass: return .pass
            case .error: return .error
            case .ignore: return .ignore
            }
        }
    }

    static func policyText(_ policy: NoDataPolicy) -> String {
        switch policy {
        case .fail: return "noDataPolicy Fail counts it as a failed check"
        case .pass: return "noDataPolicy Pass counts it as passed"
        case .error: return "noDataPolicy Error counts it as a query error"
        case .ignore: return "noDataPolicy Ignore skips it"
        }
    }

    static func rangeText(_ range: ThresholdRange) -> String {
        switch (range.min, range.max) {
        case let (min?, max?): return "[\(format(min)), \(format(max))]"
        case let (min?, nil): return ">= \(format(min))"
        case let (nil, max?): return "<= \(format(max))"
        case (nil, nil): return "any value"
        }
    }

    /// Short, stable rendering for messages (`0.62`, `0.0031`, `1250`).
    public static func format(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String(format: "%.4g", v)
    }
}
