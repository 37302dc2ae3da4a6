import Foundation
import SextantAPI
import SextantDomain
import SextantTestSupport
import Testing

/// The simulated rollouts use a seeded generator, so they are the same on every run.
extension SeededGenerator {
    /// Failures among `n` Bernoulli trials with failure probability `q`, exactly, by geometric
    /// gaps between failures (cost proportional to the failures, not to `n`).
    mutating func failures(_ n: Int, _ q: Double) -> Int {
        guard q > 0 else { return 0 }
        let logKeep = log1p(-q)
        var position = 0, count = 0
        while true {
            let u = Double.random(in: Double.ulpOfOne..<1, using: &self)
            position += Int(log(u) / logKeep) + 1
            if position > n { return count }
            count += 1
        }
    }
}

/// Prometheus-like cumulative counters of one version (`sextant_requests_total` all codes and
/// non-5xx), scraped every 15 s.
private struct ScrapedCounters {
    var total = 0.0, successes = 0.0
}

@Suite struct SequentialComparisonTests {
    private static let settings = CanaryComparison.Settings(maxDegradation: 0.01, confidence: 0.95, minSamples: 200)

    private func decide(_ ss: Double, _ sn: Double, _ cs: Double, _ cn: Double,
                        _ settings: CanaryComparison.Settings = settings) -> SequentialComparison.Decision {
        SequentialComparison.decide(stable: .init(successes: ss, total: sn), canary: .init(successes: cs, total: cn), settings: settings)
    }

    /// log Λ of both one-sided tests computed by scipy (norm.logcdf for log Φ) in a separate
    /// process from the formula in docs/canary.md, for a table of counts and margins.
    @Test func mixtureStatisticsMatchScipy() throws {
        guard try Tooling.available("python3 with scipy", Tooling.pythonHas(["scipy"])) else { return }
        let cases: [(Double, Double, Double, Double, Double)] = [
            (980, 1000, 975, 1000, 0.01), (9_800, 10_000, 9_600, 10_000, 0.01), (9_900, 10_000, 9_850, 10_000, 0.0),
            (500, 1000, 530, 1000, 0.02), (195, 200, 180, 200, 0.01), (70_000, 100_000, 69_000, 100_000, 0.005),
            (999, 1000, 990, 1000, 0.0), (300, 400, 250, 400, 0.05), (50_000, 50_000, 3_000, 3_000, 0.01),
            (90_000, 100_000, 5_000, 10_000, 0.01),
        ]
        let rows = cases.map { "(\($0.0), \($0.1), \($0.2), \($0.3), \($0.4))" }.joined(separator: ", ")
        let script = """
        import math
        from scipy.stats import norm
        def log_mixture(s, v, rho):
            a = rho + v
            return math.log(2) + 0.5 * math.log(rho / a) + s * s / (2 * a) + norm.logcdf(s / math.sqrt(a))
        for xs, ns, xc, nc, d in [\(rows)]:
            ps, pc = (xs + 0.5) / (ns + 1), (xc + 0.5) / (nc + 1)
            v = 1 / (pc * (1 - pc) / nc + ps * (1 - ps) / ns)
            s = (xc / nc - xs / ns + d) * v
            tau = d if d > 0 else 0.01
            print(repr(float(log_mixture(-s, v, 1 / tau ** 2))), repr(float(log_mixture(s, v, 1 / tau ** 2))))
        """
        let (code, output) = try runCommand("/usr/bin/env", ["python3", "-c", script])
        #expect(code == 0, "\(output)")
        let expected = output.split(separator: "\n").map { $0.split(separator: " ").compactMap { Double($0) } }
        #expect(expected.count == cases.count && expected.allSatisfy { $0.count == 2 }, "\(output)")
        for (c, reference) in zip(cases, expected) where reference.count == 2 {
            let ours = SequentialComparison.logMixtures(stable: .init(successes: c.0, total: c.1), canary: .init(successes: c.2, total: c.3),
                                                        maxDegradation: c.4)
            #expect(abs(ours.fail - reference[0]) <= 1e-9 * max(1, abs(reference[0])), "\(c) fail: ours \(ours.fail), scipy \(reference[0])")
            #expect(abs(ours.pass - reference[1]) <= 1e-9 * max(1, abs(reference[1])), "\(c) pass: ours \(ours.pass), scipy \(reference[1])")
        }
    }

    @Test func knownDecisions() {
        // 96 % vs 98 % on 10,000 each: 2 points worse, 1 beyond the margin.
        let worse = decide(9_800, 10_000, 9_600, 10_000)
        #expect(worse.outcome == .fail, "\(worse.message)")
        #expect((worse.pValue ?? 1) < 0.05)
        #expect(worse.message.contains("worse than stable by more than 0.01"), "\(worse.message)")
        // Equal on 10,000 each: non-inferiority within 1 point is established.
        let equal = decide(9_800, 10_000, 9_800, 10_000)
        #expect(equal.outcome == .pass && (equal.passPValue ?? 1) < 0.05, "\(equal.message)")
        // Equal on 300 each: too little evidence either way, hold.
        let early = decide(294, 300, 294, 300)
        #expect(early.outcome == .inconclusive, "\(early.message)")
        #expect(early.message.contains("holding the step"), "\(early.message)")
        // Both perfect: the smoothed variance is never 0, and a big sample passes.
        #expect(decide(50_000, 50_000, 50_000, 50_000).outcome == .pass)
        // Evidence is monotone in the sample: the same proportions with more events decide sooner.
        #expect((decide(98_000, 100_000, 96_000, 100_000).pValue ?? 1) < (worse.pValue ?? 0))
        // Stricter than the fixed test at the same look: it pays for looking at every interval.
        let fixed = CanaryComparison.decide(stable: .init(successes: 9_800, total: 10_000), canary: .init(successes: 9_700, total: 10_000),
                                            settings: Self.settings)
        let sequential = decide(9_800, 10_000, 9_700, 10_000)
        #expect((fixed.pValue ?? 1) < (sequential.pValue ?? 0))
    }

    @Test func tooFewEventsAndUnusableCounts() {
        #expect(decide(10, 10, 0, 10).outcome == .insufficientData)
        #expect(decide(0, 0, 0, 0).outcome == .insufficientData)
        #expect(decide(11, 10, 5, 200).outcome == .invalid)
        #expect(decide(.nan, 200, 5, 200).outcome == .invalid)
        #expect(decide(100, 200, 100, 200, .init(maxDegradation: 0.01, confidence: 1.0, minSamples: 1)).outcome == .invalid)
        // Far in the tail the log-CDF's series takes over from erfc without a jump.
        let below = SequentialComparison.logNormalCDF(-29.999), beyond = SequentialComparison.logNormalCDF(-30.001)
        #expect(below > beyond && below - beyond < 0.1, "\(below) \(beyond)")
    }

    @Test func windowIsTheRolloutSoFar() {
        let start = Date(timeIntervalSince1970: 1_000)
        #expect(SequentialComparison.window(since: start, now: start.addingTimeInterval(136.2), minimum: 60) == "137s")
        #expect(SequentialComparison.window(since: start, now: start.addingTimeInterval(5), minimum: 60) == "60s")
        #expect(SequentialComparison.window(since: nil, now: start, minimum: 30) == "30s")
    }

    /// An undecided sequential comparison is no data in status.measurements, and the state
    /// machine holds the step on it: no passing run, no failed check.
    @Test func measurementOfAnUndecidedComparison() {
        var metric = ComparisonMetric(name: "success-vs-stable", template: .successRate)
        metric.test = .sequential
        let early = AnalysisEvaluation.measure(metric, query: "q", stable: (.value(294), .value(300)),
                                               canary: (.value(294), .value(300)), time: "t")
        #expect(early.outcome == .noData && early.value != nil && early.message?.contains("inconclusive") == true, "\(early)")
        let failing = AnalysisEvaluation.measure(metric, query: "q", stable: (.value(9_800), .value(10_000)),
                                                 canary: (.value(9_000), .value(10_000)), time: "t")
        #expect(failing.outcome == .fail && (failing.value ?? 1) < 1e-6)
        let passing = AnalysisEvaluation.measure(metric, query: "q", stable: (.value(9_800), .value(10_000)),
                                                 canary: (.value(9_810), .value(10_000)), time: "t")
        #expect(passing.outcome == .pass)
    }

    // MARK: Simulated rollouts (issue 18's "Done when")

    struct Scenario {
        var name: String
        var stable: Double
        var canary: Double
        var maxDegradation: Double
    }

    struct Tally {
        var rolledBack = 0, promoted = 0, undecided = 0
        /// Minutes from the first canary traffic to the comparison's first decision (pass or fail).
        var decisionMinutes: [Double] = []
        var runs: Int { rolledBack + promoted + undecided }
        var rollbackRate: Double { Double(rolledBack) / Double(runs) }
        var medianDecision: Double {
            let sorted = decisionMinutes.sorted()
            guard !sorted.isEmpty else { return .nan }
            return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        }
    }

    /// One rollout as the controller runs it: 100 requests/s split by the canary weight, each
    /// version's `sextant_requests_total` counters scraped every 15 s; every minute the analysis
    /// reads both counters' increase since the rollout started and decides. Steps 10/25/50 %,
    /// each advanced by a passing run (an undecided one holds it), then promotion; a failing run
    /// rolls back at once (failureLimit 1, the strictest). At most 120 minutes.
    static func simulate(_ scenario: Scenario, rollouts: Int, seed: UInt64) -> Tally {
        var rng = SeededGenerator(state: seed)
        let settings = CanaryComparison.Settings(maxDegradation: scenario.maxDegradation, confidence: 0.95, minSamples: 200)
        let weights = [10, 25, 50]
        let perScrape = 1_500
        var result = Tally()
        for _ in 0..<rollouts {
            var stable = ScrapedCounters(), canary = ScrapedCounters()
            var step = 0
            var decidedAt: Double?
            var outcome: Int?  // 0 rolled back, 1 promoted
            for minute in 1...120 {
                for _ in 0..<4 {
                    let toCanary = perScrape * weights[step] / 100, toStable = perScrape - toCanary
                    canary.total += Double(toCanary)
                    canary.successes += Double(toCanary - rng.failures(toCanary, 1 - scenario.canary))
                    stable.total += Double(toStable)
                    stable.successes += Double(toStable - rng.failures(toStable, 1 - scenario.stable))
                }
                let decision = SequentialComparison.decide(stable: .init(successes: stable.successes, total: stable.total),
                                                           canary: .init(successes: canary.successes, total: canary.total),
                                                           settings: settings)
                switch decision.outcome {
                case .fail:
                    outcome = 0
                case .pass:
                    if decidedAt == nil { decidedAt = Double(minute) }
                    step += 1
                    if step == weights.count { outcome = 1 }
                default:
                    break
                }
                if outcome == 0, decidedAt == nil { decidedAt = Double(minute) }
                if outcome != nil { break }
            }
            switch outcome {
            case 0?: result.rolledBack += 1
            case 1?: result.promoted += 1
            default: result.undecided += 1
            }
            if let decidedAt { result.decisionMinutes.append(decidedAt) }
        }
        return result
    }

    /// Over 200 simulated rollouts each, with a fixed seed: a candidate equal to stable is rolled
    /// back in at most 5 % (the test's α; also at the margin itself, and with no margin at all),
    /// one 2 points worse in at least 95 %. The median time to the first decision is printed.
    @Test func errorRatesHoldUnderContinuousMonitoring() throws {
        let scenarios = [
            Scenario(name: "equal (98 % vs 98 %, δ 1 point)", stable: 0.98, canary: 0.98, maxDegradation: 0.01),
            Scenario(name: "at the margin (98 % vs 97 %, δ 1 point)", stable: 0.98, canary: 0.97, maxDegradation: 0.01),
            Scenario(name: "equal, no margin (98 % vs 98 %, δ 0)", stable: 0.98, canary: 0.98, maxDegradation: 0),
            Scenario(name: "2 points worse (98 % vs 96 %, δ 1 point)", stable: 0.98, canary: 0.96, maxDegradation: 0.01),
        ]
        var results: [String: Tally] = [:]
        for (index, scenario) in scenarios.enumerated() {
            let r = Self.simulate(scenario, rollouts: 200, seed: 18_000 + UInt64(index))
            results[scenario.name] = r
            print("sequential comparison, \(scenario.name): \(r.runs) rollouts, "
                + String(format: "rolled back %.1f %%, promoted %.1f %%, undecided after 120 min %.1f %%, median time to first decision %.0f min",
                         100 * r.rollbackRate, 100 * Double(r.promoted) / Double(r.runs),
                         100 * Double(r.undecided) / Double(r.runs), r.medianDecision))
        }
        let equal = try #require(results[scenarios[0].name]), margin = try #require(results[scenarios[1].name])
        let noMargin = try #require(results[scenarios[2].name]), worse = try #require(results[scenarios[3].name])
        #expect(equal.runs == 200 && worse.runs == 200)
        #expect(equal.rollbackRate <= 0.05, "equal candidate rolled back in \(equal.rollbackRate)")
        #expect(equal.promoted >= 190, "an equal candidate is promoted: \(equal)")
        #expect(margin.rollbackRate <= 0.05, "at the margin rolled back in \(margin.rollbackRate)")
        #expect(noMargin.rollbackRate <= 0.05, "equal with δ 0 rolled back in \(noMargin.rollbackRate)")
        #expect(worse.rollbackRate >= 0.95, "2 points worse rolled back in only \(worse.rollbackRate)")
        #expect(worse.promoted <= 10, "2 points worse promoted \(worse.promoted) times (α bounds it at 5 %)")
        // Decisions come early: well before the 120-minute horizon.
        #expect(equal.medianDecision < 30 && worse.medianDecision < 30, "\(equal.medianDecision) \(worse.medianDecision)")
    }
}
