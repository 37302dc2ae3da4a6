import Foundation
import SextantAPI

/// Shadow-stage agreement between the candidate and the stable version: the population stability
/// index (PSI) between the two versions' distributions of predicted scores over the same window,
/// from the `sextant_prediction_score` histogram both servers export (fixed buckets 0.1 ... 1.0).
/// In the shadow strategy both versions see the same requests (the candidate a mirrored copy), so
/// a model that agrees with stable has nearly the same score distribution, and one that answers
/// differently does not. A pure function: per-bucket counts in, decision out.
///
///     PSI = Σ_i (c_i − s_i) · ln(c_i / s_i)     c_i, s_i: share of predictions in bin i
///
/// with shares smoothed by half a prediction per bin ((n_i + ½)/(n + k/2)), so an empty bin
/// is finite. PSI is symmetric and 0 for identical distributions; the usual reading is < 0.1 no
/// shift, 0.1–0.25 moderate, > 0.25 large. The KS distance of the binned distributions
/// (largest difference of the two CDFs at the bucket bounds) is reported beside it.
public enum PredictionShift {
    public struct Decision: Sendable, Hashable {
        public var outcome: Outcome
        public var psi: Double?
        public var ks: Double?
        public var message: String
    }

    public enum Outcome: String, Sendable, Hashable {
        case pass, fail, insufficientData, invalid
    }

    /// `stable`/`canary`: cumulative bucket counts by upper bound (`le`, +Inf for the last), as
    /// `sum by (le) (increase(sextant_prediction_score_bucket{…}[window]))` answers them.
    public static func decide(stable: [Double: Double], canary: [Double: Double], maxPSI: Double, minSamples: Double) -> Decision {
        guard !stable.isEmpty, !canary.isEmpty else {
            return Decision(outcome: .insufficientData, message: "no prediction histogram for the \(stable.isEmpty ? "stable version" : "candidate") yet")
        }
        guard Set(stable.keys) == Set(canary.keys) else {
            return Decision(outcome: .invalid, message: "the versions' histograms have different buckets: stable \(bounds(stable)), candidate \(bounds(canary))")
        }
        guard (stable.values.allSatisfy { $0.isFinite && $0 >= 0 }), (canary.values.allSatisfy { $0.isFinite && $0 >= 0 }) else {
            return Decision(outcome: .invalid, message: "a bucket count is negative or not a number")
        }
        let s = bins(stable), c = bins(canary)
        let ns = s.reduce(0, +), nc = c.reduce(0, +)
        guard ns >= minSamples, nc >= minSamples, ns > 0, nc > 0 else {
            return Decision(outcome: .insufficientData,
                            message: "\(format(nc)) candidate and \(format(ns)) stable predictions; at least \(format(minSamples)) each are needed to compare")
        }
        let k = Double(s.count)
        var psi = 0.0, ks = 0.0, cs = 0.0, cc = 0.0
        for (si, ci) in zip(s, c) {
            let ps = (si + 0.5) / (ns + k / 2), pc = (ci + 0.5) / (nc + k / 2)
            psi += (pc - ps) * log(pc / ps)
            cs += si / ns
            cc += ci / nc
            ks = max(ks, abs(cc - cs))
        }
        let fail = psi > maxPSI
        let message = "PSI \(format(psi)) (KS \(format(ks))) between the candidate's \(format(nc)) and stable's \(format(ns)) predictions: "
            + (fail ? "above \(format(maxPSI)), the candidate's predictions diverge" : "within \(format(maxPSI))")
        return Decision(outcome: fail ? .fail : .pass, psi: psi, ks: ks, message: message)
    }

    /// Per-bin counts in bucket order from cumulative counts (a small negative step, which
    /// `increase()`'s extrapolation can give, counts as 0).
    static func bins(_ cumulative: [Double: Double]) -> [Double] {
        var previous = 0.0
        return cumulative.keys.sorted().map { le in
            let value = cumulative[le] ?? 0
            defer { previous = max(previous, value) }
            return max(0, value - previous)
        }
    }

    static func bounds(_ buckets: [Double: Double]) -> String {
        "[" + buckets.keys.sorted().map(format).joined(separator: ", ") + "]"
    }

    static func format(_ value: Double) -> String { value.isInfinite ? "+Inf" : CanaryComparison.format(value) }

    /// The query for one version's histogram; `{{ … }}` resolved like a metric's, plus `version`.
    public static let queryTemplate = #"sum by (le) (increase(sextant_prediction_score_bucket{namespace="{{ namespace }}", model="{{ model }}", version="{{ version }}"}[{{ interval }}]))"#

    public static func query(version: String, interval: String?, _ variables: AnalysisVariables) throws -> String {
        try PromQLTemplate.render(queryTemplate, variables: [
            "namespace": variables.namespace, "name": variables.name, "model": variables.model,
            "stable": variables.stable, "canary": variables.canary, "version": version,
            "interval": interval ?? variables.interval,
        ])
    }

    /// The measurement `predictionShift`: value PSI, outcome pass/fail, no data while either side
    /// has fewer than `minSamples` predictions (the machine holds the step on it).
    public static func measure(_ check: PredictionShiftCheck, query: String, stable: Result<[Double: Double], AnalysisQueryError>,
                               canary: Result<[Double: Double], AnalysisQueryError>, time: String) -> SextantAPI.Measurement {
        var m = SextantAPI.Measurement(metric: PredictionShiftCheck.metricName, outcome: .pass, time: time)
        m.query = query
        let s: [Double: Double], c: [Double: Double]
        switch (stable, canary) {
        case (.failure(let e), _), (_, .failure(let e)):
            m.outcome = .error
            m.message = e.message
            return m
        case (.success(let a), .success(let b)):
            s = a
            c = b
        }
        let decision = decide(stable: s, canary: c, maxPSI: check.maxPSI ?? 0.1, minSamples: Double(check.minSamples ?? 200))
        m.value = decision.psi
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

/// A query that could not be answered, with the reason.
public struct AnalysisQueryError: Error, Sendable, Hashable {
    public var message: String
    public init(_ message: String) { self.message = message }
}
