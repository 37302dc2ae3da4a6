import Foundation
import SextantAPI
import SextantDomain
import SextantTestSupport
import Testing

/// Successes of `n` Bernoulli(p) draws.
private func binomial(_ n: Int, _ p: Double, _ rng: inout SeededGenerator) -> Double {
    var k = 0
    for _ in 0..<n where Double.random(in: 0..<1, using: &rng) < p { k += 1 }
    return Double(k)
}

@Suite struct CanaryComparisonTests {
    private let settings = CanaryComparison.Settings(maxDegradation: 0.01, confidence: 0.95, minSamples: 100)

    private func decide(_ ss: Double, _ sn: Double, _ cs: Double, _ cn: Double,
                        _ settings: CanaryComparison.Settings? = nil) -> CanaryComparison.Decision {
        CanaryComparison.decide(stable: .init(successes: ss, total: sn), canary: .init(successes: cs, total: cn),
                                settings: settings ?? self.settings)
    }

    /// p-values of the same test computed by scipy.stats (the normal CDF of the Wald statistic)
    /// in a separate Python process, for a table of counts and margins.
    @Test func pValuesMatchScipy() throws {
        guard try Tooling.available("python3 with scipy", Tooling.pythonHas(["scipy"])) else { return }
        let cases: [(Double, Double, Double, Double, Double)] = [
            (980, 1000, 975, 1000, 0.01), (980, 1000, 940, 1000, 0.01), (9_900, 10_000, 9_850, 10_000, 0.0),
            (500, 1000, 530, 1000, 0.02), (195, 200, 180, 200, 0.01), (70_000, 100_000, 69_000, 100_000, 0.005),
            (999, 1000, 990, 1000, 0.0), (300, 400, 250, 400, 0.05),
        ]
        let rows = cases.map { "(\($0.0), \($0.1), \($0.2), \($0.3), \($0.4))" }.joined(separator: ", ")
        let script = """
        import math, scipy.stats as st
        for ss, sn, cs, cn, d in [\(rows)]:
            ps, pc = ss / sn, cs / cn
            se = math.sqrt(ps * (1 - ps) / sn + pc * (1 - pc) / cn)
            print(repr(float(st.norm.cdf((pc - ps + d) / se))))
        """
        let (code, output) = try runCommand("/usr/bin/env", ["python3", "-c", script])
        #expect(code == 0, "\(output)")
        let expected = output.split(separator: "\n").compactMap { Double($0) }
        #expect(expected.count == cases.count, "\(output)")
        for (c, p) in zip(cases, expected) {
            let decision = decide(c.0, c.1, c.2, c.3, .init(maxDegradation: c.4, confidence: 0.95, minSamples: 100))
            let ours = try #require(decision.pValue)
            #expect(abs(ours - p) <= 1e-12 + 1e-9 * p, "\(c): ours \(ours), scipy \(p)")
            #expect(decision.outcome == (p < 0.05 ? .fail : .pass), "\(c)")
        }
    }

    @Test func knownDecisions() {
        // 98.0% vs 94.0% on 1000 each: 4 points worse, far beyond 1 point.
        let worse = decide(980, 1000, 940, 1000)
        #expect(worse.outcome == .fail)
        #expect((worse.difference ?? 0) < -0.039 && (worse.difference ?? 0) > -0.041)
        #expect(worse.message.contains("worse than stable by more than 0.01"), "\(worse.message)")
        // Same proportions: no evidence of degradation.
        #expect(decide(980, 1000, 980, 1000).outcome == .pass)
        // A better canary passes.
        #expect(decide(900, 1000, 990, 1000).outcome == .pass)
        // Both perfect: no variance, the difference is exact.
        let perfect = decide(500, 500, 500, 500)
        #expect(perfect.outcome == .pass && perfect.pValue == 1 && perfect.zScore == nil)
        #expect(decide(500, 500, 0, 500).outcome == .fail)
    }

    @Test func tooFewEventsIsNoDecisionNeverAFailure() {
        let few = decide(10, 10, 0, 10)
        #expect(few.outcome == .insufficientData)
        #expect(few.pValue == nil)
        #expect(few.message.contains("at least 100"), "\(few.message)")
        #expect(decide(0, 0, 0, 0).outcome == .insufficientData)
        #expect(decide(980, 1000, 0, 99).outcome == .insufficientData)
    }

    @Test func unusableCountsAreNamedNotDecided() {
        #expect(decide(11, 10, 5, 200).outcome == .invalid)
        #expect(decide(-1, 200, 5, 200).outcome == .invalid)
        #expect(decide(.nan, 200, 5, 200).outcome == .invalid)
        #expect(decide(5, .infinity, 5, 200).outcome == .invalid)
        #expect(decide(100, 200, 100, 200, .init(maxDegradation: 0.01, confidence: 1.0, minSamples: 1)).outcome == .invalid)
    }

    /// Simulated rollouts where the truth is known. At the margin (candidate exactly δ worse) the
    /// test fails the candidate at its stated rate α; a candidate equal to stable almost never;
    /// one 2 points worse (δ = 1 point) almost always once 10,000 events are in.
    @Test func errorRatesHoldOnSimulatedRollouts() {
        var rng = SeededGenerator(state: 18)
        func failRate(stable: Double, canary: Double, n: Int, runs: Int) -> Double {
            var fails = 0
            for _ in 0..<runs {
                let d = decide(binomial(n, stable, &rng), Double(n), binomial(n, canary, &rng), Double(n))
                if d.outcome == .fail { fails += 1 }
            }
            return Double(fails) / Double(runs)
        }
        let boundary = failRate(stable: 0.95, canary: 0.94, n: 2000, runs: 600)
        let equal = failRate(stable: 0.95, canary: 0.95, n: 2000, runs: 200)
        let twoPointsWorse = failRate(stable: 0.98, canary: 0.96, n: 10_000, runs: 200)
        print("comparison fail rates: at the margin \(boundary) (α 0.05), equal \(equal), 2 points worse \(twoPointsWorse)")
        #expect(boundary > 0.02 && boundary < 0.085, "at the margin the false-rollback rate is α: \(boundary)")
        #expect(equal <= 0.05, "equal candidate rolled back in \(equal)")
        #expect(twoPointsWorse >= 0.95, "2 points worse rolled back in only \(twoPointsWorse)")
    }

    @Test func measurementFromPrometheusAnswers() {
        var metric = ComparisonMetric(name: "accuracy-vs-stable", template: .modelAccuracy)
        metric.minSamples = 100
        let failing = AnalysisEvaluation.measure(metric, query: "q", stable: (.value(980), .value(1000)),
                                                 canary: (.value(900), .value(1000)), time: "t")
        #expect(failing.outcome == .fail && (failing.value ?? 1) < 0.05)
        // No series at all for the fresh canary: no data (the machine ignores it), not a failure.
        let fresh = AnalysisEvaluation.measure(metric, query: "q", stable: (.value(980), .value(1000)),
                                               canary: (.noData, .noData), time: "t")
        #expect(fresh.outcome == .noData && fresh.value == nil)
        let broken = AnalysisEvaluation.measure(metric, query: "q", stable: (.error("down"), .value(1000)),
                                                canary: (.value(1), .value(1)), time: "t")
        #expect(broken.outcome == .error && broken.message == "down")
    }

    @Test func builtInQueriesNameTheVersion() throws {
        let variables = AnalysisVariables(namespace: "ml", name: "fraud", model: "fraud", stable: "v1", canary: "v2", interval: "1m")
        let stable = try AnalysisQueries.resolve(ComparisonMetric(name: "sr", template: .successRate), version: "v1", variables)
        #expect(stable.successes == #"sum(increase(sextant_requests_total{namespace="ml", model="fraud", version="v1", code!~"5.."}[1m]))"#)
        #expect(stable.total == #"sum(increase(sextant_requests_total{namespace="ml", model="fraud", version="v1"}[1m]))"#)
        let accuracy = try AnalysisQueries.resolve(ComparisonMetric(name: "acc", template: .modelAccuracy), version: "v2", variables)
        #expect(accuracy.successes.contains("sextant_model_accuracy") && accuracy.successes.contains(#"version="v2""#))
        #expect(accuracy.total == #"sum(sextant_feedback_window_rows{namespace="ml", model="fraud", version="v2"})"#)
    }
}
