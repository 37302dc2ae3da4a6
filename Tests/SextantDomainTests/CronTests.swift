import Foundation
import SextantAPI
import SextantDomain
import SextantKubeTypes
import Testing

private let utc = TimeZone(identifier: "UTC")!

private func date(_ text: String) -> Date {
    guard let d = KubeTime.parse(text) else { fatalError("bad test date \(text)") }
    return d
}

private func iso(_ d: Date?) -> String { d.map(KubeTime.format) ?? "nil" }

private func nexts(_ cron: String, from: String, count: Int, tz: TimeZone = utc) throws -> [String] {
    let s = try CronSchedule(parsing: cron)
    var t = date(from)
    var out: [String] = []
    for _ in 0..<count {
        guard let n = s.next(after: t, in: tz) else { break }
        out.append(KubeTime.format(n))
        t = n
    }
    return out
}

@Suite struct CronParsingTests {
    @Test(arguments: [
        ("61 * * * *", "minute", "61 is out of range 0-59"),
        ("* 24 * * *", "hour", "24 is out of range 0-23"),
        ("* * 0 * *", "day of month", "0 is out of range 1-31"),
        ("* * * 13 *", "month", "13 is out of range 1-12"),
        ("* * * * 8", "day of week", "8 is out of range 0-7"),
        ("*/0 * * * *", "minute", "step in \"*/0\" must be a positive number"),
        ("5-2 * * * *", "minute", "range \"5-2\" starts after it ends"),
        ("* * * FOO *", "month", "\"FOO\" is not a number"),
        ("1,,2 * * * *", "minute", "cannot parse \"\""),
    ])
    func errorsNameTheField(expression: String, field: String, message: String) {
        #expect(throws: CronError(field: field, message: message)) { try CronSchedule(parsing: expression) }
    }

    @Test func wrongFieldCountAndMacros() {
        #expect(throws: CronError.self) { try CronSchedule(parsing: "* * * *") }
        #expect(throws: CronError.self) { try CronSchedule(parsing: "* * * * * *") }
        #expect(throws: CronError.self) { try CronSchedule(parsing: "@every 5m") }
        #expect(throws: CronError.self) { try CronSchedule(parsing: "") }
    }

    @Test func timeZonePrefixIsRejectedLikeKubernetes() throws {
        for text in ["CRON_TZ=Europe/Paris 0 2 * * *", "TZ=UTC 0 2 * * *"] {
            let error = #expect(throws: CronError.self) { try CronSchedule(parsing: text) }
            #expect(error?.message.contains("spec.schedule.timeZone") == true)
        }
    }

    @Test func macrosExpand() throws {
        #expect(try nexts("@hourly", from: "2026-03-01T10:20:00Z", count: 2) == ["2026-03-01T11:00:00Z", "2026-03-01T12:00:00Z"])
        #expect(try nexts("@daily", from: "2026-03-01T10:20:00Z", count: 1) == ["2026-03-02T00:00:00Z"])
        #expect(try nexts("@midnight", from: "2026-03-01T10:20:00Z", count: 1) == ["2026-03-02T00:00:00Z"])
        #expect(try nexts("@weekly", from: "2026-03-01T10:20:00Z", count: 1) == ["2026-03-08T00:00:00Z"])  // Mar 1 2026 is a Sunday
        #expect(try nexts("@monthly", from: "2026-03-01T10:20:00Z", count: 1) == ["2026-04-01T00:00:00Z"])
        #expect(try nexts("@yearly", from: "2026-03-01T10:20:00Z", count: 1) == ["2027-01-01T00:00:00Z"])
        #expect(try nexts("@annually", from: "2026-03-01T10:20:00Z", count: 1) == ["2027-01-01T00:00:00Z"])
    }

    @Test func rangesStepsListsAndNames() throws {
        #expect(try nexts("*/15 * * * *", from: "2026-03-01T10:20:00Z", count: 3)
                == ["2026-03-01T10:30:00Z", "2026-03-01T10:45:00Z", "2026-03-01T11:00:00Z"])
        #expect(try nexts("5/20 * * * *", from: "2026-03-01T10:00:00Z", count: 4)
                == ["2026-03-01T10:05:00Z", "2026-03-01T10:25:00Z", "2026-03-01T10:45:00Z", "2026-03-01T11:05:00Z"])
        #expect(try nexts("0 9-17/4 * * *", from: "2026-03-01T10:00:00Z", count: 3)
                == ["2026-03-01T13:00:00Z", "2026-03-01T17:00:00Z", "2026-03-02T09:00:00Z"])
        #expect(try nexts("0 0 1,15 * *", from: "2026-03-02T00:00:00Z", count: 2) == ["2026-03-15T00:00:00Z", "2026-04-01T00:00:00Z"])
        #expect(try nexts("0 0 * jan,Jul *", from: "2026-03-02T00:00:00Z", count: 1) == ["2026-07-01T00:00:00Z"])
        #expect(try nexts("30 6 * * MON-FRI", from: "2026-03-06T07:00:00Z", count: 2)  // Friday after 6:30
                == ["2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"])
        #expect(try nexts("0 0 * * 7", from: "2026-03-02T00:00:00Z", count: 1) == ["2026-03-08T00:00:00Z"])  // 7 = Sunday
        #expect(try nexts("0 0 * * sun", from: "2026-03-02T00:00:00Z", count: 1) == ["2026-03-08T00:00:00Z"])
    }

    @Test func dayOfMonthOrDayOfWeekWhenBothRestricted() throws {
        // Both restricted: the 13th OR any Friday (Vixie/robfig semantics).
        #expect(try nexts("0 0 13 * 5", from: "2026-03-01T00:00:00Z", count: 4)
                == ["2026-03-06T00:00:00Z", "2026-03-13T00:00:00Z", "2026-03-20T00:00:00Z", "2026-03-27T00:00:00Z"])
        // Day of week `*`: day of month alone decides.
        #expect(try nexts("0 0 13 * *", from: "2026-03-01T00:00:00Z", count: 1) == ["2026-03-13T00:00:00Z"])
        // `*/2` in day of month is a restriction (robfig clears the star bit for steps).
        #expect(try nexts("0 0 */10 * 1", from: "2026-03-01T00:00:00Z", count: 3)
                == ["2026-03-02T00:00:00Z", "2026-03-09T00:00:00Z", "2026-03-11T00:00:00Z"])
    }

    @Test func leapDayAndImpossibleDates() throws {
        #expect(try nexts("0 0 29 2 *", from: "2026-03-01T00:00:00Z", count: 2) == ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"])
        let never = try CronSchedule(parsing: "0 0 30 2 *")
        #expect(never.next(after: date("2026-01-01T00:00:00Z"), in: utc) == nil)
    }

    @Test func strictlyAfter() throws {
        #expect(try nexts("0 * * * *", from: "2026-03-01T10:00:00Z", count: 1) == ["2026-03-01T11:00:00Z"])
        #expect(try nexts("0 * * * *", from: "2026-03-01T09:59:59Z", count: 1) == ["2026-03-01T10:00:00Z"])
    }
}

@Suite struct CronTimeZoneTests {
    let paris = TimeZone(identifier: "Europe/Paris")!
    let newYork = TimeZone(identifier: "America/New_York")!

    @Test func wallClockInTheZone() throws {
        // 02:00 Paris is 01:00 UTC in winter, 00:00 UTC in summer.
        #expect(try nexts("0 2 * * *", from: "2026-01-10T12:00:00Z", count: 1, tz: paris) == ["2026-01-11T01:00:00Z"])
        #expect(try nexts("0 2 * * *", from: "2026-07-10T12:00:00Z", count: 1, tz: paris) == ["2026-07-11T00:00:00Z"])
    }

    @Test func springForwardSkipsTheMissingHour() throws {
        // Paris 2026-03-29: 02:00 → 03:00. 02:30 does not exist that day and is skipped (as the
        // CronJob controller does); the day before and after run at 02:30 local.
        #expect(try nexts("30 2 * * *", from: "2026-03-27T12:00:00Z", count: 3, tz: paris)
                == ["2026-03-28T01:30:00Z", "2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"])
        // Hourly jobs: 01:00 CET then 03:00 CEST, one hour of real time apart.
        #expect(try nexts("0 * * * *", from: "2026-03-29T00:30:00Z", count: 2, tz: paris)
                == ["2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"])
    }

    @Test func fallBackRunsTheRepeatedHourOnce() throws {
        // New York 2026-11-01: 02:00 EDT → 01:00 EST; 01:30 happens twice and runs once (EDT).
        #expect(try nexts("30 1 * * *", from: "2026-10-31T12:00:00Z", count: 3, tz: newYork)
                == ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z", "2026-11-03T06:30:00Z"])
        // Starting inside the second 01:xx (EST), the 01:30 already passed (first occurrence).
        #expect(try nexts("30 1 * * *", from: "2026-11-01T06:10:00Z", count: 1, tz: newYork) == ["2026-11-02T06:30:00Z"])
        // A minute schedule keeps going through the repeated hour without going backwards.
        let times = try nexts("*/20 * * * *", from: "2026-11-01T05:30:00Z", count: 6, tz: newYork).map(date)
        #expect(zip(times, times.dropFirst()).allSatisfy { $0 < $1 })
    }
}

@Suite struct CronMissedScheduleTests {
    let hourly = try! CronSchedule(parsing: "0 * * * *")

    @Test func nothingDueBeforeTheFirstTime() {
        let e = SchedulePlanner.evaluate(hourly, timeZone: utc, lastScheduleTime: nil, creationTime: date("2026-03-01T10:05:00Z"),
                                         startingDeadlineSeconds: nil, now: date("2026-03-01T10:59:59Z"))
        #expect(e.due == nil && e.unmet == 0 && !e.tooManyMissed)
        #expect(iso(e.next) == "2026-03-01T11:00:00Z")
    }

    @Test func dueAtTheScheduleTimeThenNotAgain() {
        let created = date("2026-03-01T10:05:00Z")
        let e = SchedulePlanner.evaluate(hourly, timeZone: utc, lastScheduleTime: nil, creationTime: created,
                                         startingDeadlineSeconds: nil, now: date("2026-03-01T11:00:00Z"))
        #expect(iso(e.due) == "2026-03-01T11:00:00Z" && e.unmet == 1)
        let after = SchedulePlanner.evaluate(hourly, timeZone: utc, lastScheduleTime: e.due, creationTime: created,
                                             startingDeadlineSeconds: nil, now: date("2026-03-01T11:00:30Z"))
        #expect(after.due == nil)
        #expect(iso(after.next) == "2026-03-01T12:00:00Z")
    }

    @Test func downtimeStartsOnlyTheLatestMissed() {
        let e = SchedulePlanner.evaluate(hourly, timeZone: utc, lastScheduleTime: date("2026-03-01T10:00:00Z"),
                                         creationTime: date("2026-03-01T00:00:00Z"), startingDeadlineSeconds: nil,
                                         now: date("2026-03-01T15:30:00Z"))
        #expect(iso(e.due) == "2026-03-01T15:00:00Z")
        #expect(e.unmet == 5 && !e.tooManyMissed)
    }

    @Test func tooManyMissedStillStartsTheLatest() throws {
        let minutely = try CronSchedule(parsing: "* * * * *")
        let e = SchedulePlanner.evaluate(minutely, timeZone: utc, lastScheduleTime: date("2026-03-01T00:00:00Z"),
                                         creationTime: date("2026-03-01T00:00:00Z"), startingDeadlineSeconds: nil,
                                         now: date("2027-03-01T08:07:30Z"))
        #expect(e.tooManyMissed)
        #expect(e.unmet == SchedulePlanner.missedLimit + 1)
        #expect(iso(e.due) == "2027-03-01T08:07:00Z")
    }

    @Test func startingDeadlineSkipsOldTimes() {
        // Down from 10:00 to 15:30; with a 10-minute deadline the 15:00 run is 30 min late: skipped.
        let e = SchedulePlanner.evaluate(hourly, timeZone: utc, lastScheduleTime: date("2026-03-01T10:00:00Z"),
                                         creationTime: date("2026-03-01T00:00:00Z"), startingDeadlineSeconds: 600,
                                         now: date("2026-03-01T15:30:00Z"))
        #expect(e.due == nil)
        #expect(iso(e.missedDeadline) == "2026-03-01T15:00:00Z")
        #expect(iso(e.next) == "2026-03-01T16:00:00Z")
        // Within the deadline it starts.
        let ok = SchedulePlanner.evaluate(hourly, timeZone: utc, lastScheduleTime: date("2026-03-01T10:00:00Z"),
                                          creationTime: date("2026-03-01T00:00:00Z"), startingDeadlineSeconds: 3600,
                                          now: date("2026-03-01T15:30:00Z"))
        #expect(iso(ok.due) == "2026-03-01T15:00:00Z" && ok.missedDeadline == nil && ok.unmet == 1)
    }

    @Test func concurrencyPolicies() {
        #expect(SchedulePlanner.concurrency(.forbid, runActive: false) == .start)
        #expect(SchedulePlanner.concurrency(.forbid, runActive: true) == .wait)
        #expect(SchedulePlanner.concurrency(.replace, runActive: true) == .replaceActive)
        #expect(SchedulePlanner.concurrency(.allow, runActive: true) == .start)
    }
}
