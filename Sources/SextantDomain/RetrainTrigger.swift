import Foundation
import SextantAPI
import SextantKubeTypes

/// What one retrain query returned.
public enum RetrainObservation: Sendable, Equatable {
    case value(Double)
    case noData
    /// The query failed (transport, HTTP status, malformed answer, several series).
    case error(String)
}

/// The result of one round of retrain checks.
public struct RetrainEvaluation: Sendable, Equatable {
    /// One entry per condition, in spec order, for `status.retrainChecks`.
    public var checks: [RetrainCheck]
    /// The condition that starts a run now, with its value; nil when none does.
    public var fired: (condition: String, value: Double)?

    public static func == (a: RetrainEvaluation, b: RetrainEvaluation) -> Bool {
        a.checks == b.checks && a.fired?.condition == b.fired?.condition && a.fired?.value == b.fired?.value
    }
}

/// Retrain conditions, like Prometheus alerting rules with a `for`: a condition *holds* when its
/// value is above `above` or below `below`; it *fires* once it has held for `for` (tracked in
/// `since`, so the wait survives restarts), and only when the last retrain is older than
/// `cooldown` and no run is active. No data resets the wait (nothing says the model is bad); a
/// query error keeps it (a flaky Prometheus should not restart a 15-minute wait) but never fires.
public enum RetrainTrigger {
    public static func holds(_ value: Double, above: Double?, below: Double?) -> Bool {
        if let above, value > above { return true }
        if let below, value < below { return true }
        return false
    }

    /// - Parameters:
    ///   - conditions: the spec's conditions; `forSeconds` has each one's parsed `for` (0 if unset).
    ///   - queries: the rendered query of each condition (recorded in status).
    ///   - observations: what each condition's query returned, by name.
    ///   - previous: `status.retrainChecks` from the last round.
    public static func evaluate(conditions: [RetrainCondition], forSeconds: [String: TimeInterval],
                                queries: [String: String], observations: [String: RetrainObservation],
                                previous: [RetrainCheck], lastRetrainTime: Date?, cooldown: TimeInterval,
                                runActive: Bool, now: Date) -> RetrainEvaluation {
        let stamp = KubeTime.format(now)
        let cooling = lastRetrainTime.map { now.timeIntervalSince($0) < cooldown } ?? false
        var checks: [RetrainCheck] = []
        var fired: (String, Double)?
        for condition in conditions {
            let before = previous.first { $0.name == condition.name }
            var check = RetrainCheck(name: condition.name, outcome: .ok, time: stamp)
            check.query = queries[condition.name]
            switch observations[condition.name] ?? .noData {
            case .noData:
                check.outcome = .noData
                check.message = "the query returned no data"
            case .error(let message):
                check.outcome = .error
                check.since = before?.since
                check.message = message
            case .value(let value):
                check.value = value
                guard holds(value, above: condition.above, below: condition.below) else {
                    check.outcome = .ok
                    check.message = describe(value, condition, holding: false)
                    break
                }
                let since = before?.since.flatMap(KubeTime.parse) ?? now
                check.since = before?.since ?? stamp
                let needed = forSeconds[condition.name] ?? 0
                let held = now.timeIntervalSince(since)
                if held < needed {
                    check.outcome = .holding
                    check.message = describe(value, condition, holding: true)
                        + String(format: " for %.0fs of %.0fs", held, needed)
                } else if cooling, let last = lastRetrainTime {
                    check.outcome = .coolingDown
                    let left = cooldown - now.timeIntervalSince(last)
                    check.message = describe(value, condition, holding: true) + String(format: "; cooling down for %.0fs more", left)
                } else if runActive || fired != nil {
                    check.outcome = .holding
                    check.message = describe(value, condition, holding: true)
                        + (runActive ? "; a run is in progress" : "; another condition started the run")
                } else {
                    check.outcome = .fired
                    check.message = describe(value, condition, holding: true) + "; starting a run"
                    fired = (condition.name, value)
                }
            }
            checks.append(check)
        }
        return RetrainEvaluation(checks: checks, fired: fired)
    }

    static func describe(_ value: Double, _ c: RetrainCondition, holding: Bool) -> String {
        var bounds: [String] = []
        if let a = c.above { bounds.append(holding && value > a ? "> \(a)" : "<= \(a)") }
        if let b = c.below { bounds.append(holding && value < b ? "< \(b)" : ">= \(b)") }
        if holding {
            let hit = [c.above.flatMap { value > $0 ? "> \($0)" : nil }, c.below.flatMap { value < $0 ? "< \($0)" : nil }]
                .compactMap { $0 }
            return "\(c.name): value \(format(value)) \(hit.joined(separator: " and "))"
        }
        return "\(c.name): value \(format(value)) within bounds (\(bounds.joined(separator: ", ")))"
    }

    static func format(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String(format: "%.6g", v)
    }

    /// When the next round of checks is due: `interval` after the last one (from status).
    public static func nextCheck(previous: [RetrainCheck], interval: TimeInterval, now: Date) -> Date {
        let last = previous.compactMap { KubeTime.parse($0.time) }.max()
        guard let last else { return now }
        return last.addingTimeInterval(interval)
    }
}
