import Foundation
import SextantAPI

/// Where a cron schedule stands at `now`, computed like the Kubernetes CronJob controller
/// (`getNextScheduleTime`/`mostRecentScheduleTime`) from timestamps kept in status, so a
/// controller that was down simply finds the times it missed.
public struct ScheduleEvaluation: Sendable, Equatable {
    /// The schedule time a run should start for now: the most recent unmet one. Older unmet ones
    /// are not run (a CronJob starts only the latest after downtime).
    public var due: Date?
    /// How many unmet schedule times were found in the window (counted up to `missedLimit + 1`).
    public var unmet: Int
    /// More than `missedLimit` unmet times: only the latest runs, and this is reported.
    public var tooManyMissed: Bool
    /// The latest schedule time that was skipped because it is older than
    /// `startingDeadlineSeconds` (and no later time is due).
    public var missedDeadline: Date?
    /// The first schedule time after `now`: when to look again.
    public var next: Date?

    public init(due: Date? = nil, unmet: Int = 0, tooManyMissed: Bool = false, missedDeadline: Date? = nil, next: Date? = nil) {
        self.due = due
        self.unmet = unmet
        self.tooManyMissed = tooManyMissed
        self.missedDeadline = missedDeadline
        self.next = next
    }
}

/// What the concurrency policy says when a schedule time is due.
public enum ConcurrencyDecision: Sendable, Equatable {
    /// Start the run (no run active, or `Allow`).
    case start
    /// `Forbid` with a run active: do not start; the time stays unmet and is retried when the
    /// active run ends, unless `startingDeadlineSeconds` passes first (as a CronJob does).
    case wait
    /// `Replace` with a run active: cancel the active run, then start.
    case replaceActive
}

public enum SchedulePlanner {
    /// The CronJob controller's limit of unmet start times before it reports "too many missed".
    public static let missedLimit = 100

    public static func evaluate(_ schedule: CronSchedule, timeZone: TimeZone, lastScheduleTime: Date?,
                                creationTime: Date, startingDeadlineSeconds: Int64?, now: Date) -> ScheduleEvaluation {
        var result = ScheduleEvaluation(next: schedule.next(after: now, in: timeZone))
        let earliest = lastScheduleTime ?? creationTime
        var windowStart = earliest
        if let sds = startingDeadlineSeconds {
            let deadline = now.addingTimeInterval(-Double(sds))
            if deadline > earliest {
                windowStart = deadline
                if let skipped = latest(schedule, timeZone: timeZone, atOrBefore: deadline, after: earliest) {
                    result.missedDeadline = skipped
                }
            }
        }
        var t = windowStart
        while let n = schedule.next(after: t, in: timeZone), n <= now {
            result.unmet += 1
            result.due = n
            t = n
            if result.unmet > missedLimit {
                result.tooManyMissed = true
                result.due = latest(schedule, timeZone: timeZone, atOrBefore: now, after: windowStart)
                break
            }
        }
        if result.due != nil { result.missedDeadline = nil }
        return result
    }

    /// The latest schedule time in `(after, atOrBefore]`, found by widening a window backwards
    /// from `atOrBefore`, so a minutely schedule missed for a year costs a few steps, not 500,000.
    static func latest(_ schedule: CronSchedule, timeZone: TimeZone, atOrBefore end: Date, after start: Date) -> Date? {
        var width: TimeInterval = 60
        while true {
            let from = max(start, end.addingTimeInterval(-width))
            if var found = schedule.next(after: from, in: timeZone), found <= end {
                while let n = schedule.next(after: found, in: timeZone), n <= end { found = n }
                return found
            }
            if from == start { return nil }
            width *= 2
        }
    }

    public static func concurrency(_ policy: ConcurrencyPolicy, runActive: Bool) -> ConcurrencyDecision {
        guard runActive else { return .start }
        switch policy {
        case .allow: return .start
        case .forbid: return .wait
        case .replace: return .replaceActive
        }
    }
}
