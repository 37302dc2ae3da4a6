import Foundation
import SextantAPI

/// Canary-versus-stable comparison of a success proportion whose error rates hold under
/// continuous monitoring: the counts since the rollout started are tested at every analysis run,
/// as often as wanted, and a decision is taken the first time the evidence is strong enough.
/// A pure function: cumulative counts in, decision out.
///
/// The method is the mixture sequential probability ratio test (mSPRT) of Johari, Koomen, Pekelis
/// & Walsh, "Always Valid Inference: Continuous Monitoring of A/B Tests" (Operations Research
/// 70(3), 2022; the normal-mixture form for two proportions with the Gaussian approximation),
/// made one-sided with the half-normal mixture of Howard, Ramdas, McAuliffe & Sekhon,
/// "Time-uniform, nonparametric, nonasymptotic confidence sequences" (Annals of Statistics
/// 49(2), 2021, one-sided normal mixture boundary). With Δ = p_canary − p_stable, its estimate
/// θ̂ = p̂_c − p̂_s and variance s² = p̃_c(1−p̃_c)/n_c + p̃_s(1−p̃_s)/n_s (p̃ = (x+½)/(n+1), never 0),
/// the likelihood ratio of Δ = −δ + λ against Δ = −δ for the Gaussian θ̂ is
/// exp(λS − λ²V/2) with S = (θ̂ + δ)/s², V = 1/s². Mixed over λ ~ half-normal(τ²) (ρ = 1/τ²):
///
///     Λ(S, V) = 2 · sqrt(ρ/(ρ+V)) · exp(S²/(2(ρ+V))) · Φ(S/sqrt(ρ+V))
///
/// a nonnegative supermartingale under the null, so P(Λ ever ≥ 1/α) ≤ α (Ville's inequality).
/// Two such tests run at every look:
///
/// - degradation: H0 Δ ≥ −δ, statistic Λ(−S, V). Fails the candidate when ≥ 1/α: a candidate no
///   worse than the margin is rolled back with probability at most α over the whole rollout.
/// - non-inferiority: H0 Δ ≤ −δ, statistic Λ(S, V). Passes the candidate when ≥ 1/α: a candidate
///   worse than the margin passes with probability at most α.
///
/// Neither: inconclusive, the rollout holds its step. The reported p-values are 1/Λ (capped at 1)
/// at this look; the running minimum over looks is Johari et al.'s always-valid p-value.
/// τ, the mixture's scale, is δ (0.01 when δ is 0): the test is quickest for differences of
/// about δ beyond the margin.
///
/// Assumptions: events are independent Bernoulli trials whose success probability is constant
/// per version over the rollout (a drift must move both versions alike and the traffic split
/// change slowly), and both sides have enough events for the normal approximation (`minSamples`).
public enum SequentialComparison {
    public typealias Counts = CanaryComparison.Counts
    public typealias Settings = CanaryComparison.Settings

    public enum Outcome: String, Sendable, Hashable {
        /// Non-inferiority established: the candidate is no worse than stable beyond δ.
        case pass
        /// Degradation beyond δ established.
        case fail
        /// Neither yet: hold and look again.
        case inconclusive
        /// Too few events on one side: no decision, not a failure.
        case insufficientData
        /// The counts or settings are unusable.
        case invalid
    }

    public struct Decision: Sendable, Hashable {
        public var outcome: Outcome
        /// p_canary − p_stable (nil without data).
        public var difference: Double?
        /// 1/Λ of the degradation test (H0: no worse than δ), capped at 1.
        public var pValue: Double?
        /// 1/Λ of the non-inferiority test (H0: worse than δ), capped at 1.
        public var passPValue: Double?
        public var message: String
    }

    /// The mixture's scale τ for a margin δ.
    public static func mixtureScale(_ maxDegradation: Double) -> Double { maxDegradation > 0 ? maxDegradation : 0.01 }

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
                            message: "\(format(canary.total)) canary and \(format(stable.total)) stable events since the rollout started; at least \(format(settings.minSamples)) each are needed to decide")
        }
        let difference = canary.proportion - stable.proportion
        let (logFail, logPass) = logMixtures(stable: stable, canary: canary, maxDegradation: settings.maxDegradation)
        let pFail = min(1, exp(-logFail)), pPass = min(1, exp(-logPass))
        let alpha = 1 - settings.confidence
        let counts = "canary \(format(canary.proportion)) (\(format(canary.successes))/\(format(canary.total))) vs stable \(format(stable.proportion)) (\(format(stable.successes))/\(format(stable.total))) since the rollout started"
        let margin = format(settings.maxDegradation)
        let outcome: Outcome
        let verdict: String
        if pFail < alpha {
            outcome = .fail
            verdict = "sequential p = \(format(pFail)) < \(format(alpha)): worse than stable by more than \(margin)"
        } else if pPass < alpha {
            outcome = .pass
            verdict = "sequential p = \(format(pPass)) < \(format(alpha)) for \"worse by more than \(margin)\": no worse than stable beyond \(margin)"
        } else {
            outcome = .inconclusive
            verdict = "inconclusive (p = \(format(pFail)) for degradation, \(format(pPass)) for non-inferiority, both ≥ \(format(alpha))): holding the step"
        }
        return Decision(outcome: outcome, difference: difference, pValue: pFail, passPValue: pPass, message: "\(counts): \(verdict)")
    }

    /// log Λ of the degradation test and of the non-inferiority test.
    public static func logMixtures(stable: Counts, canary: Counts, maxDegradation: Double) -> (fail: Double, pass: Double) {
        func smoothed(_ c: Counts) -> Double { (c.successes + 0.5) / (c.total + 1) }
        let ps = smoothed(stable), pc = smoothed(canary)
        let variance = pc * (1 - pc) / canary.total + ps * (1 - ps) / stable.total
        let information = 1 / variance
        let s = (canary.proportion - stable.proportion + maxDegradation) * information
        let tau = mixtureScale(maxDegradation)
        let rho = 1 / (tau * tau)
        return (logHalfNormalMixture(s: -s, v: information, rho: rho), logHalfNormalMixture(s: s, v: information, rho: rho))
    }

    /// log of 2·sqrt(ρ/(ρ+v))·exp(s²/(2(ρ+v)))·Φ(s/sqrt(ρ+v)), stable for large |s|.
    public static func logHalfNormalMixture(s: Double, v: Double, rho: Double) -> Double {
        let a = rho + v
        return log(2) + 0.5 * log(rho / a) + s * s / (2 * a) + logNormalCDF(s / a.squareRoot())
    }

    /// log Φ(x): through erfc, and its asymptotic series far in the lower tail where erfc underflows.
    public static func logNormalCDF(_ x: Double) -> Double {
        if x > -30 { return log(CanaryComparison.normalCDF(x)) }
        let x2 = x * x
        return -x2 / 2 - log(-x) - 0.5 * log(2 * Double.pi) + log(1 - 1 / x2 + 3 / (x2 * x2))
    }

    /// The window `{{ interval }}` stands for in a sequential comparison's queries: the whole
    /// seconds since the rollout started (at least `minimum`), e.g. `137s`.
    public static func window(since start: Date?, now: Date, minimum: Double) -> String {
        let elapsed = start.map { now.timeIntervalSince($0) } ?? 0
        return "\(Int(max(elapsed, minimum, 1).rounded(.up)))s"
    }

    static func format(_ value: Double) -> String { CanaryComparison.format(value) }
}
