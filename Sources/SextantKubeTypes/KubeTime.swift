import Foundation

/// Timestamps in the formats the API uses: RFC 3339 in UTC, like Go's `time.RFC3339`.
///
/// Written out instead of using `ISO8601DateFormatter`: that goes through ICU and its time-zone
/// data (9 MB of resident memory in a small program, 3.4 MiB in the controller, where Hummingbird
/// loads part of ICU anyway; docs/benchmarks.md) for a fixed-format UTC string, and allocated a
/// formatter on every call.
public enum KubeTime {
    /// `metav1.Time`: RFC 3339, whole seconds (truncated, as Go does).
    public static func format(_ date: Date) -> String { format(date, fractionDigits: 0) }

    /// `metav1.MicroTime`: RFC 3339 with microseconds.
    public static func formatMicro(_ date: Date) -> String { format(date, fractionDigits: 6) }

    /// RFC 3339 in UTC with 0...6 fractional digits: the time rounded to the microsecond (all a
    /// Date holds reliably), then truncated to that precision.
    public static func format(_ date: Date, fractionDigits: Int) -> String {
        let digits = min(max(fractionDigits, 0), 6)
        // Years 0001...9999, the range RFC 3339 can write (and no trap on a NaN or infinite Date).
        let t = date.timeIntervalSince1970.isNaN ? 0 : min(max(date.timeIntervalSince1970, -62_135_596_800), 253_402_300_799)
        // Whole microseconds first: a Date is a Double, and 05.000001 may be stored as 05.00000099.
        let micros = Int64((t * 1_000_000).rounded())
        let (seconds, microsOfSecond) = floorDivide(micros, 1_000_000)
        let (days, secondOfDay) = floorDivide(seconds, 86_400)
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        var text = ""
        text.reserveCapacity(28)
        append(year, width: 4, to: &text)
        text.append("-")
        append(month, width: 2, to: &text)
        text.append("-")
        append(day, width: 2, to: &text)
        text.append("T")
        append(secondOfDay / 3600, width: 2, to: &text)
        text.append(":")
        append(secondOfDay / 60 % 60, width: 2, to: &text)
        text.append(":")
        append(secondOfDay % 60, width: 2, to: &text)
        if digits > 0 {
            text.append(".")
            var scale: Int64 = 1
            for _ in digits..<6 { scale *= 10 }
            append(microsOfSecond / scale, width: digits, to: &text)
        }
        text.append("Z")
        return text
    }

    /// Parses RFC 3339 (`2006-01-02T15:04:05Z`, with optional fractional seconds and a `Z` or
    /// `±hh:mm` offset). Anything else, or an impossible date such as February 30, gives nil.
    public static func parse(_ text: String) -> Date? {
        let utf8 = text.utf8
        return utf8.withContiguousStorageIfAvailable { parse(bytes: $0) } ?? Array(utf8).withUnsafeBufferPointer {
            parse(bytes: $0)
        }
    }

    static func parse(bytes: UnsafeBufferPointer<UInt8>) -> Date? {
        var position = 0
        func number(_ width: Int) -> Int64? {
            guard position + width <= bytes.count else { return nil }
            var value: Int64 = 0
            for i in position..<position + width {
                let digit = bytes[i] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                value = value * 10 + Int64(digit)
            }
            position += width
            return value
        }
        func expect(_ characters: UInt8...) -> Bool {
            guard position < bytes.count, characters.contains(bytes[position]) else { return false }
            position += 1
            return true
        }
        guard let year = number(4), expect(UInt8(ascii: "-")), let month = number(2), expect(UInt8(ascii: "-")),
              let day = number(2), expect(UInt8(ascii: "T"), UInt8(ascii: "t")),
              let hour = number(2), expect(UInt8(ascii: ":")), let minute = number(2), expect(UInt8(ascii: ":")),
              let second = number(2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
              hour < 24, minute < 60, second < 60
        else { return nil }
        var fraction = 0.0
        if expect(UInt8(ascii: ".")) {
            var scale = 0.1
            let first = position
            while position < bytes.count, case let digit = bytes[position] &- UInt8(ascii: "0"), digit < 10 {
                fraction += Double(digit) * scale
                scale /= 10
                position += 1
            }
            guard position > first else { return nil }
        }
        var offset: Int64 = 0
        if !expect(UInt8(ascii: "Z"), UInt8(ascii: "z")) {
            guard position < bytes.count else { return nil }
            let sign: Int64 = bytes[position] == UInt8(ascii: "-") ? -1 : 1
            guard expect(UInt8(ascii: "+"), UInt8(ascii: "-")), let hours = number(2), expect(UInt8(ascii: ":")),
                  let minutes = number(2), hours < 24, minutes < 60
            else { return nil }
            offset = sign * (hours * 3600 + minutes * 60)
        }
        guard position == bytes.count else { return nil }
        let days = daysSinceEpoch(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }

    // Proleptic Gregorian calendar arithmetic (H. Hinnant's days_from_civil / civil_from_days).

    static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDivide(y, 400).quotient
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civilDate(daysSinceEpoch days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = floorDivide(z, 146_097).quotient
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    static func floorDivide(_ a: Int64, _ b: Int64) -> (quotient: Int64, remainder: Int64) {
        let q = a / b, r = a % b
        return r < 0 ? (q - 1, r + b) : (q, r)
    }

    static func append(_ value: Int64, width: Int, to text: inout String) {
        let digits = String(value)
        if digits.count < width { text.append(String(repeating: "0", count: width - digits.count)) }
        text.append(digits)
    }
}
