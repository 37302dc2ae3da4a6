import Foundation
import SextantAPI

/// Canary-versus-stable comparison of a success proportion (non-5xx predictions, or correct
/// predictions from feedback labels): is the candidate worse than the stable version on the same
/// traffic by more than an allowed margin? A pure function: counts in, decision out.
///
/// The test is the one-sided non-inferiority two-proportion Wald z-test (e.g. Chow, Shao & Wang,
/// "Sample Size Calculations in Clinical Research", §4.2; statsmodels'
/// `test_proportions_2indep(method="wald", compare="diff", alternative="smaller")`):
///
///     H0: p_canary − p_stable ≥ −δ   (no worse than the margin δ = maxDegradation)
///     H1: p_canary − p_stable < −δ   (degraded)
///     z = (p̂_c − p̂_s + δ) / sqrt(p̂_c(1−p̂_c)/n_c + p̂_s(1−p̂_s)/n_s),   p = Φ(z)
///
/// The candidate fails when p < 1 − confidence: degradation beyond δ is established at that
/// confidence. Otherwise it passes (no evidence of degradation). Below `minSamples` on either side
/// there is no decision (`insufficientData`), which never counts as a failure.
public enum CanaryComparison {
    public struct Counts: Sendable, Hashable {
        public var successes: Double
        public var total: Double
        public init(successes: Double, total: Double) {
            self.successes = successes
            self.total = total
        }
        public var proportion: Double { successes / total }
    }

    public struct Settings: Sendable, Hashable {
        /// δ: how much lower the canary's proportion may be (0.01 = one percentage point).
        public var maxDegradation: Double
        /// 1 − α of the one-sided test.
        public var confidence: Double
        /// Fewest events on each side before deciding.
        public var minSamples: Double
        public init(maxDegradation: Double = 0.01, confidence: Double = 0.95, minSamples: Double = 100) {
            self.maxDegradation = maxDegradation
            self.confidence = confidence
            self.minSamples = minSamples
        }
    }

    public enum Outcome: String, Sendable, Hashable {
        /// No evidence that the canary is worse than stable by more than δ.
        case pass
        /// The canary is worse than stable by more than δ, at the stated confidence.
        case fail
        /// Too few events on one side: no decision, not a failure.
        case insufficientData
        /// The counts are unusable (negative, NaN, more successes than events).
        case invalid
    }

    public struct Decision: Sendable, Hashable {
        public var outcome: Outcome
        /// p_canary − p_stable (nil without data).
        public var difference: Double?
        public var zScore: Double?
        /// One-sided p-value of H0 "no worse than δ".
        public var pValue: Double?
        public var message: String
    }

    public static func decide(stable: Counts, canary: Counts, settings: Settings) -> Decision {
        for (side, counts) in [("stable", stable), ("canary", canary)] {
            let values = [counts.successes, counts.total]
            guard values.allSatisfy({ $0.isFinite && $0 >= 0 }), counts.successes <= counts.total else {
                return Decision(outcome: .invalid, message: "the \(side) counts are unusable: \(format(counts.successes)) successes of \(format(counts.total)) events")
            }
        }
        guard settings.maxDegradation >= 0, settings.maxDegradation < 1, settings.confidence > 0, settings.confidence < 1 else {
            return Decision(outcome: .invalid, message: "maxDegradation must be in [0, 1) and confidence in (0, 1)")
        }
        guard stable.total >= settings.minSamples, canary.total >= settings.minSamples, stable.total > 0, canary.total > 0 else {
            return Decision(outcome: .insufficientData,
                            message: "\(format(canary.total)) canary and \(format(stable.total)) stable events; at least \(format(settings.minSamples)) each are needed to decide")
        }
        let pc = canary.proportion, ps = stable.proportion
        let difference = pc - ps
        let se = (pc * (1 - pc) / canary.total + ps * (1 - ps) / stable.total).squareRoot()
        let shifted = difference + settings.maxDegradation
        let z: Double?
        let p: Double
        if se > 0 {
            z = shifted / se
            p = normalCDF(shifted / se)
        } else {
            // Both proportions are 0 or 1: no sampling variance, the difference is exact.
            z = nil
            p = shifted < 0 ? 0 : 1
        }
        let alpha = 1 - settings.confidence
        let outcome: Outcome = p < alpha ? .fail : .pass
        let verdict = outcome == .fail
            ? "worse than stable by more than \(format(settings.maxDegradation))"
            : "no evidence of degradation beyond \(format(settings.maxDegradation))"
        let message = "canary \(format(pc)) (\(format(canary.successes))/\(format(canary.total))) vs stable \(format(ps)) (\(format(stable.successes))/\(format(stable.total))): p = \(format(p)) \(outcome == .fail ? "<" : "≥") \(format(alpha)), \(verdict)"
        return Decision(outcome: outcome, difference: difference, zScore: z, pValue: p, message: message)
    }

    /// Φ(z), the standard normal CDF, through erfc (accurate in both tails).
    public static func normalCDF(_ z: Double) -> Double { 0.5 * erfc(-z / 2.0.squareRoot()) }

    public static func format(_ value: Double) -> String {
        if value.rounded() == value, abs(value) < 1e15 { return String(Int64(value)) }
        return String(format: "%.4g", value)
    }
}

// MARK: Queries and measurement

extension AnalysisQueries {
    /// The success and total queries of a comparison, `{{ version }}` still unresolved. The
    /// built-in pairs count events over `{{ interval }}` with the same selector as the metric
    /// templates, for one version.
    public static func comparisonTemplates(_ metric: ComparisonMetric) -> (successes: String, total: String) {
        let selector = #"namespace="{{ namespace }}", model="{{ model }}", version="{{ version }}""#
        switch metric.template {
        case .successRate?:
            return ("sum(increase(sextant_requests_total{\(selector), code!~\"5..\"}[{{ interval }}]))",
                    "sum(increase(sextant_requests_total{\(selector)}[{{ interval }}]))")
        case .modelAccuracy?:
            // Accuracy × labelled rows = correct rows of the same window.
            return ("sum(sextant_model_accuracy{\(selector)} * sextant_feedback_window_rows{\(selector)})",
                    "sum(sextant_feedback_window_rows{\(selector)})")
        case nil:
            return (metric.successQuery ?? "", metric.totalQuery ?? "")
        }
    }

    /// Both queries for one version, every variable resolved.
    public static func resolve(_ metric: ComparisonMetric, version: String, _ variables: AnalysisVariables) throws
        -> (successes: String, total: String)
    {
        let values = [
            "namespace": variables.namespace, "name": variables.name, "model": variables.model,
            "stable": variables.stable, "canary": variables.canary, "version": version,
            "interval": metric.interval ?? variables.interval,
        ]
        let (successes, total) = comparisonTemplates(metric)
        return (try PromQLTemplate.render(successes, variables: values), try PromQLTemplate.render(total, variables: values))
    }
}

extension AnalysisEvaluation {
    /// A comparison's four answers (successes and total of stable and of canary) judged by
    /// `CanaryComparison`. An empty answer counts as no events (a version that served nothing has
    /// no evidence either way); a query error is a query error. The value recorded is the p-value.
    ///
    /// A stable version without any series for the total while the candidate has one is a query
    /// error naming `field` (the comparison's path in the spec): the query does not select the
    /// stable version (wrong labels, a metric only the candidate exports), so it can never decide.
    public static func measure(_ metric: ComparisonMetric, query: String, stable: (successes: MetricAnswer, total: MetricAnswer),
                               canary: (successes: MetricAnswer, total: MetricAnswer), time: String,
                               field: String? = nil) -> SextantAPI.Measurement {
        var m = SextantAPI.Measurement(metric: metric.name, outcome: .pass, time: time)
        m.query = query
        if case .noData = stable.total, case .value(let v) = canary.total, v > 0 {
            m.outcome = .error
            m.message = "\(field ?? "comparison \(metric.name)"): the stable version has no series for the total query while the candidate has \(format(v)) events: the query does not select the stable version (its labels, or a metric the stable server does not export)"
            return m
        }
        var counts: [Double] = []
        for answer in [stable.successes, stable.total, canary.successes, canary.total] {
            switch answer {
            case .error(let message):
                m.outcome = .error
                m.message = message
                return m
            case .noData: counts.append(0)
            case .value(let v): counts.append(v.isNaN ? 0 : v)
            }
        }
        let settings = CanaryComparison.Settings(maxDegradation: metric.maxDegradation ?? 0.01, confidence: metric.confidence ?? 0.95,
                                                 minSamples: Double(metric.minSamples ?? 200))
        let stableCounts = CanaryComparison.Counts(successes: counts[0], total: counts[1])
        let canaryCounts = CanaryComparison.Counts(successes: counts[2], total: counts[3])
        if metric.test == .sequential {
            // Inconclusive is no data too: the machine holds the step on a sequential comparison's no data.
            let decision = SequentialComparison.decide(stable: stableCounts, canary: canaryCounts, settings: settings)
            m.value = decision.pValue
            m.message = decision.message
            switch decision.outcome {
            case .pass: m.outcome = .pass
            case .fail: m.outcome = .fail
            case .inconclusive, .insufficientData: m.outcome = .noData
            case .invalid: m.outcome = .error
            }
            return m
        }
        let decision = CanaryComparison.decide(stable: stableCounts, canary: canaryCounts, settings: settings)
        m.value = decision.pValue
        m.message = decision.message
        switch decision.outcome {
        case .pass: m.outcome = .pass
        case .fail: m.outcome = .fail
        case .insufficientData: m.outcome = .noData
        case .invalid: m.outcome = .error
        }
        return m
    }
}
