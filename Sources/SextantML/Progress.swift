import Foundation
import Synchronization

/// The machine-readable progress line the trainer prints on stderr while it trains, which the
/// TrainingJob controller reads from the Pod's log (docs/training.md#progress):
///
///     sextant-progress {"roundsDone":120,"rounds":300,"metric":"valid-logloss","value":0.41234,"etaSeconds":45.2}
///
/// At most one per `interval` (and always for the first and the last round), so a run of many
/// fast rounds does not flood its log. The ETA assumes the remaining rounds take as long as the
/// ones so far; early stopping can end the run sooner.
public final class ProgressLine: Sendable {
    public static let prefix = "sextant-progress "

    let rounds: Int
    let metric: String?
    let interval: Double
    private let lastPrinted = Mutex<Double>(-Double.infinity)

    public init(rounds: Int, metric: String?, interval: Double = 1.0) {
        self.rounds = rounds
        self.metric = metric
        self.interval = interval
    }

    /// The line to print for this round, or nil when one was printed less than `interval` ago.
    public func line(for p: RoundProgress) -> String? {
        let due = lastPrinted.withLock { last -> Bool in
            guard p.round == 1 || p.round == rounds || p.elapsedSeconds - last >= interval else { return false }
            last = p.elapsedSeconds
            return true
        }
        guard due else { return nil }
        return Self.prefix + Self.json(roundsDone: p.round, rounds: rounds, metric: metric, value: p.validationLogLoss,
                                       etaSeconds: p.round > 0 ? p.elapsedSeconds / Double(p.round) * Double(max(0, rounds - p.round)) : nil)
    }

    static func json(roundsDone: Int, rounds: Int, metric: String?, value: Double?, etaSeconds: Double?) -> String {
        var fields = ["\"roundsDone\":\(roundsDone)", "\"rounds\":\(rounds)"]
        if let metric { fields.append("\"metric\":\"\(metric)\"") }
        if let value, value.isFinite { fields.append("\"value\":\(String(format: "%.6g", value))") }
        if let etaSeconds, etaSeconds.isFinite { fields.append("\"etaSeconds\":\(String(format: "%.1f", etaSeconds))") }
        return "{" + fields.joined(separator: ",") + "}"
    }
}
