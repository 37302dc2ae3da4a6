import Foundation

/// A parse error of a cron expression; `field` names the part that is wrong.
public struct CronError: Error, Sendable, Hashable, CustomStringConvertible {
    public var field: String
    public var message: String
    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }
    public var description: String { field.isEmpty ? message : "\(field): \(message)" }
}

/// A standard 5-field cron schedule with the semantics of the Kubernetes CronJob controller
/// (robfig/cron `ParseStandard`):
/// - fields: minute, hour, day of month, month, day of week; `*`, `?`, numbers, names
///   (`JAN`–`DEC`, `SUN`–`SAT`, any case), ranges `a-b`, steps `*/n`, `a/n` (= `a-max/n`), `a-b/n`,
///   lists `a,b`; day of week 7 is also Sunday (the API validation accepts it, as Vixie cron does);
/// - macros `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`;
/// - day of month and day of week: when both are restricted (neither starts with `*`/`?` without a
///   step) a day matches if either matches, otherwise both must match;
/// - a `CRON_TZ=`/`TZ=` prefix is rejected like Kubernetes does: the time zone goes in `timeZone`.
public struct CronSchedule: Sendable, Hashable, CustomStringConvertible {
    public let expression: String
    let minutes: UInt64
    let hours: UInt64
    let daysOfMonth: UInt64
    let months: UInt64
    let daysOfWeek: UInt64
    let domStar: Bool
    let dowStar: Bool

    static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]
    static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    public var description: String { expression }

    public init(parsing text: String) throws(CronError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        expression = trimmed
        if trimmed.hasPrefix("CRON_TZ=") || trimmed.hasPrefix("TZ=") {
            throw CronError(field: "", message: "CRON_TZ and TZ are not supported in the schedule, use spec.schedule.timeZone")
        }
        var body = trimmed
        if trimmed.hasPrefix("@") {
            guard let expanded = Self.macros[trimmed.lowercased()] else {
                throw CronError(field: "", message: "unknown macro \"\(trimmed)\" (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)")
            }
            body = expanded
        }
        let fields = body.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw CronError(field: "", message: "expected 5 fields (minute hour day-of-month month day-of-week), got \(fields.count)")
        }
        minutes = try Self.field(fields[0], "minute", 0, 59, names: nil).bits
        hours = try Self.field(fields[1], "hour", 0, 23, names: nil).bits
        let dom = try Self.field(fields[2], "day of month", 1, 31, names: nil)
        months = try Self.field(fields[3], "month", 1, 12, names: Self.monthNames).bits
        var dow = try Self.field(fields[4], "day of week", 0, 7, names: Self.dayNames)
        if dow.bits & (1 << 7) != 0 { dow.bits = (dow.bits | 1) & ~(1 << 7) }  // 7 is Sunday
        daysOfMonth = dom.bits
        daysOfWeek = dow.bits
        domStar = dom.star
        dowStar = dow.star
    }

    static func field(_ text: String, _ label: String, _ lo: Int, _ hi: Int,
                      names: [String]?) throws(CronError) -> (bits: UInt64, star: Bool) {
        var bits: UInt64 = 0
        var star = false
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2, !pieces[0].isEmpty else {
                throw CronError(field: label, message: "cannot parse \"\(part)\"")
            }
            var step = 1
            if pieces.count == 2 {
                guard let s = Int(pieces[1]), s > 0 else {
                    throw CronError(field: label, message: "step in \"\(part)\" must be a positive number")
                }
                step = s
            }
            let base = pieces[0]
            var start: Int, end: Int
            var partStar = false
            if base == "*" || base == "?" {
                start = lo
                end = hi == 7 ? 6 : hi
                partStar = step == 1
            } else {
                let bounds = base.split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count <= 2 else { throw CronError(field: label, message: "cannot parse \"\(part)\"") }
                start = try value(bounds[0], label, lo, hi, names)
                end = bounds.count == 2 ? try value(bounds[1], label, lo, hi, names) : (pieces.count == 2 ? (hi == 7 ? 6 : hi) : start)
                guard start <= end else {
                    throw CronError(field: label, message: "range \"\(base)\" starts after it ends")
                }
            }
            if partStar { star = true }
            for v in stride(from: start, through: end, by: step) { bits |= 1 << UInt64(v) }
        }
        return (bits, star)
    }

    static func value(_ text: Substring, _ label: String, _ lo: Int, _ hi: Int,
                      _ names: [String]?) throws(CronError) -> Int {
        if let names, let i = names.firstIndex(of: text.lowercased()) {
            return names.count == 12 ? i + 1 : i
        }
        guard let v = Int(text) else { throw CronError(field: label, message: "\"\(text)\" is not a number") }
        guard v >= lo && v <= hi else { throw CronError(field: label, message: "\(v) is out of range \(lo)-\(hi)") }
        return v
    }

    /// A wall-clock minute in a time zone.
    struct Wall: Comparable, Hashable {
        var year: Int, month: Int, day: Int, hour: Int, minute: Int
        static func < (a: Wall, b: Wall) -> Bool {
            (a.year, a.month, a.day, a.hour, a.minute) < (b.year, b.month, b.day, b.hour, b.minute)
        }
    }

    static func daysIn(_ month: Int, _ year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// 0 = Sunday (Sakamoto's method; proleptic Gregorian, independent of any time zone).
    static func weekday(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let t = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4]
        let y = month < 3 ? year - 1 : year
        return (y + y / 4 - y / 100 + y / 400 + t[month - 1] + day) % 7
    }

    func dayMatches(_ year: Int, _ month: Int, _ day: Int) -> Bool {
        let dom = daysOfMonth & (1 << UInt64(day)) != 0
        let dow = daysOfWeek & (1 << UInt64(Self.weekday(year, month, day))) != 0
        return domStar || dowStar ? dom && dow : dom || dow
    }

    static func values(_ bits: UInt64, _ lo: Int, _ hi: Int) -> [Int] { (lo...hi).filter { bits & (1 << UInt64($0)) != 0 } }

    /// The first schedule time strictly after `date`, in `timeZone`; nil if there is none within
    /// five years (e.g. `0 0 30 2 *`).
    ///
    /// Daylight saving time, as the CronJob controller does it: a wall time that does not exist
    /// (skipped by a spring-forward) does not fire that day; a wall time that happens twice (a
    /// fall-back) fires once, at its first occurrence.
    public func next(after date: Date, in timeZone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        guard let y0 = c.year, let m0 = c.month, let d0 = c.day, let h0 = c.hour, let mi0 = c.minute else { return nil }
        let start = Wall(year: y0, month: m0, day: d0, hour: h0, minute: mi0)
        let monthList = Self.values(months, 1, 12)
        let hourList = Self.values(hours, 0, 23)
        let minuteList = Self.values(minutes, 0, 59)
        for year in y0...(y0 + 5) {
            for month in monthList where (year, month) >= (y0, m0) {
                for day in 1...Self.daysIn(month, year) where (year, month, day) >= (y0, m0, d0) && dayMatches(year, month, day) {
                    for hour in hourList where (year, month, day, hour) >= (y0, m0, d0, h0) {
                        for minute in minuteList {
                            let wall = Wall(year: year, month: month, day: day, hour: hour, minute: minute)
                            // The same wall minute as `date` can still be later in absolute time
                            // (the second pass through a fall-back hour), so it is not skipped here.
                            guard wall >= start, let instant = Self.instant(wall, calendar), instant > date else { continue }
                            return instant
                        }
                    }
                }
            }
        }
        return nil
    }

    /// The first instant showing `wall` in the calendar's zone; nil when the wall time does not exist.
    static func instant(_ wall: Wall, _ calendar: Calendar) -> Date? {
        let comps = DateComponents(year: wall.year, month: wall.month, day: wall.day, hour: wall.hour, minute: wall.minute)
        guard var d = calendar.date(from: comps) else { return nil }
        func shows(_ x: Date) -> Bool {
            let c = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: x)
            return c.year == wall.year && c.month == wall.month && c.day == wall.day && c.hour == wall.hour && c.minute == wall.minute
        }
        guard shows(d) else { return nil }
        // In a repeated hour take the earlier occurrence, whichever one Foundation picked.
        for shift in [3600.0, 1800.0] where shows(d.addingTimeInterval(-shift)) {
            d = d.addingTimeInterval(-shift)
            break
        }
        return d
    }
}
