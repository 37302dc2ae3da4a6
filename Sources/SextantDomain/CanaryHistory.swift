import Foundation
import SextantAPI
import SextantKubeTypes

/// An Event that must be written at least once: its name is derived from the rollout and the
/// transition, so writing it again after a crash finds the one already written (409) instead of
/// adding a duplicate.
public struct TransitionEvent: Sendable, Hashable {
    /// The Event's `metadata.name`: `<rollout>.<reason>.<hash of uid, version, start time, reason>`.
    public var name: String
    public var warning: Bool
    public var reason: String
    public var message: String
    /// When the transition happened (the Event's `eventTime`).
    public var time: Date
}

/// The rollout's committed history (`status.history`) and what derives from it.
public enum RolloutHistory {
    /// The important Events of the latest `records` rollouts: RolloutStarted for each, and
    /// Promoted, RolledBack or RolloutFailed for each that ended so.
    public static func transitionEvents(status: CanaryRolloutStatus?, rollout: String, uid: String,
                                        records: Int = 3) -> [TransitionEvent] {
        var events: [TransitionEvent] = []
        for record in (status?.history ?? []).suffix(records) {
            let started = KubeTime.parse(record.startTime) ?? Date(timeIntervalSince1970: 0)
            let startMessage = record.stableVersion.map { "rolling out \(record.version) (stable: \($0))" }
                ?? "deploying the first version \(record.version)"
            events.append(event(rollout: rollout, uid: uid, record: record, reason: "RolloutStarted", warning: false,
                                message: startMessage, time: started))
            let ended = record.endTime.flatMap(KubeTime.parse) ?? started
            switch record.outcome {
            case .promoted?:
                events.append(event(rollout: rollout, uid: uid, record: record, reason: "Promoted", warning: false,
                                    message: record.message ?? "promoted \(record.version)", time: ended))
            case .rolledBack?:
                events.append(event(rollout: rollout, uid: uid, record: record, reason: "RolledBack", warning: true,
                                    message: "\(record.version): \(record.message ?? record.reason ?? "")", time: ended))
            case .failed?:
                events.append(event(rollout: rollout, uid: uid, record: record, reason: "RolloutFailed", warning: true,
                                    message: "\(record.version): \(record.message ?? record.reason ?? "")", time: ended))
            case .cancelled?, nil:
                break
            }
        }
        return events
    }

    static func event(rollout: String, uid: String, record: RolloutRecord, reason: String, warning: Bool,
                      message: String, time: Date) -> TransitionEvent {
        TransitionEvent(name: eventName(rollout: rollout, uid: uid, version: record.version, startTime: record.startTime,
                                        reason: reason),
                        warning: warning, reason: reason, message: message, time: time)
    }

    /// Deterministic and a valid object name: the same transition always gets the same name.
    public static func eventName(rollout: String, uid: String, version: String, startTime: String, reason: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a: stable across processes (Swift's Hasher is seeded)
        for byte in "\(uid)\u{0}\(version)\u{0}\(startTime)\u{0}\(reason)".utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return "\(rollout.prefix(200)).\(reason.lowercased()).\(String(repeating: "0", count: 16 - hex.count))\(hex)"
    }

    /// The latest outcome of `version` in the history (`nil` if it never ended, or is running).
    public static func lastOutcome(of version: String, in status: CanaryRolloutStatus?) -> RolloutRecord? {
        guard let record = status?.history?.last(where: { $0.version == version }), record.outcome != nil else { return nil }
        return record
    }
}
